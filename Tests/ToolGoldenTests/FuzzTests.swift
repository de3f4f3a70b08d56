import Foundation
import LacewingTestSupport
import Testing

/// A bounded libFuzzer run over the stem's trailer, config and zip parsing
/// and its extraction (fuzz/run.sh, ASan). `fuzz/run.sh 3600` runs longer.
@Suite struct FuzzTests {
  @Test func theStemsParsersSurviveABoundedFuzzRun() throws {
    let dir = try makeTemporaryDirectory("fuzz")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try run(
      Repo.root + "/fuzz/run.sh", ["15"],
      environment: environment(["LACEWING_FUZZ_DIR": dir, "LACEWING_TOOLS_DIR": Repo.toolsDir]))
    #expect(r.status == 0, "\(r.output.suffix(3000))")
    #expect(
      r.stderr.contains("Done ") && r.stderr.contains("stat::number_of_executed_units"), "\(r.stderr.suffix(2000))")
    let crashes = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.hasPrefix("crash-") }
    #expect(crashes.isEmpty)
  }
}
