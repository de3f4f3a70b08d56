// swift-tools-version:6.0
import PackageDescription

// The stem links musl (Debian's musl-dev) instead of glibc: static glibc
// starts at about 630 KB however little of it a program calls, musl at a
// few dozen (docs/design.md, "The stem"). Its headers come first for the
// stem's C (zlib's falls through to /usr/include). The Swift importer keeps
// the system's: every type the stem's Swift passes to libc has the x86-64
// kernel's layout in both, which stem_support.c asserts against musl's.
let muslLib = "/usr/lib/x86_64-linux-musl"
let musl = ["-isystem", "/usr/include/x86_64-linux-musl"]

// The stem is Embedded Swift: no Foundation, no Glibc module, fully static.
// It reaches libc and zlib only through the StemSupport C target, and shares
// the bundle's on-disk format with the tools through the LacewingFormat header.
// It is optimized in debug builds too: unoptimized Embedded String code
// drags in Unicode tables the static link does not have. It links no Swift
// runtime at all, so build/build-tools.sh's --static-swift-stdlib (which
// points its compiles at swift_static, where there is no Embedded stdlib)
// is undone for it.
let embedded: [SwiftSetting] = [
  .enableExperimentalFeature("Embedded"),
  .unsafeFlags(["-wmo", "-Osize", "-no-static-stdlib"]),
]

// A tool is a thin @main over one LacewingKit call.
let tool: [Target.Dependency] = [
  "LacewingKit", "LacewingCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
  name: "lacewing-bundle",
  products: [
    .executable(name: "collect-artifacts", targets: ["collect-artifacts"]),
    .executable(name: "make-archive", targets: ["make-archive"]),
    .executable(name: "fuse-stub", targets: ["fuse-stub"]),
    .executable(name: "ldd-allowlist-check", targets: ["ldd-allowlist-check"]),
    .executable(name: "lacewing-stem", targets: ["lacewing-stem"]),
    .executable(name: "lacewing-run-tests", targets: ["lacewing-run-tests"]),
    .library(name: "LacewingKit", targets: ["LacewingKit"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    .target(name: "LacewingFormat"),
    // Zstandard, vendored (Sources/CZstd/README.md): the tools pack the
    // runtime with it; the stem compiles its decoder into StemSupport.
    .target(name: "CZstd", exclude: ["README.md", "LICENSE", "COPYING"]),
    .target(
      name: "StemSupport", dependencies: ["LacewingFormat"], exclude: ["zstd_decoder.inc"],
      // Sized like the Swift code: the decoder is most of this target, and
      // every bundle carries it.
      cSettings: [
        .unsafeFlags(["-Os", "-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables"] + musl)
      ]
    ),
    .systemLibrary(name: "CLibzip", pkgConfig: "libzip", providers: [.apt(["libzip-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .target(name: "LacewingKit", dependencies: ["LacewingFormat", "CLibzip", "CLibcrypto", "CZlib", "CZstd"]),
    // What the four tools share on the command line (--output, --depfile,
    // errors as exit codes); LacewingKit stays free of ArgumentParser.
    .target(
      name: "LacewingCLI",
      dependencies: ["LacewingKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    .executableTarget(name: "collect-artifacts", dependencies: tool),
    .executableTarget(name: "make-archive", dependencies: tool),
    .executableTarget(name: "fuse-stub", dependencies: tool),
    .executableTarget(name: "ldd-allowlist-check", dependencies: tool),
    .executableTarget(name: "lacewing-run-tests", dependencies: tool),
    .executableTarget(
      name: "lacewing-stem",
      dependencies: ["StemSupport"],
      swiftSettings: embedded,
      // Fully static and stripped: the stem passes the allowlist check by
      // itself and costs as little as possible in every bundle.
      linkerSettings: [
        .unsafeFlags([
          "-Xclang-linker", "-static", "-Xclang-linker", "-nostdlib", "-Xlinker", "--strip-all", "-Xlinker",
          "--gc-sections",
          // No Swift runtime, static or not (see `embedded`).
          "-no-static-stdlib",
          // SwiftPM always passes -pie, which a static link ignores.
          "-Xclang-linker", "-Wno-unused-command-line-argument",
          // musl's start file and C library, zlib before the C library it
          // calls (Debian's libz.a calls nothing glibc has alone).
          "-Xlinker", "\(muslLib)/crt1.o", "-Xlinker", "/usr/lib/x86_64-linux-gnu/libz.a", "-Xlinker",
          "\(muslLib)/libc.a",
        ])
      ]),
    // Runs real processes for the tests; never mocks them.
    .target(name: "LacewingTestSupport", dependencies: ["LacewingKit"]),
    .testTarget(name: "LacewingKitTests", dependencies: ["LacewingKit", "LacewingTestSupport"]),
    .testTarget(name: "ToolGoldenTests", dependencies: ["LacewingKit", "LacewingTestSupport"], exclude: ["Golden"]),
    .testTarget(name: "EndToEndTests", dependencies: ["LacewingKit", "LacewingTestSupport"]),
  ]
)
