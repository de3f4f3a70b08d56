import Foundation
import Testing

@testable import LacewingRemote

@Suite struct InputListTests {
  private func paths(_ json: String) throws -> [String] {
    try referencedPaths(inInputList: Data(json.utf8), named: "x.json")
  }

  @Test func manifest() throws {
    let json = """
      {"compiler": "/usr/bin/python3.11", "entries": [
        {"kind": "interpreter", "mode": 493, "path": "python/bin/python3.11", "source": "/usr/bin/python3.11"},
        {"content": "import site\\n", "kind": "pth", "mode": 420, "path": "a.pth"},
        {"kind": "site", "member": "x/__init__.py", "mode": 420, "path": "site/x/__init__.py", "source": "../wheels/x.whl"}
      ]}
      """
    #expect(try paths(json) == ["/usr/bin/python3.11", "../wheels/x.whl"])
  }

  @Test func pyzSources() throws {
    #expect(try paths(#"[{"dest": "t.py", "source": "../../testdata/t.py"}]"#) == ["../../testdata/t.py"])
  }

  @Test func wheelsAndExtensions() throws {
    #expect(try paths(#"["../wheels/a.whl", "../wheels/b.whl"]"#) == ["../wheels/a.whl", "../wheels/b.whl"])
    #expect(try paths("[\n\n]") == [])
  }

  @Test func badShapes() {
    for json in [#"{"entries": 3}"#, #"[1]"#, #""s""#, "not json", #"[{"dest": "x"}]"#] {
      #expect(throws: LauncherError.self, "\(json)") { try paths(json) }
    }
  }

  @Test func listFilesAreInputsAndMissingReferencesNameTheList() throws {
    let scratch = try Scratch()
    _ = try scratch.mkdir("out/x")
    try scratch.write("src/a.py", "a")
    try scratch.write("out/x/gen/t.pyz_sources.json", #"[{"dest": "a.py", "source": "../../src/a.py"}]"#)
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path + "/out/x", arguments: ["sh"])
    spec.inputLists = ["gen/t.pyz_sources.json"]
    let prepared = try spec.prepare()
    #expect(prepared.blobs[Digest(of: Data("a".utf8)).hash] != nil)
    #expect(prepared.blobs[Digest(of: Data(#"[{"dest": "a.py", "source": "../../src/a.py"}]"#.utf8)).hash] != nil)

    try scratch.write("out/x/gen/w.wheels.json", #"["../wheels/missing.whl"]"#)
    spec.inputLists = ["gen/w.wheels.json"]
    #expect {
      try spec.prepare()
    } throws: { error in
      let text = (error as? LauncherError)?.description ?? ""
      return text.contains("gen/w.wheels.json") && text.contains("../wheels/missing.whl")
    }
  }
}

@Suite struct InputDirectoryTests {
  /// A manifest names one wheel once per member; it is one input, and a
  /// declared directory brings its files.
  @Test func repeatedSourcesAndDirectories() throws {
    let scratch = try Scratch()
    try scratch.write("w/x.whl", "wheel")
    try scratch.write("d/sub/f", "f")
    try scratch.write(
      "m.manifest.json",
      #"{"entries": [{"source": "w/x.whl", "member": "a"}, {"source": "w/x.whl", "member": "b"}, {"content": "c"}]}"#)
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path, arguments: ["sh"])
    spec.inputLists = ["m.manifest.json"]
    spec.inputs = ["d"]
    let prepared = try spec.prepare()
    let root = try Directory(serializedBytes: prepared.blobs[prepared.action.inputRootDigest.hash]!.source.load())
    #expect(root.files.map(\.name) == ["m.manifest.json"])
    #expect(root.directories.map(\.name) == ["d", "w"])
    let d = try Directory(serializedBytes: prepared.blobs[root.directories[0].digest.hash]!.source.load())
    let sub = try Directory(serializedBytes: prepared.blobs[d.directories[0].digest.hash]!.source.load())
    #expect(sub.files.map(\.name) == ["f"])
  }
}
