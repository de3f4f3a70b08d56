import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// make-archive runs patchelf (and strip, and the runtime's python) with
/// stdout and stderr piped. A patchelf that writes a megabyte to stderr
/// before it does its work, more than a pipe holds, must neither deadlock
/// the tool (it read stdout to its end first, and the child waited for
/// room on stderr) nor, when it then fails, put the whole megabyte in the
/// error.
@Suite struct ChattyToolTests {
  @Test(arguments: [true, false])
  func aPatchelfWritingAMegabyteToStderr(thenSucceeds: Bool) throws {
    let dir = try makeTemporaryDirectory("chatty")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let patchelf = """
      #!/bin/sh
      head -c 1048576 /dev/zero | tr '\\0' x >&2
      echo >&2
      echo "stand-in patchelf: done talking" >&2
      \(thenSucceeds ? "exec patchelf \"$@\"" : "exit 3")

      """
    try writeExecutable(Data(patchelf.utf8), to: dir + "/patchelf")
    let manifest = BundleManifest(
      interpreter: "python/bin/true", compiler: nil,
      entries: [
        .init(path: "python/bin/true", kind: .interpreter, source: "/bin/true", mode: 0o755, runpath: "$ORIGIN")
      ])
    try manifest.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    // A deadlock ends at the timeout, as status 124.
    let r = try run(
      "timeout",
      [
        "120", try Repo.tool("make-archive"), "payload", "--manifest", dir + "/m.json", "--no-bytecode",
        "--keep-debug-info", "--patchelf", dir + "/patchelf", "--output", dir + "/p.zip",
      ])
    if thenSucceeds {
      #expect(r.status == 0, "\(r.stderr.suffix(500))")
      #expect(try ZipContents.read(dir + "/p.zip").map(\.name) == ["python/bin/true"])
    } else {
      #expect(r.status == 4, "\(r.stderr.suffix(500))")
      #expect(
        r.stderr.contains("failed (exit 3) trying to set the RPATH of python/bin/true"), "\(r.stderr.prefix(500))")
      #expect(r.stderr.hasSuffix("stand-in patchelf: done talking\n"), "\(r.stderr.suffix(500))")
      #expect(r.stderr.utf8.count < 10_000, "the error carries the end of patchelf's stderr, not all of it")
    }
  }
}
