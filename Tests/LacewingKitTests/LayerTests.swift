import Foundation
import LacewingFormat
import LacewingKit
import LacewingTestSupport
import Testing

/// The runtime/test layer split: merging zips as stored, the runtime key,
/// the packed layer and the size report. Zips are written by Info-ZIP and
/// read back by Info-ZIP and libzip, so a merge that is not a valid zip fails.
@Suite struct ZipMergeTests {
  /// A zip of `files` written by Info-ZIP, deflated.
  static func infoZip(_ files: [String: String], in dir: String, name: String) throws -> Data {
    let tree = dir + "/" + name + ".tree"
    for (path, text) in files { try writeText(text, to: tree + "/" + path) }
    let zip = dir + "/" + name + ".zip"
    let r = try run("zip", ["-q", "-r", "-9", "-D", "-X", zip] + files.keys.sorted(), directory: tree)
    guard r.status == 0 else { throw TestSetupError("zip failed: \(r.stderr)") }
    return try readFile(zip)
  }

  @Test func mergedZipsAreValidSortedAndUnchanged() throws {
    let dir = try makeTemporaryDirectory("merge")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let runtime = try Self.infoZip(
      ["python/b.txt": String(repeating: "runtime ", count: 300), "python/a.txt": "a"], in: dir, name: "rt")
    let own = try Self.infoZip(["ext/x.so": "ext", "data/d.json": "{}"], in: dir, name: "own")
    let pyz = Data("PK not really a zip, stored as it is".utf8)
    let merged = try ZipMerge.merge([("rt", runtime), ("own", own)], adding: [.init(path: "test/t.pyz", data: pyz)])
    try merged.write(to: URL(fileURLWithPath: dir + "/merged.zip"))

    let check = try run("unzip", ["-t", dir + "/merged.zip"])
    #expect(check.status == 0, "\(check.output)")
    let entries = try ZipContents.read(dir + "/merged.zip")
    #expect(entries.map(\.name) == ["data/d.json", "ext/x.so", "python/a.txt", "python/b.txt", "test/t.pyz"])
    #expect(entries.first { $0.name == "test/t.pyz" }?.data == pyz)
    #expect(entries.first { $0.name == "python/b.txt" }?.data == Data(String(repeating: "runtime ", count: 300).utf8))

    // Stored bytes travel unchanged: the runtime key is the same whatever
    // joins the runtime layer.
    let other = try ZipMerge.merge([("rt", runtime)], adding: [.init(path: "test/u.pyz", data: Data("u".utf8))])
    let key = try Fuser.runtimeDigest(merged)
    let otherKey = try Fuser.runtimeDigest(other)
    #expect(key != nil && key == otherKey)
    #expect(key?.count == 64)
    #expect(try Fuser.runtimeDigest(own) == nil)
    // The directory records count too: a mode is there and nowhere else.
    var remoded = runtime
    // The name's last copy is in its directory record, 46 bytes in.
    let record = try #require(runtime.range(of: Data("python/a.txt".utf8), options: .backwards)).lowerBound - 46
    remoded[record + 40] ^= 0x40  // the mode's owner-execute bit (0o100)
    #expect(try Fuser.runtimeDigest(remoded) != Fuser.runtimeDigest(runtime))
  }

