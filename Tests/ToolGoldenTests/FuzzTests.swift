import Foundation
import LacewingTestSupport
import Testing

/// Bounded libFuzzer runs (fuzz/run.sh, ASan) over the stem's trailer,
/// config and zip parsing and its extraction, and over what the tools parse
/// from untrusted build inputs: ELF headers and wheels.
/// `fuzz/run.sh [--harness elf|wheel] 3600` runs longer.
/// One at a time: each builds its harness with ASan, and in parallel they
/// would fight over the cores they are timed on.
@Suite(.serialized) struct FuzzTests {
  func fuzz(_ arguments: [String]) throws {
    let dir = try makeTemporaryDirectory("fuzz")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try run(
      Repo.root + "/fuzz/run.sh", arguments,
      environment: environment(["LACEWING_FUZZ_DIR": dir, "LACEWING_TOOLS_DIR": Repo.toolsDir]))
    #expect(r.status == 0, "\(r.output.suffix(3000))")
    #expect(
      r.stderr.contains("Done ") && r.stderr.contains("stat::number_of_executed_units"), "\(r.stderr.suffix(2000))")
    // libFuzzer's artifacts: an input that crashed, leaked, hung or ran out of memory.
    let artifacts = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { name in
      ["crash-", "leak-", "timeout-", "oom-"].contains { name.contains($0) }
    }
    #expect(artifacts.isEmpty)
  }

  @Test func theStemsParsersSurviveABoundedFuzzRun() throws {
    try fuzz(["15"])
  }

  @Test func theELFReaderSurvivesABoundedFuzzRun() throws {
    try fuzz(["--harness", "elf", "10"])
  }

  @Test func theWheelReadersSurviveABoundedFuzzRun() throws {
    try fuzz(["--harness", "wheel", "10"])
  }
}
