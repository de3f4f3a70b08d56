#!/usr/bin/env bash
# Builds what the benchmark needs and runs bench/bench.py (see its --help).
#   bench/run.sh                    21 paired iterations
#   bench/run.sh --iterations 3     the quick run
#   bench/run.sh --pyinstaller      also PyInstaller onefile from PyPI
#   bench/run.sh --per-bundle       also the build cost per additional bundle
#                                   (N = 1, 10, 40 one-file tests; or --per-bundle 1,10)
#   bench/run.sh --only-per-bundle  only that
set -euo pipefail
cd "$(dirname "$0")/.."
build/install-deps.sh
[ -x .build/release/lacewing-stem ] || build/build-tools.sh
exec /usr/bin/python3.11 bench/bench.py "$@"