  @Test func aNameInTwoLayersIsRefusedNamingBoth() throws {
    let dir = try makeTemporaryDirectory("merge-dup")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let a = try Self.infoZip(["data/x": "1"], in: dir, name: "a")
    let b = try Self.infoZip(["data/x": "2"], in: dir, name: "b")
    #expect {
      try ZipMerge.merge([("first.zip", a), ("second.zip", b)])
    } throws: { error in
      "\(error)".contains("data/x is in both first.zip and second.zip")
    }
  }

  @Test func aPackedLayerRoundTripsThroughZstd() throws {
    let text = Data(String(repeating: "python/lib/python3.11/os.pyc ", count: 2000).utf8)
    let packed = try ZipMerge.StoredFile(path: "python.pack", zstd: text, level: 1)
    let zip = try ZipMerge.merge([], adding: [packed])
    let entry = try #require(try ZipIndex.entries(zip).first)
    #expect(entry.name == "python.pack" && entry.size == text.count && entry.compressedSize < text.count / 10)
    let frame = zip[(zip.startIndex + entry.dataEnd - entry.compressedSize)..<(zip.startIndex + entry.dataEnd)]
    #expect(try Zstd.decompress(frame, size: text.count) == text)
    #expect(throws: LacewingError.self) { try Zstd.decompress(Data("not zstd".utf8), size: 3) }
    #expect(throws: LacewingError.self) { try Zstd.decompress(frame, size: text.count - 1) }
  }

  /// The filter is its own inverse on real machine code, whole or fed in
  /// pieces of any size (the stem decodes it as zstd hands it out), and it
  /// changes the code: a filter that did nothing would pass the rest.
  @Test func theX86FilterUndoesItselfInAnyPieces() throws {
    let elf = try Data(contentsOf: URL(fileURLWithPath: "/bin/ls"))
    let encoded = X86Filter.apply(elf, encode: true)
    #expect(encoded != elf && encoded.count == elf.count)
    #expect(X86Filter.apply(encoded, encode: false) == elf)
    for piece in [1, 7, 8, 4093] {
      var bytes = [UInt8](encoded)
      var done = 0
      while done < bytes.count {
        // Like the stem: the pending tail is offered again with more.
        let end = min(bytes.count, done + max(piece, 8))
        let last = end == bytes.count
        let n = bytes.withUnsafeMutableBufferPointer {
          lw_x86_filter($0.baseAddress! + done, end - done, UInt64(done), 0, last ? 1 : 0)
        }
        #expect(n > 0 || last)
        done += n
      }
      #expect(Data(bytes) == elf, "pieces of \(piece)")
    }
  }

  /// The stem's decoder is generated from the vendored library
  /// (build/zstd-decoder.sh); an update to one must reach the other.
  @Test func theStemsDecoderIsTheVendoredOne() throws {
    let dir = try makeTemporaryDirectory("zstd-decoder")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try run("/bin/bash", [Repo.root + "/build/zstd-decoder.sh", dir + "/zstd_decoder.inc"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(
      try readFile(dir + "/zstd_decoder.inc") == readFile(Repo.root + "/Sources/StemSupport/zstd_decoder.inc"),
      "Sources/StemSupport/zstd_decoder.inc is stale: run build/zstd-decoder.sh")
  }
}

@Suite struct SizeReportTests {
  @Test(arguments: [
    ("python/bin/python3.11", "interpreter"),
    ("python/lib/python3.11/os.pyc", "stdlib"),
    ("python/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "lib-dynload"),
    ("python/lib/libssl.so.3", "shared libraries"),
    ("lib/libfuchsia_controller_internal.so", "shared libraries"),
    ("ext/fidl_codec.so", "extensions"),
    ("test/rtc_test.pyz", "test code"),
    ("fidl_ir/fuchsia.io.fidl.json", "data"),
    ("python.pack", "runtime pack (zstd)"),
  ])
  func categories(path: String, category: String) {
    #expect(SizeReport.category(of: path) == category)
  }

  /// The overhead is counted from the zip's headers and directory, the
  /// config and the trailer, so a file with bytes none of them explain
  /// (or missing some) is an error, not a larger or smaller remainder.
  @Test func aBundleTheCategoriesDoNotExplainIsRefused() throws {
    let zip = try ZipMerge.merge([], adding: [.init(path: "test/t.pyz", data: Data(repeating: 7, count: 5000))])
    let exact = 1000 + zip.count + 150 + 50
    for total in [exact + 1, exact - 1] {
      #expect(throws: LacewingError.self, "\(total - exact) bytes") {
        try SizeReport(
          bundle: "b", stemBytes: 1000, payload: zip, configBytes: 150, trailerBytes: 50, totalBytes: total)
      }
      do {
        _ = try SizeReport(
          bundle: "b", stemBytes: 1000, payload: zip, configBytes: 150, trailerBytes: 50, totalBytes: total)
      } catch {
        #expect(
          error.message.hasPrefix("the size report of b does not add up:")
            && error.message.contains("make \(exact) bytes, the bundle has \(total)"), "\(error.message)")
      }
    }
    #expect(
      try SizeReport(bundle: "b", stemBytes: 1000, payload: zip, configBytes: 150, trailerBytes: 50, totalBytes: exact)
        .totalBytes == exact)
  }

  @Test func theCategoriesAddUpToTheBundle() throws {
    let pyz = Data(repeating: 7, count: 5000)
    let zip = try ZipMerge.merge(
      [], adding: [.init(path: "test/t.pyz", data: pyz), .init(path: "python/bin/python3.11", data: Data(count: 100))])
    let report = try SizeReport(
      bundle: "b", stemBytes: 1000, payload: zip, configBytes: 150, trailerBytes: 50,
      totalBytes: 1000 + zip.count + 200)
    #expect(report.categories.reduce(0) { $0 + $1.bytes } == report.totalBytes)
    let entries = try ZipIndex.entries(zip)
    #expect(
      report.categories.first { $0.name == "zip directory, config, trailer" }?.bytes
        == zip.count - entries.reduce(0) { $0 + $1.compressedSize } + 200)
    #expect(report.categories.first { $0.name == "test code" }?.bytes == 5000)
    #expect(report.largest.first?.path == "test/t.pyz")
    #expect(report.table.contains("test code"))
    #expect(String(decoding: report.json, as: UTF8.self).contains("\"uncompressed_bytes\""))
  }
}

@Suite struct CollectorLayerTests {
  @Test func aRuntimeLayerRefusesTestInputs() throws {
    var options = Collector.Options(python: "/usr/bin/python3.11")
    options.layer = .runtime
    // The control: the same runtime layer with no test input collects.
    #expect(try Collector.collect(options).manifest.interpreter == "python/bin/python3.11")
    // Each kind of test input alone is refused, with the reason.
    let inputs: [(String, (inout Collector.Options) -> Void)] = [
      ("data", { $0.data = ["x=data/x"] }),
      ("extensions", { $0.extensions = ["fidl_codec.so"] }),
      ("extensionLists", { $0.extensionLists = ["extensions.json"] }),
      ("testLists", { $0.testLists = ["tests.json"] }),
      ("wheelLists", { $0.wheelLists = ["wheels.json"] }),
    ]
    for (name, give) in inputs {
      var withInput = options
      give(&withInput)
      do {
        _ = try Collector.collect(withInput)
        Issue.record("a runtime layer with \(name) was collected")
      } catch {
        #expect(error.code == .badInput, "\(name)")
        #expect(
          error.message == "a runtime layer holds no tests, extensions or data; collect them in a test layer",
          "\(name): \(error.message)")
      }
    }
  }

  @Test func aTestLayerNeedsTheRuntimeManifest() {
    var options = Collector.Options(python: "")
    options.layer = .test
    #expect(throws: LacewingError.self) { try Collector.collect(options) }
  }
}
