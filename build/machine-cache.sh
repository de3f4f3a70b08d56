# Sourced by the scripts that make per-machine artefacts (the sysroot, the
# portable CPython, the Debian test roots): where they live, how two builds
# on one machine share them, and which Debian mirror they come from.
#
# LACEWING_MACHINE_CACHE overrides the place (default /var/cache/lacewing-build:
# these artefacts are made as root, with debootstrap and chroot, and are
# shared by every checkout on the machine). Each artefact is a directory
# named after the hash of its inputs, published by rename once complete, so a
# directory that exists is whole, and a changed input makes a new one.

machine_cache=${LACEWING_MACHINE_CACHE:-/var/cache/lacewing-build}

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$(basename "$0"): needs root (debootstrap and chroot); run it with sudo" >&2
    exit 1
  fi
}

# The Debian mirror: LACEWING_DEBIAN_MIRROR, else the first Debian URI of
# this machine's own apt sources (deb822 or one-line), else Debian's CDN.
debian_mirror() {
  if [ -n "${LACEWING_DEBIAN_MIRROR:-}" ]; then
    echo "$LACEWING_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# with_cache_lock NAME COMMAND...: runs COMMAND holding an exclusive lock on
# NAME, so two checkouts building at once make an artefact once; the second
# waits, then finds it.
with_cache_lock() {
  local name=$1
  shift
  mkdir -p "$machine_cache"
  (
    flock 9
    "$@"
  ) 9>"$machine_cache/.lock-$name"
}

# inputs_key FILE...: 16 hex digits of the files' contents (never their
# paths: every checkout of the same inputs shares one artefact).
inputs_key() {
  local f
  for f in "$@"; do sha256sum <"$f"; done | sha256sum | cut -c1-16
}
