#!/usr/bin/env bash
# Builds a libFuzzer + ASan harness and runs it.
#   fuzz/run.sh [--harness stem|elf|wheel] [SECONDS | -runs=N]
# stem (the default): the stem's bundle, config and zip parsing and its
#   extraction, and its reading of a host library's version definitions
#   (the host check); seeds are real bundles built from Info-ZIP and libzip
#   payloads, made here, and glibc's small stub libraries.
# elf: the tools' ELF reader; seeds are heads of this machine's python3.11
#   and some of its shared objects.
# wheel: what the tools read from a wheel (names, WHEEL, each .so's ELF
#   headers) and their own zip directory reader; seeds are the pinned wheels
#   in out/wheels that fit, and small wheels made here.
# SECONDS defaults to 300; the tests run each for a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
harness=stem
if [ "${1:-}" = --harness ]; then
  harness=${2:?"--harness needs stem, elf or wheel"}
  shift 2
fi
limit=(-max_total_time="${1:-300}")
case "${1:-}" in -runs=*) limit=("$1") ;; esac
tools=${LACEWING_TOOLS_DIR:-$PWD/.build/release}
work=${LACEWING_FUZZ_DIR:-$PWD/.build/fuzz}
mkdir -p "$work/module" "$work/scratch"
export LACEWING_FUZZ_SCRATCH="$work/scratch"
# libFuzzer reports a crash itself; the Swift runtime's backtracer would
# only slow that down and fight ASan over the dying process.
export SWIFT_BACKTRACE=enable=no
# The tools' harnesses compile the LacewingKit sources they reach into one
# module with ASan (Foundation is there): ELF.swift and two helpers for elf,
# all of it for wheel (Wheel reaches libzip, checksums, the manifest and the
# pack through ZipReader). The C libraries the tools link (libzip, zlib,
# libcrypto) are the system's, not instrumented.
newer() { [ ! -x "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -type f | head -1)" ]; }
swift_fuzzer() {
  local out=$1
  shift
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -suppress-warnings "$@" -o "$out" \
    2> >(grep -v "Cannot export local symbol" >&2)
}

case $harness in
  stem) ;;
  elf)
    if newer "$work/elf-fuzzer" Sources/LacewingKit fuzz; then
      swift_fuzzer "$work/elf-fuzzer" fuzz/ELFFuzzer.swift \
        Sources/LacewingKit/{ELF,LittleEndian,LacewingError}.swift
    fi
    mkdir -p "$work/elf-corpus"
    if [ -z "$(ls -A "$work/elf-corpus")" ]; then
      # Heads of real ELFs: headers, program headers and, in small files,
      # the dynamic section, strings and version needs.
      for f in /usr/bin/python3.11 /usr/lib/x86_64-linux-gnu/{libz.so.1,libffi.so.8,libexpat.so.1} \
        /usr/lib/python3.11/lib-dynload/{_uuid,_typing,_json,_bz2}.cpython-311-x86_64-linux-gnu.so; do
        [ -f "$f" ] && head -c 65536 "$(readlink -f "$f")" > "$work/elf-corpus/$(basename "$f")"
      done
    fi
    exec "$work/elf-fuzzer" "${limit[@]}" -max_len=65536 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/elf-" "$work/elf-corpus"
    ;;
  wheel)
    # The C modules LacewingKit imports that have no module map of their own.
    mkdir -p "$work/kit-module"
    cat > "$work/kit-module/module.modulemap" <<MAP
