#!/usr/bin/env bash
# Makes the Debian 11 (bullseye, glibc 2.31) sysroot that portable bundles are
# built against, or finds the one this machine already has, and prints its
# path as the last line of stdout (progress goes to stderr).
#
#   build/sysroot.sh                 the sysroot's path, made first if needed
#   build/sysroot.sh --update-lock   make it afresh from the suite as it is
#                                    now and rewrite build/sysroot/bullseye.lock
#
# The sysroot is debootstrap's minbase plus build/sysroot/packages.txt, from
# Debian's own archive. Every package it ends up holding must be the version
# build/sysroot/bullseye.lock pins, so two machines make the same sysroot;
# when the archive no longer serves a pinned version this fails and says
# which (review the change, then --update-lock). It is cached per machine
# (build/machine-cache.sh) under the hash of the package list and the lock.
# Needs root: debootstrap installs packages with chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
. build/machine-cache.sh

suite=bullseye
packages_file=build/sysroot/packages.txt
lock=build/sysroot/$suite.lock
update_lock=0
case "${1:-}" in
  "") ;;
  --update-lock) update_lock=1 ;;
  *)
    echo "usage: build/sysroot.sh [--update-lock]" >&2
    exit 2
    ;;
esac

# Bumped when what this script does to a sysroot changes.
layout=1
sysroot_path() {
  local key=unlocked
  [ -f "$lock" ] && key=$( (echo "layout $layout" && cat "$packages_file" "$lock") | sha256sum | cut -c1-16)
  echo "$machine_cache/sysroot-$suite-$key"
}
sysroot=$(sysroot_path)

make_sysroot() {
  if [ "$update_lock" = 0 ] && [ -f "$sysroot/.lacewing-sysroot" ]; then return; fi
  need_root
  command -v debootstrap >/dev/null || {
    echo "sysroot: debootstrap is missing (build/install-deps.sh installs it)" >&2
    exit 1
  }
  local began mirror include
  began=$(date +%s)
  mirror=$(debian_mirror)
  include=$(grep -v '^#' "$packages_file" | grep . | paste -sd, -)
  work=$(mktemp -d "$machine_cache/.sysroot-XXXXXX")
  # debootstrap mounts /proc and /sys in the root while it works; a failure
  # can leave them mounted.
  trap 'umount -R "$work/root/proc" "$work/root/sys" 2>/dev/null; rm -rf "$work"' EXIT
  echo "sysroot: debootstrap --variant=minbase $suite from $mirror, with $include (about a minute)" >&2
  if ! debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    echo "sysroot: debootstrap failed (the whole log was $work/debootstrap.log)" >&2
    exit 1
  fi
  dpkg-query --admindir="$work/root/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n' |
    LC_ALL=C sort >"$work/installed"
  if [ "$update_lock" = 1 ]; then
    {
      echo "# Every package of the $suite sysroot (build/sysroot.sh), name version arch."
      echo "# Written by build/sysroot.sh --update-lock; review the diff before committing."
      cat "$work/installed"
    } >"$lock"
    echo "sysroot: wrote $lock ($(wc -l <"$work/installed") packages)" >&2
    sysroot=$(sysroot_path)
  elif ! diff <(grep -v '^#' "$lock") "$work/installed" >"$work/diff"; then
    echo "sysroot: the $suite archive no longer gives the packages $lock pins:" >&2
    sed 's/^</  pinned: /; s/^>/  served: /' "$work/diff" | grep -E 'pinned|served' >&2
    echo "sysroot: review the change, then run build/sysroot.sh --update-lock and commit the lock" >&2
    exit 1
  fi
  # Absolute links would point into the build host, not the sysroot, for a
  # compiler given --sysroot (/lib64/ld-linux-x86-64.so.2 among them).
  local link target
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$work/root$target")" "$link"
  done < <(find "$work/root" -type l -lname '/*' -print0)
  rm -f "$work/root"/var/cache/apt/archives/*.deb
  local glibc
  glibc=$(awk '$2 == "__GLIBC__" { major = $3 } $2 == "__GLIBC_MINOR__" { minor = $3 }
    END { print major "." minor }' "$work/root/usr/include/features.h")
  echo "suite=$suite glibc=$glibc packages=$(wc -l <"$work/installed")" >"$work/root/.lacewing-sysroot"
  rm -rf "$sysroot"
  mv "$work/root" "$sysroot"
  rm -rf "$work"
  trap - EXIT
  echo "sysroot: made $sysroot (glibc $glibc) in $(($(date +%s) - began)) s" >&2
}

with_cache_lock "sysroot-$suite" make_sysroot
sysroot_path
