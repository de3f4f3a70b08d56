import Foundation
import Testing

@testable import LacewingRemote

@Suite struct CommandTests {
  @Test func commandFields() throws {
    let scratch = try Scratch()
    try scratch.write("tools/t", "#!/bin/sh\n", mode: 0o755)
    _ = try scratch.mkdir("out/x")
    var spec = ActionSpec(
      execRoot: scratch.path, workingDirectory: scratch.path + "/out/x",
      arguments: ["../../tools/t", "--flag", "/abs/arg", "gen/b"])
    spec.outputs = ["gen/b", "gen/a.d", "./gen/b"]
    spec.environment = [("Z", "1"), ("A", "2")]
    spec.timeoutSeconds = 42
    let prepared = try spec.prepare()
    let command = prepared.command
    #expect(command.arguments == ["../../tools/t", "--flag", "/abs/arg", "gen/b"])
    #expect(command.workingDirectory == "out/x")
    #expect(command.outputPaths == ["gen/a.d", "gen/b"])
    #expect(command.outputFiles == ["gen/a.d", "gen/b"])
    #expect(command.environmentVariables.map(\.name) == ["A", "Z"])
    #expect(command.platform.properties.map { "\($0.name)=\($0.value)" } == ["OSFamily=linux"])
    #expect(prepared.action.timeout.seconds == 42)
    #expect(!prepared.action.doNotCache)
    #expect(prepared.action.commandDigest == Digest(of: InputRoot.serialize(command)))
    // The working directory is in the input root even though no input is there.
    let root = try Directory(serializedBytes: prepared.blobs[prepared.action.inputRootDigest.hash]!.source.load())
    #expect(root.directories.map(\.name) == ["out", "tools"])
  }

  @Test func platformPropertiesSorted() throws {
    let scratch = try Scratch()
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path, arguments: ["sh"])
    spec.platform = [("container-image", "x"), ("OSFamily", "linux"), ("ISA", "x86-64")]
    let properties = try spec.prepare().command.platform.properties.map(\.name)
    #expect(properties == ["ISA", "OSFamily", "container-image"])
  }
}

@Suite struct PathTests {
  @Test func normalize() {
    #expect(Paths.normalize(absolute: "/a/./b//c/../d") == "/a/b/d")
    #expect(Paths.normalize(absolute: "/../a") == "/a")
    #expect(Paths.relative("/r/a/b", to: "/r") == "a/b")
    #expect(Paths.relative("/r", to: "/r") == "")
    #expect(Paths.relative("/rr/a", to: "/r") == nil)
  }

  @Test func relativeInputEscapingTheExecRootIsAnError() throws {
    let scratch = try Scratch()
    let root = try scratch.mkdir("root")
    try scratch.write("outside", "x")
    var spec = ActionSpec(execRoot: root, workingDirectory: root, arguments: ["sh"])
    spec.inputs = ["../outside"]
    #expect {
      try spec.prepare()
    } throws: { error in
      (error as? LauncherError)?.description.contains("outside the exec root") == true
    }
  }

  @Test func absolutePlatformInputIsSkipped() throws {
    let scratch = try Scratch()
    let root = try scratch.mkdir("root")
    var spec = ActionSpec(execRoot: root, workingDirectory: root, arguments: ["/bin/sh"])
    spec.inputs = ["/bin/sh", "/definitely/not/there"]
    let prepared = try spec.prepare()
    // Only the (empty) root Directory, the Command and the Action.
    #expect(prepared.blobs.count == 3)
  }

  @Test func workingDirectoryOutsideExecRoot() throws {
    let scratch = try Scratch()
    let spec = ActionSpec(execRoot: scratch.path + "/a", workingDirectory: scratch.path + "/b", arguments: ["sh"])
    #expect(throws: LauncherError.self) { try spec.prepare() }
  }

  @Test func outputOutsideWorkingDirectory() throws {
    let scratch = try Scratch()
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path + "/out", arguments: ["sh"])
    spec.outputs = ["../escape"]
    #expect {
      try spec.prepare()
    } throws: { error in
      (error as? LauncherError)?.description.contains("output ../escape") == true
    }
  }

  @Test func missingInputNamesTheFile() throws {
    let scratch = try Scratch()
    var spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path, arguments: ["sh"])
    spec.inputs = ["nope.txt"]
    #expect {
      try spec.prepare()
    } throws: { error in
      (error as? LauncherError)?.description.contains("input nope.txt does not exist") == true
    }
  }
}
