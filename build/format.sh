#!/usr/bin/env bash
# Swift formatting, as `gn format` is for GN: `build/format.sh` rewrites the
# Swift sources in place with the toolchain's swift-format and the repo's
# .swift-format (2-space indent, lines up to 120); `build/format.sh --check`
# changes nothing and fails on any difference (build/test.sh runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
# remote/'s generated protobuf code is left as protoc-gen-swift wrote it.
paths=(Package.swift Sources Tests fuzz remote/Package.swift remote/Sources/lacewing-remote remote/Tests
  remote/Sources/LacewingRemote/*.swift)
if [ "${1:-}" = --check ]; then
  swift format lint --strict --recursive --configuration .swift-format "${paths[@]}" || {
    echo "format: run build/format.sh to fix the above" >&2
    exit 1
  }
else
  swift format format --in-place --recursive --configuration .swift-format "${paths[@]}"
fi
for f in $(git ls-files '*.gn' '*.gni'); do
  if [ "${1:-}" = --check ]; then
    gn format --dry-run "$f" >/dev/null || { echo "format: gn format would change $f" >&2; exit 1; }
  else
    gn format "$f" >/dev/null
  fi
done
