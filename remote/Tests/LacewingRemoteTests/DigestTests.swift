import Foundation
import Testing

@testable import LacewingRemote

@Suite struct DigestTests {
  @Test func emptyBlob() {
    let digest = Digest(of: Data())
    #expect(digest.hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(digest.sizeBytes == 0)
  }

  @Test func knownBytes() {
    // python3 -c "import hashlib; print(hashlib.sha256(b'hello\n').hexdigest())"
    #expect(
      Digest(of: Data("hello\n".utf8)).text == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03/6")
  }

  /// A Directory holding one executable file `a` with "hello\n". The
  /// expected digest comes from protobuf bytes encoded by hand in python:
  ///   d  = b'\x0a\x40' + sha256(b'hello\n').hexdigest().encode() + b'\x10\x06'
  ///   fn = b'\x0a\x01a' + b'\x12' + bytes([len(d)]) + d + b'\x20\x01'
  ///   sha256(b'\x0a' + bytes([len(fn)]) + fn)  (77 bytes)
  @Test func oneFileDirectory() throws {
    let scratch = try Scratch()
    try scratch.write("a", "hello\n", mode: 0o755)
    let spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path, arguments: ["./a"])
    let prepared = try spec.prepare()
    #expect(
      prepared.action.inputRootDigest.text == "fccfcdba90dcdfb18dad6e8ee0279b9a4df49d51756a5fbc9b9725ae4b843b98/77")
  }

  @Test func executableBitComesFromTheMode() throws {
    let scratch = try Scratch()
    try scratch.write("a", "hello\n", mode: 0o644)
    let spec = ActionSpec(execRoot: scratch.path, workingDirectory: scratch.path, arguments: ["./a"])
    // Same bytes without field 4 (is_executable) than oneFileDirectory: 75 bytes.
    #expect(try spec.prepare().action.inputRootDigest.sizeBytes == 75)
  }

  @Test func directoryNodesAreSortedAndDeduplicated() throws {
    let scratch = try Scratch()
    try scratch.write("out/x/tool", "#!/bin/sh\n", mode: 0o755)
    try scratch.write("b/z", "z")
    try scratch.write("b/a", "a")
    try scratch.write("a/m", "m")
    var spec = ActionSpec(
      execRoot: scratch.path, workingDirectory: scratch.path + "/out/x", arguments: ["./tool"])
    spec.inputs = ["../../b/z", "../../b/a", "../../a/m", "../../b/a", "tool"]
    let prepared = try spec.prepare()
    let root = try Directory(serializedBytes: blob(prepared, prepared.action.inputRootDigest))
    #expect(root.directories.map(\.name) == ["a", "b", "out"])
    let b = try Directory(serializedBytes: blob(prepared, root.directories[1].digest))
    #expect(b.files.map(\.name) == ["a", "z"])
    #expect(b.files[0].digest == Digest(of: Data("a".utf8)))
  }

  /// The digest must not depend on where the checkout is.
  @Test func actionDigestIsStableAcrossCheckouts() throws {
    func digest() throws -> String {
      let scratch = try Scratch()
      try scratch.write("src/tool", "#!/bin/sh\n", mode: 0o755)
      try scratch.write("src/data", "data")
      _ = try scratch.mkdir("out/x")
      var spec = ActionSpec(
        execRoot: scratch.path, workingDirectory: scratch.path + "/out/x",
        arguments: ["../../src/tool", "o"])
      spec.inputs = ["../../src/data"]
      spec.outputs = ["o"]
      return try spec.prepare().actionDigest.text
    }
    #expect(try digest() == digest())
  }

  private func blob(_ prepared: PreparedAction, _ digest: Digest) throws -> Data {
    guard let entry = prepared.blobs[digest.hash] else {
      Issue.record("no blob \(digest.text)")
      return Data()
    }
    return try entry.source.load()
  }
}
