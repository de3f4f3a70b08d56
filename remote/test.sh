#!/usr/bin/env bash
# The launcher's own tests: unit tests, and integration tests against a real
# engine when LACEWING_REMOTE_ENGINE_ENV names its env file
# (build/remote-engine.sh start writes out/remote-engine/env); without it
# those say they are skipped and why.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
swift test -c release --skip-build
