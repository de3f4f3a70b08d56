#!/usr/bin/env bash
# Builds the Swift tools and the stem, builds the demo bundle with GN and
# Ninja, and runs it: the README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."

build/install-deps.sh
echo "== build/build-tools.sh: swift build -c release, path-independent (tools and stem)"
build/build-tools.sh

echo "== gn gen out/demo && ninja -C out/demo"
gn gen out/demo
ninja -C out/demo

echo "== out/demo/rtc_test: $(stat -c %s out/demo/rtc_test) bytes"
cat out/demo/gen/testdata/rtc_test/rtc_test.hermeticity.txt
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export LACEWING_CACHE_DIR="$cache"

echo "== out/demo/rtc_test  (hermetic; first run extracts into a fresh cache)"
LACEWING_TIMINGS=1 out/demo/rtc_test
echo "exit status: 0"

echo "== out/demo/rtc_test --force-failure  (must fail with exit status 1)"
set +e
out/demo/rtc_test --force-failure 2>&1 | tail -4
status=${PIPESTATUS[0]}
set -e
echo "exit status: $status"
[ "$status" = 1 ] || { echo "demo: expected exit status 1" >&2; exit 1; }

echo "== the same test unbundled: PYTHONPATH=out/demo python3.11 out/demo/rtc_test.pyz"
PYTHONPATH=out/demo /usr/bin/python3.11 out/demo/rtc_test.pyz 2>&1 | tail -1

echo "== third-party wheels: build/fetch-wheels.sh && ninja -C out/demo third_party_cases"
set +e
build/fetch-wheels.sh --dest out/wheels
fetched=$?
set -e
if [ "$fetched" = 3 ]; then
  echo "demo: PyPI is unreachable; the numpy_test and mobly_rtc_test demos are skipped"
else
  [ "$fetched" = 0 ] || { echo "demo: fetching the pinned wheels failed" >&2; exit 1; }
  ninja -C out/demo third_party_cases
  echo "== out/demo/numpy_test  (numpy with its vendored OpenBLAS, PyYAML, portpicker)"
  out/demo/numpy_test
  # Mobly prints its summary last; its exit status says pass or fail.
  mobly() {
    set +e
    out/demo/mobly_rtc_test "$@" 2>&1 | grep -E "^Test results:"
    status=${PIPESTATUS[0]}
    set -e
    echo "exit status: $status"
  }
  echo "== out/demo/mobly_rtc_test  (a real Mobly test: Mobly, PyYAML, psutil, portpicker from wheels)"
  mobly
  [ "$status" = 0 ] || { echo "demo: mobly_rtc_test failed" >&2; exit 1; }
  echo "== out/demo/mobly_rtc_test --force-failure  (must fail with exit status 1)"
  mobly --force-failure
  [ "$status" = 1 ] || { echo "demo: expected exit status 1" >&2; exit 1; }
fi

echo "== portable bundles: the same targets on a CPython built in a Debian 11 sysroot (glibc 2.31)"
# Both are made once per machine and cached (the first time: about 1 minute
# for the sysroot, 2 for CPython on 2 cores); later runs find them.
began=$(date +%s)
sysroot=$(build/sysroot.sh | tail -1)
python=$(build/portable-python.sh | tail -1)
echo "sysroot $sysroot"
echo "runtime $python ($(($(date +%s) - began)) s to make or find both)"
gn gen out/portable --args="lacewing_python=\"$python\" lacewing_sysroot=\"$sysroot\""
portable_targets=(default)
[ "$fetched" = 3 ] || portable_targets+=(third_party_cases)
ninja -C out/portable "${portable_targets[@]}"
echo "== each bundle's glibc floor: this machine's runtime, then the portable one"
for b in rtc_test stem_probe e2e_suite lacewing_python numpy_test mobly_rtc_test; do
  for dir in out/demo out/portable; do
    [ -x "$dir/$b" ] || continue
    printf '%-36s %s\n' "$dir/$b" "$(LACEWING_LIST=1 "$dir/$b" | awk '$1 == "glibc" { print "glibc " $2 " or newer" }')"
  done
done
echo "== out/portable/rtc_test in a minimal Debian 11 root (build/debian-roots.sh), as an unprivileged user"
build/run-in-root.sh bullseye out/portable rtc_test
echo "exit status: 0"
echo "== out/demo/rtc_test there: this machine's runtime needs a newer glibc, and says so"
set +e
build/run-in-root.sh bullseye out/demo rtc_test
status=$?
set -e
echo "exit status: $status"
[ "$status" = 126 ] || { echo "demo: expected exit status 126 (the stem's own), not the test's" >&2; exit 1; }

# Without the wheels, only the tests built from this repo alone are run.
names=()
[ "$fetched" = 3 ] && names=(rtc_test stem_probe e2e_suite/rtc_test e2e_suite/stem_probe)
echo "== every registered test (out/demo/tests.json) through lacewing-run-tests, two at a time"
.build/release/lacewing-run-tests --tests out/demo/tests.json -j 2 --junit out/demo/junit.xml "${names[@]}"
echo "demo: OK"