module LacewingFormat {
  header "$PWD/Sources/LacewingFormat/include/lacewing_format.h"
  export *
}
module CZstd {
  header "$PWD/Sources/CZstd/include/zstd.h"
  export *
}
MAP
    if newer "$work/wheel-fuzzer" Sources/LacewingKit Sources/LacewingFormat fuzz; then
      [ -f "$work/zstd.o" ] || clang -c -O2 -I Sources/CZstd/include Sources/CZstd/zstd.c -o "$work/zstd.o"
      clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/LacewingFormat/include \
        Sources/LacewingFormat/lacewing_format.c -o "$work/lacewing_format.o"
      swift_fuzzer "$work/wheel-fuzzer" -Xcc -fmodule-map-file="$work/kit-module/module.modulemap" \
        -I Sources/CLibzip -I Sources/CLibcrypto -I Sources/CZlib \
        fuzz/WheelFuzzer.swift Sources/LacewingKit/*.swift "$work"/{zstd,lacewing_format}.o
    fi
    mkdir -p "$work/wheel-corpus"
    if [ -z "$(ls -A "$work/wheel-corpus")" ]; then
      find out/wheels -name '*.whl' -size -64k -exec cp {} "$work/wheel-corpus/" \; 2>/dev/null || true
      # A native wheel small enough to mutate: a real extension module,
      # its dist-info, and a .data/purelib file.
      /usr/bin/python3.11 - "$work/wheel-corpus" <<'PY'
import glob, sys, zipfile
so = min(glob.glob("/usr/lib/python3.11/lib-dynload/*.so"), key=lambda p: len(open(p, "rb").read()))
with zipfile.ZipFile(sys.argv[1] + "/native.whl", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(so, "seed/_native.cpython-311-x86_64-linux-gnu.so")
    z.writestr("seed/__init__.py", "from ._native import *\n")
    z.writestr("seed-1.0.data/purelib/seed_extra.py", "x = 1\n")
    z.writestr("seed-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")
    z.writestr("seed-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: seed\nVersion: 1.0\n")
    z.writestr("seed-1.0.dist-info/RECORD", "seed/__init__.py,,\nseed-1.0.dist-info/RECORD,,\n")
with zipfile.ZipFile(sys.argv[1] + "/pure.whl", "w", zipfile.ZIP_STORED) as z:
    z.writestr("pure/__init__.py", "")
    z.writestr("pure-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("pure-1.0.dist-info/RECORD", "pure/__init__.py,,\n")
PY
    fi
    exec "$work/wheel-fuzzer" "${limit[@]}" -max_len=65536 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/wheel-" "$work/wheel-corpus"
    ;;
  *) echo "fuzz/run.sh: no harness $harness (stem, elf or wheel)" >&2; exit 2 ;;
esac
mkdir -p "$work/corpus"

# The stem's C support and its headers, as a module regular Swift can import.
cat > "$work/module/module.modulemap" <<MAP
module StemSupport {
  header "$PWD/Sources/StemSupport/include/stem_support.h"
  export *
}
MAP
if [ ! -x "$work/stem-fuzzer" ] || [ -n "$(find Sources/lacewing-stem Sources/StemSupport Sources/LacewingFormat fuzz -newer "$work/stem-fuzzer" -type f | head -1)" ]; then
  for c in stem_support zstd_decoder sha256; do
    clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/LacewingFormat/include -I Sources/StemSupport/include \
      "Sources/StemSupport/$c.c" -o "$work/$c.o"
  done
  clang -c -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/LacewingFormat/include \
    Sources/LacewingFormat/lacewing_format.c -o "$work/lacewing_format.o"
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -suppress-warnings \
    -Xcc -fmodule-map-file="$work/module/module.modulemap" -Xcc -I"$PWD/Sources/LacewingFormat/include" \
    fuzz/StemFuzzer.swift Sources/lacewing-stem/{Sys,BundleImage,ZipReader,Extractor,PackExtractor,HostCheck}.swift \
    "$work"/{stem_support,zstd_decoder,sha256,lacewing_format}.o -lz -o "$work/stem-fuzzer" 2> >(grep -v "Cannot export local symbol" >&2)
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
  printf '{"formatVersion":2,"interpreter":"python/bin/cat","modulePath":[],"entries":[{"path":"python/bin/cat","kind":"data","mode":493},{"path":"test/hello.pyz","kind":"data","mode":420}],"excluded":[]}' > "$seed/m.json"
  # The stem's own code is not what is fuzzed: a one-byte stand-in keeps seeds small.
  printf 'S' > "$seed/stem"
  for z in deflate store; do
    "$tools/fuse-stub" --stem "$seed/stem" --payload "$seed/$z.zip" --manifest "$seed/m.json" \
      --main test/hello.pyz --env DATA=data --output "$work/corpus/$z"
  done
  # A runtime-only bundle with a packed layer (one zstd frame, an
  # x86-filtered ELF in it): the stem's streaming unpacker is fuzzed too.
  head -c 6000 /bin/true > "$seed/tree/python/bin/elf"
  printf '{"formatVersion":2,"interpreter":"python/bin/cat","modulePath":[],"entries":[{"path":"python/bin/cat","kind":"data","mode":493,"source":"%s"},{"path":"python/bin/elf","kind":"data","mode":420,"source":"%s"},{"path":"python/lib/text.txt","kind":"data","mode":420,"source":"%s"}],"excluded":[]}' \
    "$seed/tree/python/bin/cat" "$seed/tree/python/bin/elf" "$seed/tree/data/nested/text.txt" > "$seed/rt.json"
  "$tools/make-archive" payload --manifest "$seed/rt.json" --pack --pack-level 3 --pack-index "$seed/index.json" \
    --no-bytecode --output "$seed/runtime.zip"
  "$tools/fuse-stub" --stem "$seed/stem" --payload "$seed/runtime.zip" --manifest "$seed/rt.json" \
    --runtime-index "$seed/index.json" --shared-runtime --output "$work/corpus/packed"
fi

# Every input is also read as a host library by the host check: seeds are
# glibc's small stub libraries, whose version definitions fit in max_len.
for lib in libpthread.so.0 librt.so.1; do
  f=/lib/x86_64-linux-gnu/$lib
  [ -f "$f" ] && [ ! -f "$work/corpus/host-$lib" ] && head -c 16384 "$f" > "$work/corpus/host-$lib"
done

exec "$work/stem-fuzzer" "${limit[@]}" -max_len=16384 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus"
