import Foundation
import LacewingFormat
import LacewingKit
import LacewingTestSupport
import Testing

/// The stem's own zip reader, exercised through the real static stem: a
/// payload whose "interpreter" is a copy of cat and whose "main" is a text
/// file (test/hello.pyz) prints that file when the stem has extracted it correctly.
@Suite(.serialized) struct StemReaderTests {
  /// The tree every zip is made from.
  static func makeTree(_ dir: String) throws {
    try writeCatInterpreter(to: dir + "/python/bin/cat")
    try writeText("hello from the payload\n", to: dir + "/test/hello.pyz")
    try writeText(String(repeating: "deflate me ", count: 5000), to: dir + "/data/nested/deep/big.txt")
    try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
  }

  static func manifest(_ paths: [String]) -> BundleManifest {
    BundleManifest(
      interpreter: "python/bin/cat", compiler: nil,
      entries: paths.map { BundleManifest.Entry(path: $0, kind: .data) })
  }

  /// Fuses `zip` behind the release stem; returns the bundle's path.
  static func fuse(_ zip: String, in dir: String, paths: [String]) throws -> String {
    let manifestPath = dir + "/manifest.json"
    try manifest(paths).encoded().write(to: URL(fileURLWithPath: manifestPath))
    let bundle = dir + "/bundle"
    let r = try run(
      try Repo.tool("fuse-stub"),
      [
        "--stem", try Repo.tool("lacewing-stem"), "--payload", zip, "--manifest", manifestPath, "--main",
        "test/hello.pyz", "--output", bundle,
      ])
    #expect(r.status == 0, "\(r.stderr)")
    return bundle
  }

