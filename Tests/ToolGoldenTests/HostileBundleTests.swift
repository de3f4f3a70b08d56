import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// Payloads built to attack the stem: path traversal, symlinks, duplicate
/// names, lying sizes, zip bombs; and every truncation of a small bundle.
/// Each must be refused with one line and exit 125, writing nothing outside
/// the extraction root and leaving nothing a later run would trust.
@Suite(.serialized) struct HostileBundleTests {
  /// Writes a zip with Python's zipfile, which lets a test say anything a
  /// hostile writer could: any name, any mode, duplicates.
  static func writeZip(_ path: String, _ entries: [(name: String, data: String, mode: Int)]) throws {
    let spec = try JSONSerialization.data(
      withJSONObject: entries.map { ["name": $0.name, "data": $0.data, "mode": $0.mode] })
    let script = """
      import json, sys, warnings, zipfile
      warnings.simplefilter("ignore")  # duplicate names are the point
      with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
          for e in json.loads(sys.argv[2]):
              info = zipfile.ZipInfo(e["name"])
              info.create_system = 3
              info.external_attr = e["mode"] << 16
              info.compress_type = zipfile.ZIP_DEFLATED
              data = e["data"]
              if data.startswith("ZEROS:"):  # too big for argv: made here
                  data = bytes(int(data[6:]))
              z.writestr(info, data)
      """
    let r = try run("/usr/bin/python3.11", ["-c", script, path, String(decoding: spec, as: UTF8.self)])
    guard r.status == 0 else { throw TestSetupError("zip writer failed: \(r.stderr)") }
  }

  static func fuse(_ payload: String, to bundle: String, in dir: String) throws {
    let m = BundleManifest(
      interpreter: cat.name, compiler: nil,
      entries: [.init(path: cat.name, kind: .data), .init(path: hello.name, kind: .data)])
    try m.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let r = try run(
      try Repo.tool("fuse-stub"),
      [
        "--stem", try Repo.tool("lacewing-stem"), "--payload", payload, "--manifest", dir + "/m.json", "--main",
        hello.name, "--output", bundle,
      ])
    guard r.status == 0 else { throw TestSetupError("fuse-stub failed: \(r.stderr)") }
  }

  /// Runs `bundle` with its cache in `dir/sandbox/cache`; returns the result
  /// and every path that exists under `dir/sandbox` afterwards.
  static func runSandboxed(_ bundle: String, in dir: String, env extra: [String: String] = [:]) throws
    -> (ProcessResult, [String])
  {
    let sandbox = dir + "/sandbox"
    try? FileManager.default.removeItem(atPath: sandbox)
    try FileManager.default.createDirectory(atPath: sandbox + "/cache", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: sandbox + "/tmp", withIntermediateDirectories: true)
    var env = ["LACEWING_CACHE_DIR": sandbox + "/cache", "TMPDIR": sandbox + "/tmp", "PATH": "/usr/bin:/bin"]
    env.merge(extra) { $1 }
    let r = try run(bundle, [], environment: env)
    let left = FileManager.default.enumerator(atPath: sandbox)?.allObjects as? [String] ?? []
    return (r, left.sorted())
  }

  /// The runtime's "interpreter" and the test's "main", a text file it prints.
  static let cat = (name: "python/bin/cat", data: "", mode: 0o100755)
  static let hello = (name: "test/hello.pyz", data: "hello\n", mode: 0o100644)

