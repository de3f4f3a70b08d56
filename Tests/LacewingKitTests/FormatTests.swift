import Foundation
import LacewingFormat
import LacewingTestSupport
import Testing

@testable import LacewingKit

@Suite struct DigestTests {
  @Test func sha256MatchesFIPSVectors() {
    #expect(hexString(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(
      hexString(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    let twoBlocks = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
    #expect(hexString(SHA256.hash(twoBlocks)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }

  @Test func sha256IsIndependentOfHowBytesAreFed() {
    let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    var s = SHA256()
    s.update(data[0..<1])
    s.update(data[1..<130])
    s.update(data[130...])
    #expect(s.finalize() == SHA256.hash(data))
  }

  @Test func sha256AgreesWithSha256sum() throws {
    let file = "/usr/bin/python3.11"
    let expected = try run("sha256sum", [file]).stdout.prefix(64)
    #expect(hexString(SHA256.hash(try readFile(file))) == String(expected))
  }

  @Test func crc32IsZipsCRC() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
  }
}

/// `body` bytes then an empty central directory's end record pointing at
/// their end: the smallest payload fuse-stub accepts.
func fakeZip(body: Int) -> Data {
  var d = Data(repeating: 0x55, count: body)
  d += [0x50, 0x4B, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
  d += withUnsafeBytes(of: UInt32(body).littleEndian) { Data($0) }
  d += [0, 0]
  return d
}

@Suite struct TrailerTests {
  let config = Fuser.Config(interpreter: "python/bin/python3.11", main: "test/t.pyz", env: ["FIDL_IR_PATH=fidl_ir"])

  @Test func layoutMatchesTheSharedHeader() throws {
    let stem = Data(repeating: 0xAA, count: 100)
    let payload = fakeZip(body: 311)
    let bundle = try Fuser.fuse(stem: stem, payload: payload, config: config)
    let configBytes = Data("interpreter\0python/bin/python3.11\0main\0test/t.pyz\0env\0FIDL_IR_PATH=fidl_ir\0".utf8)
    #expect(bundle.count == 100 + 333 + configBytes.count + Int(LW_TRAILER_SIZE))
    #expect(bundle.suffix(8) == Data(LW_TRAILER_MAGIC.utf8))
    var t = lw_trailer()
    withUnsafeMutableBytes(of: &t) { $0.copyBytes(from: bundle.suffix(Int(LW_TRAILER_SIZE))) }
    #expect(t.payload_offset == 100 && t.payload_size == 333)
    #expect(t.config_offset == 433 && t.config_size == UInt64(configBytes.count))
    #expect(bundle[433..<(433 + configBytes.count)] == configBytes)
    #expect(t.format_version == LW_FORMAT_VERSION && t.trailer_size == LW_TRAILER_SIZE)
    #expect(t.config_crc32 == CRC32.checksum(configBytes))
    #expect(t.index_offset == 311 && t.index_crc32 == CRC32.checksum(payload.suffix(22)))
    let span = bundle.suffix(Int(LW_TRAILER_SIZE)).prefix(Int(LW_TRAILER_CRC_SPAN))
    #expect(t.trailer_crc32 == CRC32.checksum(span))
    let digest = withUnsafeBytes(of: t.digest) { Array($0) }
    #expect(digest == SHA256.hash(payload + configBytes))
  }

  @Test func theDigestDependsOnPayloadAndConfigOnly() throws {
    let a = try Fuser.fuse(stem: Data([1]), payload: fakeZip(body: 2), config: config)
    let b = try Fuser.fuse(stem: Data([2, 2, 2]), payload: fakeZip(body: 2), config: config)
    let c = try Fuser.fuse(stem: Data([1]), payload: fakeZip(body: 3), config: config)
    #expect(a.suffix(56).prefix(32) == b.suffix(56).prefix(32))
    #expect(a.suffix(56).prefix(32) != c.suffix(56).prefix(32))
  }

  @Test func aPayloadThatIsNotAZipIsRefused() {
    #expect(throws: LacewingError.self) {
      try Fuser.fuse(stem: Data(), payload: Data("not a zip".utf8), config: config)
    }
  }

  @Test func validationRefusesEnvThatEscapesTheRoot() {
    let m: Set = ["python/bin/python3.11", "test/t.pyz"]
    #expect(throws: Never.self) { try Fuser.validate(config, against: m) }
    for bad in ["X=/etc", "X=../up", "=x", "NO_EQUALS"] {
      var c = config
      c.env = [bad]
      #expect(throws: LacewingError.self) { try Fuser.validate(c, against: m) }
    }
    var missing = config
    missing.main = "test/other.pyz"
    #expect(throws: LacewingError.self) { try Fuser.validate(missing, against: m) }
  }

  @Test func validationRefusesTestsThatCannotBeChosen() {
    let m: Set = ["python/bin/python3.11", "test/a.pyz", "test/b.pyz"]
    var multi = config
    multi.main = nil
    multi.tests = [("a", "test/a.pyz"), ("b", "test/b.pyz")]
    #expect(throws: Never.self) { try Fuser.validate(multi, against: m) }
    for bad in ["", "x/y", "-a", "a=b"] {
      var c = multi
      c.tests[0].name = bad
      #expect(throws: LacewingError.self, "\(bad)") { try Fuser.validate(c, against: m) }
    }
    var twice = multi
    twice.tests[1].name = "a"
    #expect(throws: LacewingError.self) { try Fuser.validate(twice, against: m) }
    var both = multi
    both.main = "test/a.pyz"
    #expect(throws: LacewingError.self) { try Fuser.validate(both, against: m) }
    var clash = multi
    clash.env = ["X=a", "X=b"]
    #expect(throws: LacewingError.self) { try Fuser.validate(clash, against: m) }
  }
}

/// What a bundle needs of its host, from the allowlist check's record
/// (`AllowlistCheck.HostNeeds`) into the config the stem reads and the size
/// report; what no host could have is refused at build time.
@Suite struct HostNeedsTests {
  let needs = AllowlistCheck.HostNeeds(
    glibc: .init(version: "2.31", library: "libm.so.6", neededBy: "python/lib/python3.11/lib-dynload/math.so"),
    loaders: ["python/bin/python3.11": "/lib64/ld-linux-x86-64.so.2", "site/pkg/tool": "/lib/ld-other.so.1"])