  static func checkExtraction(bundle: String, tree: String, cache: String) throws {
    let env = environment(["LACEWING_CACHE_DIR": cache])
    let first = try run(bundle, [tree + "/data/nested/deep/big.txt"], environment: env)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stderr == "")
    // cat prints main (hello.txt), then the extra argument passed verbatim.
    #expect(first.stdout == "hello from the payload\n" + readText(tree + "/data/nested/deep/big.txt"))
    let entries = try FileManager.default.contentsOfDirectory(atPath: cache)
    #expect(entries.count == 1 && entries[0].hasPrefix(BundleLayout.cacheKeyPrefix), "\(entries)")
    let root = cache + "/" + entries[0]
    for file in ["python/bin/cat", "test/hello.pyz", "data/nested/deep/big.txt"] {
      #expect(
        FileManager.default.contents(atPath: root + "/" + file)
          == FileManager.default.contents(atPath: tree + "/" + file))
    }
    #expect(FileManager.default.isExecutableFile(atPath: root + "/python/bin/cat"))
    #expect(!FileManager.default.isExecutableFile(atPath: root + "/test/hello.pyz"))
    let warm = try run(bundle, [], environment: env)
    #expect(warm.status == 0 && warm.stdout == "hello from the payload\n")
  }

  @Test(arguments: ["deflate", "store"])
  func readsZipsWrittenByInfoZip(mode: String) throws {
    let dir = try makeTemporaryDirectory("infozip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.makeTree(dir + "/tree")
    let zipArgs = (mode == "store" ? ["-0"] : ["-9"]) + ["-q", "-r", dir + "/payload.zip", "."]
    let z = try run("zip", zipArgs, directory: dir + "/tree")
    #expect(z.status == 0, "\(z.stderr)")
    let bundle = try Self.fuse(dir + "/payload.zip", in: dir, paths: ["python/bin/cat", "test/hello.pyz"])
    try Self.checkExtraction(bundle: bundle, tree: dir + "/tree", cache: dir + "/cache")
  }

  @Test func readsZipsWrittenByLibzip() throws {
    let dir = try makeTemporaryDirectory("libzip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.makeTree(dir + "/tree")
    let paths = ["python/bin/cat", "test/hello.pyz", "data/nested/deep/big.txt"]
    var m = Self.manifest(paths)
    m.entries = paths.map {
      BundleManifest.Entry(
        path: $0, kind: .data, source: dir + "/tree/" + $0, mode: $0 == "python/bin/cat" ? 0o755 : 0o644)
    }
    try m.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let r = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/m.json", "--no-bytecode", "--output", dir + "/payload.zip"])
    #expect(r.status == 0, "\(r.stderr)")
    let bundle = try Self.fuse(dir + "/payload.zip", in: dir, paths: paths)
    try Self.checkExtraction(bundle: bundle, tree: dir + "/tree", cache: dir + "/cache")

    // The listing agrees with libzip's reading of the same payload.
    let list = try run(bundle, [], environment: environment(["LACEWING_LIST": "1"]))
    #expect(list.status == 0)
    let listed = list.stdout.split(separator: "\n").dropFirst(4).map {
      $0.split(separator: " ").last.map(String.init) ?? ""
    }
    // fuse-stub adds the test's launcher's ._pth and pyvenv.cfg
    // (lacewing_format.h); the merge sorts.
    let launcher = try BundleLayout.launcher(interpreter: "python/bin/cat", pyz: "test/hello.pyz").path
    let added = [
      launcher + "._pth", (launcher as NSString).deletingLastPathComponent + "/" + BundleLayout.launcherVenv,
    ]
    #expect(listed == ((try ZipContents.read(dir + "/payload.zip")).map(\.name) + added).sorted(), "\(listed)")
  }

  /// Every damaged bundle is one line on stderr and exit 125, never a crash,
  /// and leaves no cache entry a later run would trust.
  @Test func refusesTruncatedAndCorruptBundles() throws {
    let dir = try makeTemporaryDirectory("corrupt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.makeTree(dir + "/tree")
    _ = try run("zip", ["-q", "-r", dir + "/payload.zip", "."], directory: dir + "/tree")
    let good = try readFile(try Self.fuse(dir + "/payload.zip", in: dir, paths: ["python/bin/cat", "test/hello.pyz"]))
    let stemSize = try readFile(try Repo.tool("lacewing-stem")).count

    var variants: [(String, Data)] = []
    for cut in [1, 8, 40, 88, 89, 200, good.count - stemSize - 1] {
      variants.append(("truncated by \(cut)", good.prefix(good.count - cut)))
    }
    // One byte flipped: in the trailer's fields, the config, the central
    // directory, and inside the compressed data of big.txt.
    for back in [9, 30, 60, 80, 100, 150] {
      var d = good
      d[d.count - back] ^= 0x40
      variants.append(("flipped \(back) from the end", d))
    }
    // Inside big.txt's deflated bytes, found through the trailer's payload
    // offset and size (the first two fields).
    func field(_ at: Int) -> Int {
      (0..<8).reduce(0) { $0 | Int(good[good.count - Int(LW_TRAILER_SIZE) + at + $1]) << (8 * $1) }
    }
    let (payloadOffset, payloadSize) = (field(0), field(8))
    let payload = good.subdata(in: payloadOffset..<(payloadOffset + payloadSize))
    let big = try #require(try ZipIndex.entries(payload).first { $0.name == "data/nested/deep/big.txt" })
    var d = good
    d[payloadOffset + big.dataEnd - big.compressedSize / 2] ^= 0xFF
    variants.append(("flipped in entry data", d))

    for (name, data) in variants {
      let path = dir + "/bad"
      try writeExecutable(data, to: path)
      let cache = dir + "/cache-bad"
      let r = try run(path, [], environment: environment(["LACEWING_CACHE_DIR": cache]))
      #expect(r.status == 125, "\(name): status \(r.status), stderr \(r.stderr)")
      #expect(r.stderr.hasPrefix("lacewing: corrupt bundle: "), "\(name): \(r.stderr)")
      #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(name): \(r.stderr)")
      #expect(r.stdout == "")
      let left = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
      #expect(left.isEmpty, "\(name) left \(left) in the cache")
    }
  }
}