  @Test(arguments: [
    ("../evil.txt", 0o100644),
    ("data/../../evil.txt", 0o100644),
    ("/tmp/lacewing-abs-evil.txt", 0o100644),
    ("./evil.txt", 0o100644),
    ("data//evil.txt", 0o100644),
    ("..\\evil.txt", 0o100644),
    ("link", 0o120777),
  ])
  func hostileNamesAndTypesAreRefused(name: String, mode: Int) throws {
    let dir = try makeTemporaryDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello, (name, mode == 0o120777 ? "/etc" : "evil\n", mode)])
    try Self.fuse(dir + "/p.zip", to: dir + "/bundle", in: dir)
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir)
    #expect(r.status == 125, "\(name): \(r.status) \(r.stderr)")
    #expect(
      r.stderr.hasPrefix("lacewing: corrupt bundle: ") && r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(name) left \(left)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/evil.txt"))
    #expect(!FileManager.default.fileExists(atPath: "/tmp/lacewing-abs-evil.txt"))
  }

  /// A packed runtime layer is one zstd frame holding a zip of stored
  /// members; the stem writes each member as it is decoded, so every check
  /// the payload gets is made on the stream, and the directory at its end
  /// must agree with what was written. "valid" is the control: the same
  /// bundle, well formed, gets past every check.
  @Test(arguments: [
    "valid", "outside", "traversal", "deflated member", "nested zstd", "damaged stream", "wrong member crc",
    "directory disagrees", "zstd elsewhere", "bomb", "window too large", "window at the limit",
  ])
  func hostilePacksAreRefused(kind: String) throws {
    let dir = try makeTemporaryDirectory("hostile-pack")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var members = [ZipMerge.StoredFile(path: Self.cat.name, data: Data(), mode: 0o755)]
    switch kind {
    case "outside": members.append(.init(path: "evil.txt", data: Data("evil\n".utf8)))
    case "traversal": members.append(.init(path: "python/../../evil.txt", data: Data("evil\n".utf8)))
    case "nested zstd": members.append(try .init(path: "python/again.pack", zstd: Data("x".utf8), level: 1))
    default: members.append(.init(path: "python/lib/data.txt", data: Data(String(repeating: "data\n", count: 99).utf8)))
    }
    var inner = try ZipMerge.archive(inOrder: members)
    if kind == "deflated member" {
      try Self.writeZip(dir + "/inner.zip", [Self.cat])
      inner = try readFile(dir + "/inner.zip")
    }
    if kind == "wrong member crc" || kind == "directory disagrees" {
      // The CRC-32 in the local header and in the directory record, or the
      // name in the directory record only.
      let name = Data("python/lib/data.txt".utf8)
      let local = try #require(Self.find(name, in: inner, after: 0)) - 30
      let record = try #require(Self.find(name, in: inner, after: local + 30 + name.count)) - 46
      let at = kind == "wrong member crc" ? [local + 14, record + 16] : [record + 46 + name.count - 1]
      for i in at { inner[i] ^= 0x01 }
    }
    var pack = try ZipMerge.StoredFile(path: "python.pack", zstd: inner, level: 1)
    if kind.hasPrefix("window") {
      pack = .init(
        path: "python.pack", method: 93,
        compressed: Self.rawZstdFrame(inner, windowLog: kind == "window too large" ? 25 : 24),
        of: inner)
    }
    var files = [pack]
    if kind == "zstd elsewhere" { files.append(try .init(path: "data/x", zstd: Data("x".utf8), level: 1)) }
    var payload = try ZipMerge.merge([], adding: files)
    let entry = try #require(try ZipIndex.entries(payload).first { $0.name == "python.pack" })
    if kind == "damaged stream" {
      let at = payload.startIndex + entry.dataEnd - entry.compressedSize / 2
      payload[at] ^= 0xFF
    }
    if kind == "bomb" {
      // The pack declares fewer bytes than its frame holds: decoding stops
      // there, however much more the frame would give.
      let record = try #require(Self.find(Data("python.pack".utf8), in: payload, after: entry.dataEnd)) - 46
      for at in [payload.startIndex + entry.localOffset + 22, record + 24] {
        payload.replaceSubrange(
          at..<at + 4, with: withUnsafeBytes(of: UInt32(inner.count / 2).littleEndian) { Data($0) })
      }
    }
    try Self.fuseRuntimeOnly(payload, to: dir + "/bundle", in: dir)
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir)
    defer { #expect(!FileManager.default.fileExists(atPath: dir + "/evil.txt")) }
    if kind == "valid" || kind == "window at the limit" {
      // The empty "interpreter" cannot run, but the pack was extracted.
      #expect(r.status == 126 && !r.stderr.contains("corrupt"), "\(kind): \(r.status) \(r.stderr)")
      #expect(left.contains { $0.hasSuffix("/python/lib/data.txt") }, "\(left)")
      return
    }
    #expect(r.status == 125, "\(kind): \(r.status) \(r.stderr)")
    #expect(
      r.stderr.hasPrefix("lacewing: corrupt bundle: ") && r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(kind) left \(left)")
  }

  /// A runtime-only bundle of `payload` (a packed runtime whose
  /// "interpreter" is python/bin/cat), fused by the real fuse-stub.
  static func fuseRuntimeOnly(_ payload: Data, to bundle: String, in dir: String) throws {
    try payload.write(to: URL(fileURLWithPath: dir + "/p.zip"))
    try writeText(#"[{"path": "python/bin/cat", "size": 0}]"#, to: dir + "/index.json")
    try BundleManifest(interpreter: "python/bin/cat", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/m.json"))
    let fused = try run(
      try Repo.tool("fuse-stub"),
      [
        "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--manifest", dir + "/m.json",
        "--runtime-index", dir + "/index.json", "--shared-runtime", "--output", bundle,
      ])
    guard fused.status == 0 else { throw TestSetupError("fuse-stub failed: \(fused.stderr)") }
  }

  /// `data` as one zstd frame of raw blocks whose header asks for a window
  /// of 1 << `windowLog` bytes (RFC 8878: no content size, no checksum).
  static func rawZstdFrame(_ data: Data, windowLog: Int) -> Data {
    var frame = Data([0x28, 0xB5, 0x2F, 0xFD, 0x00, UInt8((windowLog - 10) << 3)])
    var rest = data[...]
    repeat {
      let block = rest.prefix(1 << 17)
      rest = rest.dropFirst(block.count)
      let header = block.count << 3 | (rest.isEmpty ? 1 : 0)
      frame.append(contentsOf: [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16)])
      frame.append(block)
    } while !rest.isEmpty
    return frame
  }

  /// The stem's memory does not grow with the runtime: a pack of 96 MiB
  /// extracts with 64 MiB of address space (it once held the whole layer).
  @Test func aLargePackExtractsInBoundedMemory() throws {
    let dir = try makeTemporaryDirectory("bounded-pack")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let big = 96 << 20
    let inner = try ZipMerge.archive(inOrder: [
      .init(path: Self.cat.name, data: Data(), mode: 0o755), .init(path: "python/zeros", data: Data(count: big)),
    ])
    let payload = try ZipMerge.merge([], adding: [try .init(path: "python.pack", zstd: inner, level: 1)])
    try Self.fuseRuntimeOnly(payload, to: dir + "/bundle", in: dir)
    let sandbox = dir + "/sandbox"
    try FileManager.default.createDirectory(atPath: sandbox + "/cache", withIntermediateDirectories: true)
    let r = try run(
      "/usr/bin/prlimit", ["--as=\(64 << 20)", "--", dir + "/bundle"],
      environment: ["LACEWING_CACHE_DIR": sandbox + "/cache", "TMPDIR": sandbox, "PATH": "/usr/bin:/bin"])
    // The empty "interpreter" cannot run; everything before it worked.
    #expect(r.status == 126 && !r.stderr.contains("corrupt"), "\(r.status) \(r.stderr)")
    let zeros = (FileManager.default.enumerator(atPath: sandbox + "/cache")?.allObjects as? [String] ?? [])
      .first { $0.hasSuffix("python/zeros") }
    let size = try zeros.map {
      try FileManager.default.attributesOfItem(atPath: sandbox + "/cache/" + $0)[.size] as? Int
    }
    #expect(size == big, "\(r.stderr)")
  }

  /// The config's runtime digest becomes a directory name: anything but 64
  /// lowercase hex digits is refused before a path is built from it.
  @Test(arguments: [
    "../../../tmp/lacewing-evil", String(repeating: "A", count: 64), "abc", String(repeating: "0", count: 63) + "/",
  ])
  func aRuntimeDigestThatIsNotHexIsRefused(digest: String) throws {
    let dir = try makeTemporaryDirectory("hostile-digest")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello])
    let config = Fuser.Config(interpreter: Self.cat.name, main: Self.hello.name, runtime: digest)
    let bundle = try Fuser.fuse(
      stem: try readFile(try Repo.tool("lacewing-stem")), payload: try readFile(dir + "/p.zip"), config: config)
    try writeExecutable(bundle, to: dir + "/bundle")
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir)
    #expect(r.status == 125 && r.stderr.contains("config runtime digest is not 64 hex digits"), "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(left)")
    #expect(!FileManager.default.fileExists(atPath: "/tmp/lacewing-evil"))
  }

  static func find(_ needle: Data, in data: Data, after: Int) -> Int? {
    data.range(of: needle, in: (data.startIndex + after)..<data.endIndex)?.lowerBound
  }

  /// A runtime entry is shared by every bundle naming its digest, so the
  /// stem checks the layer against the digest before publishing it: a
  /// bundle claiming another runtime's digest plants nothing; the bundle
  /// that owns the digest then extracts its own.
  @Test func aBundleLyingAboutItsRuntimeDigestPlantsNothing() throws {
    let dir = try makeTemporaryDirectory("lying-runtime")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func payload(_ runtime: String) throws -> Data {
      try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello, ("python/lib/data.txt", runtime, 0o100644)])
      return try readFile(dir + "/p.zip")
    }
    let honest = try payload("the real runtime\n")
    let liar = try payload("another runtime\n")
    var config = Fuser.Config(interpreter: Self.cat.name, main: Self.hello.name)
    config.runtime = try Fuser.runtimeDigest(honest)
    let stem = try readFile(try Repo.tool("lacewing-stem"))
    try writeExecutable(try Fuser.fuse(stem: stem, payload: liar, config: config), to: dir + "/liar")
    try writeExecutable(try Fuser.fuse(stem: stem, payload: honest, config: config), to: dir + "/honest")
    let (lied, left) = try Self.runSandboxed(dir + "/liar", in: dir)
    #expect(lied.status == 125 && lied.stderr.contains("runtime digest"), "\(lied.status) \(lied.stderr)")
    #expect(left == ["cache", "tmp"], "\(left)")
    // Control: the same check passes the layer the digest was made from
    // (whose empty "interpreter" then cannot run).
    let sandbox = dir + "/sandbox"
    let r = try run(
      dir + "/honest", [], environment: ["LACEWING_CACHE_DIR": sandbox + "/cache", "PATH": "/usr/bin:/bin"])
    #expect(r.status == 126 && !r.stderr.contains("corrupt"), "\(r.status) \(r.stderr)")
    let planted = try FileManager.default.contentsOfDirectory(atPath: sandbox + "/cache").filter { $0.contains("-rt-") }
    #expect(planted.count == 1)
    #expect(
      try String(contentsOfFile: "\(sandbox)/cache/\(planted[0])/python/lib/data.txt", encoding: .utf8)
        == "the real runtime\n")
  }

  @Test func duplicateNamesAreRefused() throws {
    let dir = try makeTemporaryDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello, (Self.hello.name, "second\n", 0o100644)])
    // fuse-stub refuses such a payload itself; a hostile writer fuses its own.
    let config = Fuser.Config(interpreter: Self.cat.name, main: Self.hello.name)
    let bundle = try Fuser.fuse(
      stem: try readFile(try Repo.tool("lacewing-stem")), payload: try readFile(dir + "/p.zip"), config: config)
    try writeExecutable(bundle, to: dir + "/bundle")
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir)
    #expect(r.status == 125 && r.stderr.contains("appears twice"), "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(left)")
  }

  @Test func declaredSizesBeyondTheDataAreRefused() throws {
    let dir = try makeTemporaryDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello])
    // Make hello.txt's central-directory entry claim ~3 GB uncompressed.
    var zip = try readFile(dir + "/p.zip")
    let name = Data(Self.hello.name.utf8)
    var i = 0
    while i + 46 < zip.count {
      if zip[i] == 0x50, zip[i + 1] == 0x4B, zip[i + 2] == 1, zip[i + 3] == 2,
        zip[(i + 46)..<(i + 46 + name.count)] == name
      {
        zip.replaceSubrange((i + 24)..<(i + 28), with: [0x00, 0x00, 0x00, 0xB0])
      }
      i += 1
    }
    try zip.write(to: URL(fileURLWithPath: dir + "/p.zip"))
    try Self.fuse(dir + "/p.zip", to: dir + "/bundle", in: dir)
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir)
    #expect(r.status == 125, "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(left)")
  }

  @Test func aZipBombIsRefusedBeforeWritingAnything() throws {
    let dir = try makeTemporaryDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // 64 MiB of zeros deflates to ~64 KiB; the limit says 16 MiB.
    try Self.writeZip(dir + "/p.zip", [Self.cat, Self.hello, ("data/zeros", "ZEROS:\(64 << 20)", 0o100644)])
    try Self.fuse(dir + "/p.zip", to: dir + "/bundle", in: dir)
    let (r, left) = try Self.runSandboxed(dir + "/bundle", in: dir, env: ["LACEWING_MAX_EXTRACT_BYTES": "\(16 << 20)"])
    #expect(r.status == 125 && r.stderr.contains("expands past the limit"), "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "\(left)")
  }

  /// Every truncation of a small real bundle's payload, config and trailer,
  /// and every single-byte flip of its central directory, config and trailer.
  @Test func everyTruncationAndTrailingFlipOfASmallBundle() throws {
    let dir = try makeTemporaryDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeCatInterpreter(to: dir + "/tree/" + Self.cat.name)
    try writeText("hello\n", to: dir + "/tree/" + Self.hello.name)
    _ = try run("zip", ["-q", "-r", "-9", dir + "/p.zip", "."], directory: dir + "/tree")
    try Self.fuse(dir + "/p.zip", to: dir + "/bundle", in: dir)
    let good = try readFile(dir + "/bundle")
    let stemSize = try readFile(try Repo.tool("lacewing-stem")).count
    let path = dir + "/variant"

    func attempt(_ data: Data) throws -> (ProcessResult, [String]) {
      try writeExecutable(data, to: path)
      return try Self.runSandboxed(path, in: dir)
    }

    // Truncations of a bundle with a small payload, at every length down to
    // the stem's own code (the kernel refuses a truncated ELF before the
    // stem runs).
    try FileManager.default.createDirectory(atPath: dir + "/small", withIntermediateDirectories: true)
    try writeText("hello\n", to: dir + "/small/" + Self.hello.name)
    try writeText(String(repeating: "more text ", count: 50), to: dir + "/small/data/more.txt")
    try writeCatInterpreter(to: dir + "/small/" + Self.cat.name)
    _ = try run("zip", ["-q", "-r", dir + "/small.zip", "."], directory: dir + "/small")
    try Self.fuse(dir + "/small.zip", to: dir + "/small-bundle", in: dir)
    let small = try readFile(dir + "/small-bundle")
    var truncationFailures: [Int] = []
    for length in stride(from: small.count - 1, through: stemSize, by: -1) {
      let (r, left) = try attempt(small.prefix(length))
      if r.status != 125 || r.stdout != "" || left != ["cache", "tmp"] { truncationFailures.append(length) }
    }
    #expect(small.count - stemSize > 500)
    #expect(truncationFailures.isEmpty, "lengths not refused cleanly: \(truncationFailures.prefix(10))")

    // Flips in the last 400 bytes (central directory, end record, config,
    // trailer): refused, or harmless (an unused field) with correct output.
    var flipFailures: [String] = []
    for back in 1...min(400, good.count - stemSize) {
      var d = good
      d[d.count - back] ^= 0xFF
      let (r, _) = try attempt(d)
      let ok =
        (r.status == 125 && r.stderr.hasPrefix("lacewing: corrupt bundle: "))
        || (r.status == 0 && r.stdout == "hello\n")
      if !ok || r.signal != nil { flipFailures.append("\(back): \(r.status) \(r.stderr)") }
    }
    #expect(flipFailures.isEmpty, "\(flipFailures.prefix(5))")
  }
}
