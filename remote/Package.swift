// swift-tools-version: 6.0
// A package of its own so that gRPC's build cost lands only on builds that
// want remote execution, not on every build of the main lacewing package.
import PackageDescription

let package = Package(
  name: "lacewing-remote",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "lacewing-remote", targets: ["lacewing-remote"]),
    .library(name: "LacewingRemote", targets: ["LacewingRemote"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // Already in the graph through swift-certificates (gRPC TLS); named here for its SHA-256.
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    // The repo's own package, for LacewingKit.ActionInputs: the launcher
    // reads the tools' lists with the tools' own decoders. Named, so the
    // product below does not depend on the checkout's directory name.
    .package(name: "lacewing-bundle", path: ".."),
  ],
  targets: [
    .target(
      name: "LacewingRemote",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "LacewingKit", package: "lacewing-bundle"),
      ]
    ),
    .executableTarget(
      name: "lacewing-remote",
      dependencies: [
        "LacewingRemote",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(
      name: "LacewingRemoteTests",
      // The launcher binary too: the integration tests run it.
      dependencies: ["LacewingRemote", "lacewing-remote"]
    ),
  ]
)
