import Foundation
import LacewingTestSupport
import Testing

@testable import LacewingKit

@Suite struct DepfileTests {
  @Test func firstPathIsExactlyTheOutputAndInputsAreSortedUnique() {
    let d = Depfile(output: "gen/x/m.json", inputs: ["/usr/lib/b.py", "../../a.py", "/usr/lib/b.py"])
    #expect(d.text == "gen/x/m.json: \\\n  ../../a.py \\\n  /usr/lib/b.py\n")
  }

  @Test func escapesWhatNinjaUnescapes() {
    #expect(Depfile.escape("a b$c#d") == "a\\ b$$c\\#d")
  }

  @Test func writesAndLeavesAnIdenticalFileUntouched() throws {
    let dir = try makeTemporaryDirectory("depfile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/out.d"
    let d = Depfile(output: "out", inputs: ["in"])
    try d.write(to: path)
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1000)], ofItemAtPath: path)
    try d.write(to: path)
    let mtime = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
    #expect(mtime == Date(timeIntervalSince1970: 1000))
    #expect(readText(path) == d.text)
  }
}

@Suite struct OutputFileTests {
  @Test func rewritesChangedContentAtomicallyWithMode() throws {
    let dir = try makeTemporaryDirectory("output")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/sub/bundle"
    #expect(try OutputFile.write(Data("one".utf8), to: path, mode: 0o755))
    #expect(try OutputFile.write(Data("one".utf8), to: path, mode: 0o755) == false)
    #expect(try OutputFile.write(Data("two".utf8), to: path, mode: 0o755))
    #expect(readText(path) == "two")
    let perms = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(perms == 0o755)
    // No temp file is left next to the output.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub") == ["bundle"])
  }

  @Test func failureNamesTheFileAndWhatToDo() throws {
    // A directory that cannot be made: the error names it.
    do {
      try OutputFile.write(Data(), to: "/proc/no/such/dir/file")
      Issue.record("expected an error")
    } catch {
      #expect(error.code == .io)
      #expect(error.message.hasPrefix("cannot create directory /proc/no/such/dir: "), "\(error.message)")
    }
    // A directory that exists but takes no file (not even root may create
    // one in /proc/self): the error names the file and says what to check.
    do {
      try OutputFile.write(Data("x".utf8), to: "/proc/self/bundle.out")
      Issue.record("expected an error")
    } catch {
      #expect(error.code == .io)
      #expect(error.message.hasPrefix("cannot write /proc/self/.bundle.out.tmp-"), "\(error.message)")
      #expect(
        error.message.hasSuffix(": check that /proc/self is writable and the disk is not full"), "\(error.message)")
    }
  }
}

@Suite struct ManifestTests {
  @Test func roundTripsAndEncodesDeterministically() throws {
    let m = BundleManifest(
      interpreter: "python/bin/python3.11", compiler: "/usr/bin/python3.11", modulePath: ["python/lib/python3.11"],
      entries: [
        .init(
          path: "python/bin/python3.11", kind: .interpreter, source: "/usr/bin/python3.11", mode: 0o755,
          runpath: "$ORIGIN/../lib"),
        .init(path: "python/bin/python3.11._pth", kind: .config, content: "../lib/python3.11\n"),
        .init(
          path: "python/lib/libssl.so.3", kind: .sharedLibrary, source: "/lib/x86_64-linux-gnu/libssl.so.3",
          mode: 0o755, runpath: "$ORIGIN"),
      ],
      excluded: [.init(path: "python/lib/python3.11/idlelib", reason: "stdlib exclusion 'idlelib'")])
    let dir = try makeTemporaryDirectory("manifest")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try m.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let read = try BundleManifest.read(dir + "/m.json")
    #expect(read == m)
    // The bytes are fixed: keys sorted, "/" unescaped, absent optionals
    // left out, kinds by their raw names ("shared_library"). A manifest
    // read back encodes to the same bytes, so an unchanged rerun leaves the
    // file (and what depends on it) untouched.
    let expected = #"""
      {
        "compiler" : "/usr/bin/python3.11",
        "entries" : [
          {
            "kind" : "interpreter",
            "mode" : 493,
            "path" : "python/bin/python3.11",
            "runpath" : "$ORIGIN/../lib",
            "source" : "/usr/bin/python3.11"
          },
          {
            "content" : "../lib/python3.11\n",
            "kind" : "config",
            "mode" : 420,
            "path" : "python/bin/python3.11._pth"
          },
          {
            "kind" : "shared_library",
            "mode" : 493,
            "path" : "python/lib/libssl.so.3",
            "runpath" : "$ORIGIN",
            "source" : "/lib/x86_64-linux-gnu/libssl.so.3"
          }
        ],
        "excluded" : [
          {
            "path" : "python/lib/python3.11/idlelib",
            "reason" : "stdlib exclusion 'idlelib'"
          }
        ],
        "formatVersion" : 2,
        "interpreter" : "python/bin/python3.11",
        "modulePath" : [
          "python/lib/python3.11"
        ]
      }
      """#
    #expect(String(decoding: m.encoded(), as: UTF8.self) == expected)
    #expect(read.encoded() == m.encoded())
  }

  @Test func unreadableManifestSaysWhichFile() {
    do {
      _ = try BundleManifest.read("/nonexistent/m.json")
      Issue.record("expected an error")
    } catch {
      #expect(error.message.contains("/nonexistent/m.json"))
      #expect(error.code == .badInput)
    }
  }
}

@Suite struct RunpathTests {
  @Test(arguments: [
    ("python/bin/python3.11", "$ORIGIN/../lib"),
    ("python/lib/python3.11/lib-dynload/_ssl.so", "$ORIGIN/../.."),
    ("python/lib/libssl.so.3", "$ORIGIN"),
    ("python/ext/fidl_codec.so", "$ORIGIN/../lib"),
  ])
  func originRelativeToTheLibDir(path: String, expected: String) {
    #expect(Collector.runpath(from: path, to: "python/lib") == expected)
  }
}

@Suite struct AllowlistParsingTests {
  @Test func ignoresCommentsAndBlankLines() {
    let text = "# glibc\nlibc.so.6\n\n  libm.so.6  # math\n#libz.so.1\n"
    #expect(AllowlistCheck.parseAllowlist(text) == ["libc.so.6", "libm.so.6"])
  }

  @Test func runpathResolutionFollowsTheLoadersRules() {
    var elf = ELFFile()
    elf.runpath = ["$ORIGIN/../lib"]
    let paths: Set = ["python/lib/libssl.so.3", "python/bin/python3.11"]
    #expect(
      AllowlistCheck.resolveInBundle("libssl.so.3", from: "python/bin/python3.11", elf: elf, paths: paths)
        == "python/lib/libssl.so.3")
    #expect(AllowlistCheck.resolveInBundle("libffi.so.8", from: "python/bin/python3.11", elf: elf, paths: paths) == nil)
    // An absolute RUNPATH points at the build host, not into the bundle.
    elf.runpath = ["/usr/lib"]
    #expect(AllowlistCheck.resolveInBundle("libssl.so.3", from: "python/bin/python3.11", elf: elf, paths: paths) == nil)
  }
}
