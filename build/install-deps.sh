#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when one is
# missing, so a second run costs a few dpkg queries. Used by demo.sh and test.sh.
set -euo pipefail

packages=(
  generate-ninja   # gn
  ninja-build
  libzip-dev       # the build tools write zips with libzip
  libssl-dev       # and hash payloads with libcrypto's SHA-256
  zlib1g-dev       # libz.a: the static stem inflates with zlib
  musl-dev         # and links musl, not glibc (a third of the size)
  patchelf         # $ORIGIN RPATHs on bundled ELFs
  python3.11       # the default runtime to bundle
  python3.11-dev   # its headers, for the test's C extension
  libpython3.11-dev  # libpython3.11.so: the tests link a shared-libpython interpreter
  python3.11-venv python3-pip  # PyInstaller for the bench; pip download of pinned wheels
  zip unzip        # Info-ZIP, to test the stem's reader against another writer
  gcc g++ binutils
  util-linux       # unshare, for the Python-less chroot in the tests
  strace           # the tests audit what each action reads
  debootstrap      # the Debian 11 sysroot and the Debian 11/12/13 test roots
  curl             # the portable CPython's source, from Debian's pool
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
