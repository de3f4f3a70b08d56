#!/usr/bin/env bash
# Builds the portable CPython 3.11 that portable bundles carry, or finds the
# one this machine already has, and prints its interpreter's path
# (PREFIX/bin/python3.11, the value of the GN arg lacewing_python) as the
# last line of stdout; progress goes to stderr.
#
# Source: the upstream tarball of Debian's python3.11 source package, from
# Debian's pool, pinned by sha256 below. It is built inside the Debian 11
# sysroot (build/sysroot.sh, made first if needed) with that sysroot's own
# gcc 10 and libraries, so nothing it holds needs more than glibc 2.31; the
# script checks that before it publishes the result. libpython is linked
# into the interpreter (static), as in Debian's and the RFC's runtime;
# docs/design.md, "Portable bundles", says why. OpenSSL, libffi, sqlite and
# the rest are the sysroot's shared libraries, bundled like any other.
#
# Cached per machine (build/machine-cache.sh) under the hash of its inputs:
# the sysroot's, the tarball's and the build recipe's. About 2 minutes on 2
# cores the first time. Needs root (chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
. build/machine-cache.sh

# Debian's python3.11 3.11.2-6+deb12u* source packages all share this
# upstream tarball (their .dsc files list this sha256).
tarball=python3.11_3.11.2.orig.tar.gz
tarball_sha256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
# The prefix inside the sysroot: fixed, so two machines build the same bytes.
prefix=/opt/lacewing-python
configure_args=(
  --prefix="$prefix"
  --without-ensurepip  # wheels come from build/fetch-wheels.sh, never pip
  --disable-test-modules
)
# The glibc the result may need at most: the sysroot's.
floor=2.31

sysroot=$(build/sysroot.sh | tail -1)
# The sysroot by its name (its own key), not its path: where the cache is
# changes nothing that is built.
key=$( (
  echo "$(basename "$sysroot") $tarball_sha256 ${configure_args[*]} floor $floor"
  echo "recipe 1"
) | sha256sum | cut -c1-16)
out=$machine_cache/python3.11-$key

fetch_tarball() {
  local file=$machine_cache/downloads/$tarball
  if [ -f "$file" ] && echo "$tarball_sha256  $file" | sha256sum -c --status; then return; fi
  mkdir -p "$machine_cache/downloads"
  local url
  url=$(debian_mirror)
  url=${url%/}/pool/main/p/python3.11/$tarball
  echo "portable-python: fetching $url" >&2
  curl -sSfL --retry 3 -o "$file.part" "$url"
  if ! echo "$tarball_sha256  $file.part" | sha256sum -c --status; then
    echo "portable-python: $url does not have the pinned sha256 $tarball_sha256" >&2
    rm -f "$file.part"
    exit 1
  fi
  mv "$file.part" "$file"
}

build_python() {
  if [ -f "$out/.lacewing-python" ]; then return; fi
  need_root
  local began
  began=$(date +%s)
  fetch_tarball
  work=$(mktemp -d "$machine_cache/.python-XXXXXX")
  # Kept when anything fails, for its build.log.
  trap 'echo "portable-python: failed; the work dir $work is kept" >&2' EXIT
  mkdir -p "$work/src" "$work/prefix" "$sysroot/lacewing-src" "$sysroot$prefix"
  tar -xzf "$machine_cache/downloads/$tarball" -C "$work/src" --strip-components=1
  echo "portable-python: building CPython 3.11.2 in $sysroot with its gcc ($(nproc) jobs, about 2 minutes)" >&2
  # A private mount namespace: the sources and the prefix are bound into the
  # sysroot only for this build, which leaves the shared sysroot as it was.
  local script='
    set -e
    mount -t proc proc "$1/proc"
    mount -t tmpfs tmpfs "$1/tmp"
    mount --bind "$2" "$1/lacewing-src"
    mount --bind "$3" "$1'"$prefix"'"
    root=$1
    shift 3
    exec chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp LC_ALL=C.UTF-8 \
      SOURCE_DATE_EPOCH=0 /bin/sh -c "cd /lacewing-src && ./configure $* && make -j'"$(nproc)"' && make install"'
  if ! unshare --mount --fork sh -c "$script" sh "$sysroot" "$work/src" "$work/prefix" \
    "${configure_args[@]}" >"$work/build.log" 2>&1; then
    tail -30 "$work/build.log" >&2
    echo "portable-python: the build failed (whole log: $work/build.log)" >&2
    exit 1
  fi
  check_floor "$work/prefix"
  rm -rf "$work/prefix/lib/python3.11/test"
  echo "built from $tarball (sha256 $tarball_sha256) in $(basename "$sysroot"); glibc floor $floor" \
    >"$work/prefix/.lacewing-python"
  rm -rf "$out"
  mv "$work/prefix" "$out"
  rm -rf "$work"
  trap - EXIT
  echo "portable-python: built $out in $(($(date +%s) - began)) s" >&2
}

# Every ELF of the prefix must need GLIBC_$floor at most.
check_floor() {
  local highest
  highest=$(find "$1" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec sh -c \
    'for f; do [ "$(head -c4 "$f" | tail -c3)" != ELF ] || objdump -T "$f"; done' sh {} + |
    { grep -o 'GLIBC_2\.[0-9]*' || true; } | sort -uV | tail -1)
  [ -n "$highest" ] || {
    echo "portable-python: found no ELF needing glibc in $1" >&2
    exit 1
  }
  if [ "$(printf '%s\n' "GLIBC_$floor" "$highest" | sort -V | tail -1)" != "GLIBC_$floor" ]; then
    echo "portable-python: the build needs $highest, above the floor GLIBC_$floor" >&2
    exit 1
  fi
  echo "portable-python: every ELF needs $highest at most (floor GLIBC_$floor)" >&2
}

with_cache_lock python3.11 build_python
echo "$out/bin/python3.11"