  @Test func theInterpretersLoaderAndTheFloorGoIntoTheConfig() throws {
    var config = Fuser.Config(interpreter: "python/bin/python3.11", main: "test/t.pyz")
    config.require(needs)
    #expect(
      config.encoded
        == Data(
          ("interpreter\0python/bin/python3.11\0main\0test/t.pyz\0loader\0/lib64/ld-linux-x86-64.so.2\0"
            + "glibc\0" + "2.31\0glibc_library\0libm.so.6\0").utf8))
    #expect([LW_CONFIG_LOADER, LW_CONFIG_GLIBC, LW_CONFIG_GLIBC_LIBRARY] == ["loader", "glibc", "glibc_library"])
    #expect(throws: Never.self) { try Fuser.validate(config, against: nil) }
    // Another program's loader is not the interpreter's: a script
    // interpreter has none, and the floor stays.
    var script = Fuser.Config(interpreter: "python/bin/cat", main: "test/t.pyz")
    script.require(needs)
    #expect(script.loader == nil && script.glibc?.version == "2.31" && script.glibc?.library == "libm.so.6")
    #expect(!String(decoding: script.encoded, as: UTF8.self).contains("loader"))
    // No needs recorded (a static interpreter, no host library): no keys.
    var none = Fuser.Config(interpreter: "python/bin/python3.11", main: "test/t.pyz")
    none.require(AllowlistCheck.HostNeeds())
    #expect(none.encoded == Data("interpreter\0python/bin/python3.11\0main\0test/t.pyz\0".utf8))
  }

  @Test func theRecordRoundTripsThroughItsFile() throws {
    let dir = try makeTemporaryDirectory("host-needs")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try OutputFile.write(needs.json, to: dir + "/needs.json")
    #expect(try AllowlistCheck.HostNeeds.read(dir + "/needs.json") == needs)
    #expect(readText(dir + "/needs.json").contains(#""version" : "2.31""#), "\(readText(dir + "/needs.json"))")
    try writeText("{\"loaders\": 3}", to: dir + "/bad.json")
    #expect(throws: LacewingError.self) { try AllowlistCheck.HostNeeds.read(dir + "/bad.json") }
  }

