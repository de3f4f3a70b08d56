#!/usr/bin/env bash
# Clean build of //:default locally, then remotely with a cold and with a warm
# action cache, side by side, on the local engine (bench/remote.py --help).
#   bench/remote.sh [--iterations N]
set -euo pipefail
cd "$(dirname "$0")/.."
build/install-deps.sh
[ -x .build/release/lacewing-stem ] || build/build-tools.sh
remote/build.sh
build/remote-engine.sh start >/dev/null
exec /usr/bin/python3.11 bench/remote.py "$@"
