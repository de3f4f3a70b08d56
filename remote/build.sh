#!/usr/bin/env bash
# Builds the REAPI launcher, remote/.build/release/lacewing-remote (the GN arg
# lacewing_remote_launcher names it), with its tests: one release build that
# both this and remote/test.sh use, so CI compiles gRPC once (about 5 minutes
# on 2 cores from a clean clone): -enable-testing is what `swift test` would
# add for the tests' @testable imports, and costs the launcher nothing that
# matters. Extra arguments go to `swift build`.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release --build-tests -Xswiftc -enable-testing "$@"
test -x .build/release/lacewing-remote || { echo "remote/build.sh: no lacewing-remote was built" >&2; exit 1; }
