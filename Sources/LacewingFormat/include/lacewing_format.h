// The on-disk contract between fuse-stub (which writes bundles) and the stem
// (which reads them). Both sides include this one header, so the layout cannot
// drift between them.
//
// A bundle is:   [stem ELF][payload: a zip archive][config][trailer]
//
// The trailer sits at the very end of the file so the stem finds it with one
// read of a fixed size, whatever the size of the stem in front.
#ifndef LACEWING_FORMAT_H
#define LACEWING_FORMAT_H

#include <stddef.h>
#include <stdint.h>

// Bumped whenever the trailer, the config or the extraction layout changes;
// part of the cache key so two formats never share a cache entry.
#define LW_FORMAT_VERSION 5u

// The last 8 bytes of every bundle.
#define LW_TRAILER_MAGIC "LWBNDL\r\n"
#define LW_TRAILER_MAGIC_SIZE 8
#define LW_DIGEST_SIZE 32

// All integers little-endian.
typedef struct __attribute__((packed)) lw_trailer {
  uint64_t payload_offset;  // from the start of the file
  uint64_t payload_size;
  uint64_t config_offset;   // from the start of the file
  uint64_t config_size;
  // The zip's central directory through its end record, relative to the
  // payload. Names, modes and offsets live there and no zip CRC covers
  // them, so the stem checks this CRC before it extracts anything.
  uint64_t index_offset;
  uint32_t index_crc32;
  uint32_t reserved;        // zero
  uint8_t digest[LW_DIGEST_SIZE];  // SHA-256 of payload bytes followed by config bytes
  uint32_t format_version;
  uint32_t trailer_size;    // sizeof(lw_trailer), so a reader can refuse a layout it does not know
  uint32_t config_crc32;    // zlib crc32 of the config bytes
  uint32_t trailer_crc32;   // zlib crc32 of every trailer byte before this field
  char magic[LW_TRAILER_MAGIC_SIZE];
} lw_trailer;

_Static_assert(sizeof(lw_trailer) == 104, "trailer layout is part of the format");
#define LW_TRAILER_SIZE 104u
// trailer_crc32 covers the bytes [0, LW_TRAILER_CRC_SPAN) of the trailer.
#define LW_TRAILER_CRC_SPAN 92u
_Static_assert(__builtin_offsetof(lw_trailer, trailer_crc32) == LW_TRAILER_CRC_SPAN, "crc span");

