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

# Without the wheels, only the tests built from this repo alone are run.
names=()
[ "$fetched" = 3 ] && names=(rtc_test stem_probe e2e_suite/rtc_test e2e_suite/stem_probe)
echo "== every registered test (out/demo/tests.json) through lacewing-run-tests, two at a time"
.build/release/lacewing-run-tests --tests out/demo/tests.json -j 2 --junit out/demo/junit.xml "${names[@]}"
echo "demo: OK"
