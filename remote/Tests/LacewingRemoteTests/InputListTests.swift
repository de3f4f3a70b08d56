import Foundation
import Testing

@testable import LacewingRemote

/// The formats themselves are LacewingKit's (ActionInputsTests); here, what
/// the launcher does with a list and with what it names.
@Suite struct InputListTests {
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

/// A GN-built library an extension links, in the build dir: no list names
/// it, and collect-artifacts finds it by searching there, so the launcher
/// uploads it too.
@Suite struct LibraryClosureTests {
  @Test func anExtensionsBuildDirLibraryIsAnInput() throws {
    let scratch = try Scratch()
    let build = try scratch.mkdir("out/x")
    try scratch.write("out/x/dep.c", "int dep(void) { return 7; }\n")
    try scratch.write("out/x/ext.c", "int dep(void); int ext(void) { return dep(); }\n")
    for args in [["-o", "libdep.so", "dep.c"], ["-o", "ext.so", "ext.c", "-L.", "-ldep"]] {
      let gcc = Process()
      gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
      gcc.arguments = ["-shared", "-fPIC"] + args
      gcc.currentDirectoryURL = URL(fileURLWithPath: build)
      try gcc.run()
      gcc.waitUntilExit()
      try #require(gcc.terminationStatus == 0)
    }
    try scratch.write("out/x/gen/t.extensions.json", #"["ext.so"]"#)
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: build, arguments: ["sh"])
    spec.inputLists = ["gen/t.extensions.json"]
    let library = try #require(FileManager.default.contents(atPath: build + "/libdep.so"))
    #expect(try spec.prepare().blobs[Digest(of: library).hash] != nil)
    spec.inputLists = []
    #expect(try spec.prepare().blobs[Digest(of: library).hash] == nil)
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
      #"{"formatVersion": 2, "interpreter": "python/bin/python3.11", "modulePath": [], "excluded": [], "entries": ["#
        + #"{"path": "a", "kind": "site", "mode": 420, "source": "w/x.whl", "member": "a"}, "#
        + #"{"path": "b", "kind": "site", "mode": 420, "source": "w/x.whl", "member": "b"}, "#
        + #"{"path": "c", "kind": "config", "mode": 420, "content": "c"}]}"#)
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
