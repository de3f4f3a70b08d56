import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// What the remote launcher uploads beyond an action's declared inputs: the
/// files each kind of Lacewing list names, and the build-dir libraries an
/// extension needs (real ELF files, linked by gcc).
@Suite struct ActionInputsTests {
  @Test func eachKindOfListNamesItsFiles() throws {
    let dir = try makeTemporaryDirectory("inputs")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let lists: [(String, String, [String])] = [
      ("wheels.json", #"["../wheels/a.whl", "../wheels/b.whl"]"#, ["../wheels/a.whl", "../wheels/b.whl"]),
      ("pyz_sources.json", #"[{"dest": "t.py", "source": "../../t/t.py"}]"#, ["../../t/t.py"]),
      (
        "tests.json", #"[{"name": "t", "pyz": "t.pyz", "data": ["../../d.txt=data/d.txt"], "env": []}]"#,
        ["t.pyz", "../../d.txt"]
      ),
      ("fidl_ir.json", #"[{"name": "fuchsia.io", "ir": "gen/io.fidl.json"}]"#, ["gen/io.fidl.json"]),
      ("empty.json", "[]", []),
    ]
    for (name, text, expected) in lists {
      try writeText(text, to: dir + "/" + name)
      #expect(try ActionInputs.files(listedIn: dir + "/" + name) == expected, "\(name)")
    }
    let manifest = BundleManifest(
      interpreter: "python/bin/python3.11", compiler: nil,
      entries: [
        .init(path: "ext/x.so", kind: .extension, source: "x.so"),
        .init(path: "python/bin/python3.11._pth", kind: .config, content: "..\n"),
        .init(path: "python/lib/libz.so.1", kind: .sharedLibrary, source: "/lib/x86_64-linux-gnu/libz.so.1"),
      ])
    try manifest.encoded().write(to: URL(fileURLWithPath: dir + "/m.manifest.json"))
    #expect(try ActionInputs.files(listedIn: dir + "/m.manifest.json") == ["x.so", "/lib/x86_64-linux-gnu/libz.so.1"])
  }

  @Test func aFileThatIsNoListIsRefusedByName() throws {
    let dir = try makeTemporaryDirectory("inputs")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText(#"[{"unexpected": 1}]"#, to: dir + "/odd.json")
    #expect(throws: LacewingError.self) { try ActionInputs.files(listedIn: dir + "/odd.json") }
    do {
      _ = try ActionInputs.files(listedIn: dir + "/odd.json")
    } catch {
      #expect(error.message.contains("odd.json"))
    }
    #expect(throws: LacewingError.self) { try ActionInputs.files(listedIn: dir + "/missing.json") }
  }

  /// ext.so needs libmid.so, which needs libleaf.so; all three in the build
  /// dir, libc from the system. The closure is the two libraries, not libc.
  @Test func buildDirLibrariesAnExtensionNeedsTransitively() throws {
    let dir = try makeTemporaryDirectory("inputs")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText("int leaf(void) { return 1; }\n", to: dir + "/leaf.c")
    try writeText("int leaf(void); int mid(void) { return leaf(); }\n", to: dir + "/mid.c")
    try writeText("int mid(void); int ext(void) { return mid(); }\n", to: dir + "/ext.c")
    for (lib, source, links) in [
      ("libleaf.so", "leaf.c", [String]()), ("libmid.so", "mid.c", ["-L.", "-lleaf"]),
      ("ext.so", "ext.c", ["-L.", "-lmid"]),
    ] {
      let r = try run("gcc", ["-shared", "-fPIC", "-o", lib, source] + links, directory: dir)
      try #require(r.status == 0, "\(r.output)")
    }
    #expect(
      ActionInputs.libraries(neededBy: [dir + "/ext.so"], in: [dir]) == [dir + "/libleaf.so", dir + "/libmid.so"])
    #expect(ActionInputs.libraries(neededBy: [dir + "/leaf.c"], in: [dir]).isEmpty)
  }
}