// The config is a sequence of NUL-terminated key and value strings:
//   "interpreter\0python/bin/python3.11\0arg\0-B\0main\0test/rtc_test.pyz\0env\0FIDL_IR_PATH=fidl_ir\0"
//
// The payload has two layers. Entries under LW_RUNTIME_PREFIX are the
// runtime layer (interpreter, stdlib, lib-dynload, their libraries); every
// other entry is the test layer (test/*.pyz, ext/, lib/, data). With a
// "runtime" key (64 hex digits: SHA-256 of the runtime layer's entries as
// stored) the stem extracts the runtime layer into a cache entry of its own,
// shared by every bundle on that runtime, and the test layer into the
// bundle's entry; without it, or in temp mode, both share one directory.
// The stem runs
//   <test root>/<launcher> <arg>... <test root>/<main> <argv[1:]>
// "main" is optional: without it (a runtime-only bundle) the caller's
// argv[1:] follows the interpreter's arguments, e.g. `bundle other.pyz`.
// "test" entries ("NAME=test/NAME.pyz", repeatable) make a multi-test
// bundle: the test is the one named like argv[0]'s basename (a link to the
// bundle), else argv[1]; `bundle --list` prints the names.
// An env value is a path relative to the test root; the stem makes it
// absolute.
//
// Launchers: every test runs through an interpreter path of its own in the
// test layer, so that sys.executable is that path and a child started with
// it imports exactly what the test imports. After extracting the test layer
// the stem creates two kinds of symlink in it (nothing else ever is one):
//   LW_RUNTIME_LINK -> the runtime layer's root ("../v5-rt-..." when the
//                      runtime has a cache entry of its own, else ".")
//   LW_LAUNCHER_DIR NAME "/" <interpreter's file name>
//                   -> "../../" LW_RUNTIME_LINK "/" <interpreter>
// for each test "test/NAME.pyz" (main, or every "test" entry); a bundle
// with neither gets LW_LAUNCHER_DIR <interpreter's file name> ->
// "../" LW_RUNTIME_LINK "/" <interpreter>. fuse-stub writes each launcher's
// "._pth" next to it (CPython reads <executable>._pth before the real
// executable's): the test's .pyz, the runtime's stdlib through the runtime
// link, and the test layer's LW_EXT_DIR and LW_SITE_DIR; and a pyvenv.cfg
// that keeps the user site out.
#define LW_CONFIG_INTERPRETER "interpreter"
#define LW_CONFIG_ARG "arg"
#define LW_CONFIG_MAIN "main"
#define LW_CONFIG_ENV "env"
#define LW_CONFIG_RUNTIME "runtime"
#define LW_CONFIG_TEST "test"
// What the bundled interpreter needs of the host, checked by the stem before
// it extracts anything, on every start (docs/design.md, "The host check").
// fuse-stub takes them from ldd-allowlist-check (--host-needs); a bundle
// without them (a static or script interpreter) skips the check.
//   "loader": the interpreter's PT_INTERP, an absolute path, e.g.
//     "/lib64/ld-linux-x86-64.so.2". No such file on the host: a musl or
//     other non-glibc system, which cannot run the interpreter at all. With
//     a loader, the bundle's libraries are found through $ORIGIN RUNPATHs,
//     which ld.so expands by reading /proc/self/exe: a host without /proc
//     mounted cannot run it either.
//   "glibc": the highest GLIBC_x.y symbol version any bundled ELF needs
//     from a host library: its number, "x.y" or "x.y.z" (digits and dots),
//     e.g. "2.34" for GLIBC_2.34, "2.2.5" for GLIBC_2.2.5;
//   "glibc_library": the host library it is needed from, a file name, e.g.
//     "libc.so.6" or "libm.so.6". ld.so checks that exact version node in
//     that exact library (glibc 2.31's libc.so.6 defines nodes up to
//     GLIBC_2.30 only, its libm.so.6 GLIBC_2.31), so the stem looks for the
//     node "GLIBC_<glibc>" in the host's copy of that library, found in the
//     loader's default directories. Both or neither.
#define LW_CONFIG_LOADER "loader"
#define LW_CONFIG_GLIBC "glibc"
#define LW_CONFIG_GLIBC_LIBRARY "glibc_library"
#define LW_CONFIG_MAX_SIZE 65536u
#define LW_RUNTIME_PREFIX "python/"
// Inside the runtime layer: the interpreter in LW_RUNTIME_BIN_DIR, the
// shared libraries it and lib-dynload need in LW_RUNTIME_LIB_DIR, next to
// the stdlib (LW_RUNTIME_LIB_DIR "/python3.X", with CPython's
// LW_RUNTIME_DYNLOAD_DIR in it). collect-artifacts lays the layer out so
// and the size report reads it so; the stem takes the interpreter's path
// from the config and needs none of these. Spelled out, not pasted onto
// LW_RUNTIME_PREFIX: Swift imports a macro only when it is one literal.
#define LW_RUNTIME_BIN_DIR "python/bin"
#define LW_RUNTIME_LIB_DIR "python/lib"
#define LW_RUNTIME_DYNLOAD_DIR "lib-dynload"
// The test layer's fixed places (see Launchers above).
#define LW_TEST_DIR "test/"       // the tests' .pyz files
#define LW_EXT_DIR "ext"          // the tests' C extensions, on sys.path
#define LW_LIB_DIR "lib"          // the shared libraries those need
#define LW_SITE_DIR "site"        // native wheels, installed as pip would
#define LW_LAUNCHER_DIR "bin/"    // the launchers and their ._pth files
#define LW_RUNTIME_LINK "runtime"