  @Test func whatNoHostCouldHaveIsRefused() {
    var config = Fuser.Config(interpreter: "python/bin/python3.11", main: "test/t.pyz")
    for version in ["2.31", "2.2.5", "10.0"] {
      config.glibc = (version, "libc.so.6")
      #expect(throws: Never.self, "\(version)") { try Fuser.validate(config, against: nil) }
    }
    for version in ["", "2", "2.", ".31", "2..31", "2.3.1.1", "2.x", "2.31 ", "12345.1", "२.३"] {
      config.glibc = (version, "libc.so.6")
      #expect(throws: LacewingError.self, "\(version)") { try Fuser.validate(config, against: nil) }
    }
    for library in ["", "/lib/libc.so.6", "../libc.so.6", ".", ".."] {
      config.glibc = ("2.31", library)
      #expect(throws: LacewingError.self, "\(library)") { try Fuser.validate(config, against: nil) }
    }
    config.glibc = nil
    config.loader = "ld-linux-x86-64.so.2"
    #expect(throws: LacewingError.self) { try Fuser.validate(config, against: nil) }
  }

  @Test func theSizeReportSaysWhatTheBundleNeeds() throws {
    let zip = try ZipMerge.merge([], adding: [.init(path: "test/t.pyz", data: Data(repeating: 7, count: 50))])
    var config = Fuser.Config(interpreter: "python/bin/python3.11", main: "test/t.pyz")
    config.require(needs)
    let report = try SizeReport(
      bundle: "b", stemBytes: 10, payload: zip, configBytes: 5, trailerBytes: 5, totalBytes: 20 + zip.count,
      host: config.hostNeeds)
    #expect(
      report.table.split(separator: "\n").dropFirst().first
        == "needs glibc 2.31 or newer (GLIBC_2.31 in libm.so.6) and the loader /lib64/ld-linux-x86-64.so.2",
      "\(report.table)")
    let json = try JSONSerialization.jsonObject(with: report.json) as? [String: Any]
    #expect(
      json?["host"] as? [String: String]
        == ["glibc": "2.31", "glibc_library": "libm.so.6", "loader": "/lib64/ld-linux-x86-64.so.2"], "\(json ?? [:])")
    let bare = try SizeReport(
      bundle: "b", stemBytes: 10, payload: zip, configBytes: 5, trailerBytes: 5, totalBytes: 20 + zip.count,
      host: Fuser.Config(interpreter: "python/bin/cat", main: nil).hostNeeds)
    #expect(!bare.table.contains("needs") && !String(decoding: bare.json, as: UTF8.self).contains("\"host\""))
  }
}

@Suite struct ELFTests {
  @Test func readsTheInterpretersDynamicSection() throws {
    let elf = try ELFFile(try readFile("/usr/bin/python3.11"), name: "python3.11")
    #expect(elf.isDynamic && elf.hasInterpreter)
    #expect(elf.interpreter == "/lib64/ld-linux-x86-64.so.2")
    #expect(elf.needed.contains("libexpat.so.1"))
    #expect(elf.needed.contains("libc.so.6"))
    #expect(elf.versionNeeds["libc.so.6", default: []].contains { $0.hasPrefix("GLIBC_2.") })
    #expect(elf.maxGlibcVersion != nil)
  }

  @Test func readsSonameAndRunpathOfASharedLibrary() throws {
    let lib = try ELFFile(try readFile("/usr/lib/x86_64-linux-gnu/libzip.so.4"), name: "libzip")
    #expect(lib.soname == "libzip.so.4")
    #expect(lib.interpreter == nil)
    #expect(lib.needed.contains("libz.so.1"))
  }

  @Test func theStemIsStatic() throws {
    let stem = try ELFFile(try readFile(try Repo.tool("lacewing-stem")), name: "stem")
    #expect(!stem.isDynamic && stem.needed.isEmpty)
  }

  @Test func refusesWhatIsNotELF() {
    #expect(throws: LacewingError.self) { try ELFFile(Data("#!/bin/sh\n".utf8), name: "script") }
    var truncated = (try? readFile("/usr/bin/python3.11")) ?? Data()
    truncated = truncated.prefix(200)
    #expect(throws: LacewingError.self) { try ELFFile(truncated, name: "truncated") }
  }

  @Test func glibcVersionsOrderNumerically() {
    let a = GlibcVersion(symbolVersion: "GLIBC_2.9")!
    let b = GlibcVersion(symbolVersion: "GLIBC_2.34")!
    #expect(a < b)
    #expect(GlibcVersion(symbolVersion: "GLIBC_PRIVATE") == nil)
  }
}
