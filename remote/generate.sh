#!/bin/sh
# Regenerates Sources/LacewingRemote/Generated/ from protos/. Run by hand
# after editing a .proto; CI builds the committed output and needs no protoc.
# Needs: protoc (apt-get install protobuf-compiler) and protoc-gen-swift built
# from swift-protobuf 1.39.0 (the version Package.swift pins), e.g.
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/protoc-gen/swift-protobuf
#   swift build -c release --product protoc-gen-swift --package-path /tmp/protoc-gen/swift-protobuf
# The gRPC client stubs are hand-written (Sources/LacewingRemote/RPC.swift), so
# no grpc plugin is needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
plugin=${PROTOC_GEN_SWIFT:-/tmp/protoc-gen/swift-protobuf/.build/release/protoc-gen-swift}
[ -x "$plugin" ] || { echo "generate.sh: no protoc-gen-swift at $plugin; build it (see the top of this script) or set PROTOC_GEN_SWIFT" >&2; exit 1; }
out="$here/Sources/LacewingRemote/Generated"
rm -rf "$out"
mkdir -p "$out"
cd "$here/protos"
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out="$out" --swift_opt=FileNaming=PathToUnderscores \
  $(find . -name '*.proto' | sed 's|^\./||' | sort)
