#!/usr/bin/env bash
# Builds the stem's parser fuzzer (libFuzzer + ASan) and runs it.
#   fuzz/run.sh [SECONDS]      default 300; the tests run it for a few seconds
# Seeds are real bundles built from Info-ZIP and libzip payloads, made here.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
tools=${LACEWING_TOOLS_DIR:-$PWD/.build/release}
work=${LACEWING_FUZZ_DIR:-$PWD/.build/fuzz}
mkdir -p "$work/corpus" "$work/module" "$work/scratch"

# The stem's C support and its headers, as a module regular Swift can import.
cat > "$work/module/module.modulemap" <<MAP
module StemSupport {
  header "$PWD/Sources/StemSupport/include/stem_support.h"
  export *
}
MAP
if [ ! -x "$work/stem-fuzzer" ] || [ -n "$(find Sources/lacewing-stem Sources/StemSupport Sources/LacewingFormat fuzz -newer "$work/stem-fuzzer" -type f | head -1)" ]; then
  for c in stem_support zstd_decoder; do
    clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/LacewingFormat/include -I Sources/StemSupport/include \
      "Sources/StemSupport/$c.c" -o "$work/$c.o"
  done
  clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/LacewingFormat/include \
    Sources/LacewingFormat/lacewing_format.c -o "$work/lacewing_format.o"
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -suppress-warnings \
    -Xcc -fmodule-map-file="$work/module/module.modulemap" -Xcc -I"$PWD/Sources/LacewingFormat/include" \
    fuzz/StemFuzzer.swift Sources/lacewing-stem/{Sys,BundleImage,ZipReader,Extractor,PackExtractor}.swift \
    "$work"/{stem_support,zstd_decoder,lacewing_format}.o -lz -o "$work/stem-fuzzer" 2> >(grep -v "Cannot export local symbol" >&2)
fi

# Seeds: small real bundles (stem + payload + config + trailer).
if [ -z "$(ls -A "$work/corpus")" ]; then
  seed=$(mktemp -d)
  trap 'rm -rf "$seed"' EXIT
  mkdir -p "$seed/tree/python/bin" "$seed/tree/test" "$seed/tree/data/nested"
  printf 'hello\n' > "$seed/tree/test/hello.pyz"
  head -c 3000 /usr/share/common-licenses/GPL-3 > "$seed/tree/data/nested/text.txt"
  printf '#!/bin/sh\n' > "$seed/tree/python/bin/cat"
  (cd "$seed/tree" && zip -q -r -9 "$seed/deflate.zip" . && zip -q -r -0 "$seed/store.zip" .)
  printf '{"formatVersion":1,"interpreter":"python/bin/cat","modulePath":[],"entries":[{"path":"python/bin/cat","kind":"data","mode":493},{"path":"test/hello.pyz","kind":"data","mode":420}],"excluded":[]}' > "$seed/m.json"
  # The stem's own code is not what is fuzzed: a one-byte stand-in keeps seeds small.
  printf 'S' > "$seed/stem"
  for z in deflate store; do
    "$tools/fuse-stub" --stem "$seed/stem" --payload "$seed/$z.zip" --manifest "$seed/m.json" \
      --main test/hello.pyz --env DATA=data --output "$work/corpus/$z"
  done
  # A runtime-only bundle with a packed layer (one zstd frame, an
  # x86-filtered ELF in it): the stem's streaming unpacker is fuzzed too.
  head -c 6000 /bin/true > "$seed/tree/python/bin/elf"
  printf '{"formatVersion":1,"interpreter":"python/bin/cat","modulePath":[],"entries":[{"path":"python/bin/cat","kind":"data","mode":493,"source":"%s"},{"path":"python/bin/elf","kind":"data","mode":420,"source":"%s"},{"path":"python/lib/text.txt","kind":"data","mode":420,"source":"%s"}],"excluded":[]}' \
    "$seed/tree/python/bin/cat" "$seed/tree/python/bin/elf" "$seed/tree/data/nested/text.txt" > "$seed/rt.json"
  "$tools/make-archive" payload --manifest "$seed/rt.json" --pack --pack-level 3 --pack-index "$seed/index.json" \
    --no-bytecode --output "$seed/runtime.zip"
  "$tools/fuse-stub" --stem "$seed/stem" --payload "$seed/runtime.zip" --manifest "$seed/rt.json" \
    --runtime-index "$seed/index.json" --shared-runtime --output "$work/corpus/packed"
fi

export LACEWING_FUZZ_SCRATCH="$work/scratch"
exec "$work/stem-fuzzer" -max_total_time="$seconds" -max_len=16384 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus"
