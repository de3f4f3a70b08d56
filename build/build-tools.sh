#!/usr/bin/env bash
# Builds the release Swift tools (collect-artifacts, make-archive, fuse-stub,
# ldd-allowlist-check, lacewing-run-tests) and the stem into .build/release,
# byte-identical from any checkout path and at any time. Every release build
# goes through here: build/demo.sh, build/test.sh, bench/run.sh, the
# reproducibility test, and a GN build that vendors this repo. Extra
# arguments go to `swift build`.
#
# The tools link the Swift runtime and FoundationEssentials statically
# (--static-swift-stdlib): a remote execution worker has no Swift toolchain,
# only the platform's libraries (libc, libz, libzip, libcrypto, libstdc++ ...;
# docs/design.md). They import FoundationEssentials, never Foundation, which
# would link ICU and its data (lib_FoundationICU.a alone is 47 MB). The
# stem links no Swift runtime at all (Package.swift). --disable-local-rpath:
# no $ORIGIN RUNPATH, so the loader takes those libraries from the
# platform's directories only, never from next to a tool.
#
# What would otherwise record the checkout's path (docs/design.md,
# "Reproducible tools"):
#   -file-prefix-map ROOT=.           swiftc: DWARF file names, comp dir and
#                                     swiftmodule paths, of our targets and of
#                                     swift-argument-parser in .build/checkouts
#                                     (-Xswiftc reaches dependencies too)
#   -ffile-prefix-map=ROOT=.          clang: the C targets' DWARF
#                                     (LacewingFormat, StemSupport)
#   -no-clang-module-breadcrumbs      DWARF skeleton units naming each Clang
#                                     module's .pcm under .build/.../ModuleCache,
#                                     whose hashed directory and signature
#                                     depend on the include paths
#   -disable-incremental-llvm-codegen the .swift_modhash section: an MD5 of
#                                     each LLVM module, whose ID is the
#                                     absolute path of its .o; off, the
#                                     section is empty
# The linker's build-id is a hash of the output, so it follows.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$(pwd -P)
case "$root$PWD" in
  *=*) echo "build-tools: a checkout path with '=' cannot be prefix-mapped: $root" >&2; exit 2 ;;
esac
maps=(-Xswiftc -file-prefix-map -Xswiftc "$root=." -Xcc "-ffile-prefix-map=$root=.")
# Reached through a symlink, the logical path may be the one recorded.
if [ "$PWD" != "$root" ]; then
  maps+=(-Xswiftc -file-prefix-map -Xswiftc "$PWD=." -Xcc "-ffile-prefix-map=$PWD=.")
fi

swift build -c release --static-swift-stdlib --disable-local-rpath "${maps[@]}" \
  -Xswiftc -Xfrontend -Xswiftc -no-clang-module-breadcrumbs \
  -Xswiftc -Xfrontend -Xswiftc -disable-incremental-llvm-codegen \
  "$@"
test -x .build/release/lacewing-stem || { echo "build-tools: swift build -c release made no stem" >&2; exit 1; }