// Cache entries are named "v<LW_FORMAT_VERSION>-<hex>", a runtime layer's
// "v<LW_FORMAT_VERSION>-" LW_CACHE_RUNTIME_TAG "<hex>".
#define LW_CACHE_RUNTIME_TAG "rt-"

// The launcher of the test whose .pyz is at `pyz` ("test/NAME.pyz"; NULL in
// a bundle with no test) for the runtime interpreter `interpreter`: writes
// its path in the test layer to `path` and its symlink target to `target`.
// The one implementation of the rule above, for fuse-stub and the stem.
// Returns 0, or -1 when `pyz` is not of that form or a buffer is too small.
int lw_launcher(const char *interpreter, const char *pyz, char *path, size_t path_size, char *target,
                size_t target_size);
// A packed runtime layer: one entry of this name, compressed with method 93
// (Zstandard, APPNOTE 4.4.5: one zstd frame with its content checksum, a
// window of at most 1 << LW_PACK_WINDOW_LOG bytes), holding a zip of the
// layer's files, all under LW_RUNTIME_PREFIX, each one stored (method 0) or
// stored after the x86 branch filter below (LW_ZIP_METHOD_X86, x86-64 ELFs).
// Members carry their sizes and CRC-32 (of the file as extracted) in their
// local headers (no data descriptors), so the stem writes each one as it is
// decoded, with a fixed buffer; the central directory that follows must list
// the same members in the same order, and gives their modes. Other files
// come first, by name, then the ELFs, largest first: grouped so, the layer
// compresses 0.3% smaller (docs/design.md, "Packing the runtime").
#define LW_RUNTIME_PACK "python.pack"
#define LW_ZIP_METHOD_ZSTD 93
#define LW_PACK_WINDOW_LOG 24
// Not an APPNOTE method: only ever inside a pack.
#define LW_ZIP_METHOD_X86 0x4C57

// The x86 branch filter of packed ELFs. Machine code holds many relative
// addresses (call/jmp rel32, RIP-relative mov/lea/cmp with a REX.W prefix);
// turned into absolute ones, calls to one function become one repeated
// string, which zstd then finds (the runtime pack is 4% smaller). Encoding
// and decoding scan the same
// bytes the same way, so they are exact inverses:
//   E8/E9 xx xx xx yy, yy 00 or FF: a 25-bit displacement made absolute
//       (yy is 00 or FF again after); 5 bytes skipped whether converted or not;
//   48|4C op modrm d d d d, op in {03 2B 39 3B 63 85 89 8B 8D} and modrm a
//       RIP-relative operand: the 32-bit displacement made absolute, 7 bytes
//       skipped;
// positions are offsets in the member, modulo 2^32. Converts `buf[0, size)`,
// `pos` being buf[0]'s offset in the member, in place; with `last` zero it
// stops where an instruction could run past `size` and returns how many bytes
// are final (the caller passes the rest again, with more, from pos + that);
// with `last` it converts to the end and returns `size`.
size_t lw_x86_filter(uint8_t *buf, size_t size, uint64_t pos, int encode, int last);
#define LW_RUNTIME_DIGEST_HEX 64

// Exit codes of the stem when it fails itself (any other code is the test's).
// 125 and 126 follow env(1)/timeout(1): "the launcher failed", "could not run".
#define LW_EXIT_CORRUPT 125   // truncated or corrupt bundle
// Cannot extract or execute (filesystem, cache, exec), or this host cannot
// run the bundle (the host check: no glibc loader, a glibc older than the
// bundle's, no /proc); in the host check's case nothing was extracted.
#define LW_EXIT_CANNOT_RUN 126
// A multi-test bundle not told which test to run; like argparse's 2, but no
// test has run when the stem returns it (its message lists the tests).
#define LW_EXIT_USAGE 2

#endif
