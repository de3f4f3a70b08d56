import ArgumentParser
import LacewingCLI
import LacewingKit

@main
struct LacewingRunTests: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lacewing-run-tests",
    abstract: "Run the tests a build registered in tests.json.",
    discussion: """
      Runs each test of tests.json (GN writes it from the bundles' `tests` metadata) as its executable \
      relative to the build dir, with the build dir as its working directory and its output in \
      --log-dir. A test still running at its timeout gets SIGTERM, then SIGKILL, with every process \
      of its group. Prints a line per finished test and a summary.

      Exit status: 0 every test passed; 1 a test failed, timed out, is not built or could not be \
      started, or tests.json is unreadable; 5 a log or the JUnit XML could not be written; 64 bad usage.
      """)

  @Argument(help: "Names of tests to run (all when none).")
  var names: [String] = []

  @Option(help: "The registered tests.")
  var tests = "tests.json"

  @Option(help: "What the tests' paths are relative to (default: the directory of --tests).")
  var buildDir: String?

  @Option(name: .shortAndLong, help: "How many tests run at once.")
  var jobs = 1

  @Option(help: "A timeout for every test, in seconds, instead of each one's own (0: none).")
  var timeoutSecs: Int?

  @Option(help: "Seconds between SIGTERM and SIGKILL for a test past its timeout.")
  var killGraceSecs = 5.0

  @Option(help: "Where each test's output goes, as NAME.log (default: BUILD_DIR/test_logs).")
  var logDir: String?

  @Option(help: "Where to write JUnit XML of the results.")
  var junit: String?

  func run() throws {
    var options = TestRunner.Options(testsFile: tests)
    options.buildDir = buildDir
    options.names = names
    options.jobs = jobs
    options.timeoutSecs = timeoutSecs
    options.killGraceSecs = killGraceSecs
    options.logDir = logDir
    options.junit = junit
    var passed = true
    try reportingErrors { () throws(LacewingError) in
      let results = try TestRunner.run(options) { line in
        Console.out(line + "\n")
      }
      passed = results.allSatisfy(\.outcome.passed)
    }
    if !passed { throw ExitCode(1) }
  }
}
