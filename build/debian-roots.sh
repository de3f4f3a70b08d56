#!/usr/bin/env bash
# Makes minimal Debian roots to run bundles in, as real hosts with no Python:
# debootstrap's minbase of each suite named (default: bullseye bookworm
# trixie, Debian 11, 12 and 13), from Debian's own archive. Prints one line
# per suite, "SUITE PATH", once each root exists.
#
# They are test hosts, not build inputs: not pinned, cached per machine
# (build/machine-cache.sh) by suite, made once (about a minute each). A root
# holding anything named python* in a bin directory is refused: a bundle
# passing there would prove nothing. Tests run bundles in them through a
# private mount namespace (/proc, /tmp and the bundles mounted there only),
# so the roots themselves stay as debootstrap left them. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. build/machine-cache.sh

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bullseye bookworm trixie)

make_root() {
  local suite=$1 root=$machine_cache/root-$1-v1
  if [ -f "$root/.lacewing-root" ]; then return; fi
  need_root
  local began work
  began=$(date +%s)
  work=$(mktemp -d "$machine_cache/.root-XXXXXX")
  echo "debian-roots: debootstrap --variant=minbase $suite (about a minute)" >&2
  if ! debootstrap --variant=minbase "$suite" "$work/root" "$(debian_mirror)" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    echo "debian-roots: debootstrap $suite failed (log: $work/debootstrap.log)" >&2
    exit 1
  fi
  local pythons
  pythons=$(find "$work/root/bin" "$work/root/sbin" "$work/root/usr/bin" "$work/root/usr/sbin" \
    "$work/root/usr/local/bin" -name 'python*' 2>/dev/null | head -5)
  if [ -n "$pythons" ]; then
    echo "debian-roots: the $suite root holds a Python ($pythons); it cannot stand for a host without one" >&2
    exit 1
  fi
  # Mount points for the tests' bundles and per-run homes.
  mkdir -p "$work/root/lacewing"
  local glibc
  # glibc's libc.so.6 prints its version when run.
  glibc=$(chroot "$work/root" /lib/x86_64-linux-gnu/libc.so.6 | sed -n 's/.*release version \([0-9.]*[0-9]\).*/\1/p')
  echo "suite=$suite glibc=$glibc" >"$work/root/.lacewing-root"
  rm -f "$work/root"/var/cache/apt/archives/*.deb
  rm -rf "$root"
  mv "$work/root" "$root"
  rm -rf "$work"
  echo "debian-roots: made $root (glibc $glibc) in $(($(date +%s) - began)) s" >&2
}

for suite in "${suites[@]}"; do
  with_cache_lock "root-$suite" make_root "$suite"
  echo "$suite $machine_cache/root-$suite-v1"
done
