#!/usr/bin/env bash
# Downloads the pinned third-party wheels into the wheel cache (out/wheels by
# default; LACEWING_WHEEL_DIR or --dest elsewhere). See build/fetch_wheels.py.
set -euo pipefail
cd "$(dirname "$0")/.."
build/install-deps.sh
exec /usr/bin/python3.11 build/fetch_wheels.py "$@"
