#!/usr/bin/env bash
# Runs a bundle in a real minimal Debian root (build/debian-roots.sh), as a
# host of that release with no Python would:
#
#   build/run-in-root.sh [OPTIONS] SUITE DIR BUNDLE [ARGS...]
#
# runs /lacewing/BUNDLE ARGS in the SUITE root (bullseye, bookworm, trixie),
# DIR being mounted read-only at /lacewing, with only HOME=/tmp/home and
# PATH set, in a private mount namespace holding /proc and a /tmp of its own,
# so the shared root is never written. Exits with the bundle's status.
#
#   --user root|nobody   who runs it (default nobody, uid 65534, whose HOME
#                        is fresh and its own)
#   --tmp HOSTDIR        the host directory to mount at /tmp (kept, for a
#                        look afterwards); default: a fresh one, removed
#   --env NAME=VALUE     set for the bundle; repeatable
#   --no-proc            leave /proc unmounted (a minimal sandbox)
#   --no-loader          hide the glibc loader (an empty tmpfs over the
#                        directory of /lib64/ld-linux-x86-64.so.2), as on a
#                        host without glibc
# Needs root (mount namespaces, chroot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

user=nobody tmp="" proc=1 loader=1
env=()
while [ $# -gt 0 ]; do
  case "$1" in
    --user) user=$2 && shift 2 ;;
    --tmp) tmp=$2 && shift 2 ;;
    --env) env+=("$2") && shift 2 ;;
    --no-proc) proc=0 && shift ;;
    --no-loader) loader=0 && shift ;;
    -*) echo "run-in-root: unknown option $1" >&2 && exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 3 ]; then
  echo "usage: build/run-in-root.sh [--user root|nobody] [--tmp DIR] [--env N=V] [--no-proc] [--no-loader] SUITE DIR BUNDLE [ARGS...]" >&2
  exit 2
fi
suite=$1 dir=$(cd "$2" && pwd) bundle=$3
shift 3
root=$("$here/debian-roots.sh" "$suite" | awk -v s="$suite" '$1 == s { print $2 }')

case "$user" in
  root) spec=0:0 ;;
  nobody) spec=65534:65534 ;;
  *) echo "run-in-root: --user is root or nobody" >&2 && exit 2 ;;
esac
if [ -z "$tmp" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
chmod 1777 "$tmp"
mkdir -p -m 700 "$tmp/home"
[ "$user" = root ] || chown 65534:65534 "$tmp/home"

setup='set -e
  R=$1 tmp=$2 dir=$3 proc=$4 loader=$5
  shift 5
  [ "$proc" = 0 ] || mount -t proc proc "$R/proc"
  mount --bind "$tmp" "$R/tmp"
  mount --bind "$dir" "$R/lacewing"
  mount -o remount,bind,ro "$R/lacewing"
  # /lib64 is a relative link in a merged-/usr root: resolved inside R.
  [ "$loader" = 1 ] || mount -t tmpfs tmpfs "$(realpath "$R/lib64")"
  # This host'"'"'s env and chroot: nothing of the root runs before the
  # bundle, which works with no loader there too.
  exec "$@"'
status=0
unshare --mount --fork sh -c "$setup" sh "$root" "$tmp" "$dir" "$proc" "$loader" \
  /usr/bin/env -i HOME=/tmp/home PATH=/usr/bin:/bin ${env[@]+"${env[@]}"} \
  /usr/sbin/chroot --userspec="$spec" "$root" "/lacewing/$bundle" "$@" || status=$?
exit "$status"
