#!/usr/bin/env bash
# Builds what the benchmark needs and runs bench/bench.py (see its --help).
#   bench/run.sh                    21 paired iterations
#   bench/run.sh --iterations 3     the quick run
#   bench/run.sh --pyinstaller      also PyInstaller onefile from PyPI
set -euo pipefail
cd "$(dirname "$0")/.."
build/install-deps.sh
[ -x .build/release/lacewing-stem ] || build/build-tools.sh
exec /usr/bin/python3.11 bench/bench.py "$@"
