import Foundation
import LacewingKit
import Testing

@Suite struct ChildProcessTests {
  /// A child that fills its stderr pipe while its stdout is still open (and
  /// the other way round) finishes: both pipes are read at once. 1 MB is
  /// sixteen times what a Linux pipe holds.
  @Test func bothStreamsAreDrainedAtOnce() throws {
    let megabyte = 1 << 20
    let script =
      "head -c \(megabyte) /dev/zero >&2; head -c \(megabyte) /dev/zero; head -c \(megabyte) /dev/zero >&2; exit 3"
    let r = try ChildProcess.run("/bin/sh", ["-c", script])
    #expect(r.status == 3 && r.signal == nil)
    #expect(r.stdout.count == megabyte && r.stderr.count == 2 * megabyte)
  }

  @Test func aMissingProgramIsAnError() {
    #expect(throws: LacewingError.self) { try ChildProcess.run("lacewing-no-such-program", []) }
  }

  @Test func aSignalIsReportedAsAShellWould() throws {
    let r = try ChildProcess.run("/bin/sh", ["-c", "kill -TERM $$"])
    #expect(r.signal == SIGTERM && r.status == 128 + SIGTERM)
  }
}
