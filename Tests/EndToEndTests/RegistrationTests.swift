import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// The runner, tests.json and the bundles in a Python-less root: the runner
/// is a Swift tool, so the root also gets the Swift runtime libraries it
/// links (none of them a Python).
struct RunnerRoot {
  let root: PythonlessRoot
  /// Where the build's files go in the root, as the runner sees it.
  static let out = "/out"

  init(build: E2EBuild, bundles: [String]) throws {
    root = try PythonlessRoot(bundles: [:])
    let fm = FileManager.default
    try fm.createDirectory(atPath: root.path + Self.out, withIntermediateDirectories: true)
    for bundle in bundles {
      try writeExecutable(try readFile(build.out + "/" + bundle), to: root.path + Self.out + "/" + bundle)
    }
    try fm.copyItem(atPath: build.out + "/tests.json", toPath: root.path + Self.out + "/tests.json")
    let runner = try Repo.tool("lacewing-run-tests")
    try writeExecutable(try readFile(runner), to: root.path + "/lacewing-run-tests")
    let ldd = try LacewingTestSupport.run("ldd", [runner])
    guard ldd.status == 0 else { throw TestSetupError("ldd \(runner): \(ldd.output)") }
    for line in ldd.stdout.split(separator: "\n") {
      let fields = line.split { $0 == " " || $0 == "\t" }
      guard fields.count >= 3, fields[1] == "=>", fields[2].hasPrefix("/") else { continue }
      let dest = root.path + "/lib/x86_64-linux-gnu/" + fields[0]
      if !fm.fileExists(atPath: dest) { try fm.copyItem(atPath: resolvedPath(String(fields[2])), toPath: dest) }
    }
  }

  func run(_ args: [String]) throws -> ProcessResult {
    try root.run("lacewing-run-tests", args, env: ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"])
  }

  func write(_ text: String, to path: String) throws { try writeText(text, to: root.path + path) }

  func read(_ path: String) -> String { readText(root.path + path) }

  /// JUnit XML as a real XML parser reads it: each testcase's name and its
  /// failure's type ("" when it passed).
  func junit(_ path: String) throws -> [String: String] {
    let script = """
      import json, sys, xml.etree.ElementTree as E
      suites = E.parse(sys.argv[1]).getroot()
      print(json.dumps({c.get("name"): (c.find("failure").get("type") if c.find("failure") is not None else "")
                        for c in suites.iter("testcase")}))
      """
    let r = try LacewingTestSupport.run("/usr/bin/python3.11", ["-c", script, root.path + path])
    guard r.status == 0 else { throw TestSetupError("JUnit XML does not parse: \(r.output)") }
    return try JSONDecoder().decode([String: String].self, from: Data(r.stdout.utf8))
  }

  func remove() { root.remove() }
}

extension E2E {
  /// Every bundle registers itself; `gn gen` writes them all to tests.json
  /// (//:tests) and lacewing-run-tests runs them.
  @Suite struct RegistrationTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
    }

    static let registered = [
      "rtc_test", "stem_probe", "e2e_suite/rtc_test", "e2e_suite/stem_probe", "mobly_rtc_test", "numpy_test",
      "wheel_probe", "wheel_suite/rtc_test", "wheel_suite/wheel_probe", "mobly_suite/mobly_rtc_test",
      "mobly_suite/stem_probe",
    ]

    @Test func testsJSONListsEveryRegisteredTestWithItsPath() throws {
      let tests = try TestRunner.readRegistrations(build.out + "/tests.json").map(\.test)
      #expect(tests.map(\.name).sorted() == Self.registered.sorted(), "\(tests.map(\.name))")
      let byName = Dictionary(uniqueKeysWithValues: tests.map { ($0.name, $0) })
      let toolchain = "(//build/toolchain:host)"
      let single = [
        "rtc_test": "//testdata/rtc_test:rtc_test", "stem_probe": "//testdata/stem_probe:stem_probe",
        "mobly_rtc_test": "//testdata/mobly_rtc_test:mobly_rtc_test",
      ]
      for (name, label) in single {
        let test = try #require(byName[name])
        #expect(test.path == name && test.label == label + toolchain && test.args == [], "\(test)")
      }
      for inner in ["rtc_test", "stem_probe"] {
        let test = try #require(byName["e2e_suite/" + inner])
        #expect(test.path == "e2e_suite" && test.args == [inner], "\(test)")
        #expect(test.label == "//testdata/suite:e2e_suite" + toolchain, "\(test)")
      }
      for test in tests {
        #expect(test.os == "linux" && test.cpu == "x64" && test.hermetic, "\(test)")
      }
      // timeout_secs from the target, else the default.
      #expect(byName["mobly_rtc_test"]?.timeoutSecs == 300 && byName["rtc_test"]?.timeoutSecs == 600)
      let environments = try TestRunner.readRegistrations(build.out + "/tests.json").map(\.environments)
      #expect(environments.allSatisfy { $0.map(\.dimensions) == [["os": "Linux", "cpu": "x64"]] }, "\(environments)")

      // Every path is the bundle the build writes there, and runs.
      let r = try build.ninja()
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      for name in ["rtc_test", "stem_probe", "e2e_suite/rtc_test"] {
        let test = try #require(byName[name])
        let ran = try run(
          build.out + "/" + test.path, test.args, environment: environment(["LACEWING_CACHE_DIR": build.dir + "/cache"])
        )
        #expect(ran.status == 0, "\(name): \(ran.output.suffix(2000))")
      }
    }

    @Test func theRunnerRunsTheRegisteredTestsWhereThereIsNoPython() throws {
      let r = try build.ninja()
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try RunnerRoot(build: build, bundles: ["rtc_test", "stem_probe", "e2e_suite"])
      defer { root.remove() }
      #expect(root.root.pythons().isEmpty)
      let names = ["rtc_test", "stem_probe", "e2e_suite/rtc_test", "e2e_suite/stem_probe"]
      let ran = try root.run(["--tests", "/out/tests.json", "-j", "2", "--junit", "/out/junit.xml"] + names)
      #expect(ran.status == 0, "\(ran.output)")
      let lines = ran.stdout.split(separator: "\n")
      for name in names {
        #expect(lines.contains { $0.hasPrefix("[") && $0.contains("] PASS    \(name) (") }, "\(ran.stdout)")
      }
      #expect(lines.filter { $0.hasPrefix("[") }.count == 4, "\(ran.stdout)")
      #expect(ran.stdout.contains("4 tests: 4 passed, 0 failed, 0 timed out, 0 not run"), "\(ran.stdout)")
      #expect(try root.junit("/out/junit.xml") == Dictionary(uniqueKeysWithValues: names.map { ($0, "") }))
      // Each test's output is in its log; the rtc_test's unittest summary.
      #expect(root.read("/out/test_logs/rtc_test.log").contains("OK"), "\(root.read("/out/test_logs/rtc_test.log"))")
    }

    /// A test that fails and one that hangs: the hung one is killed (with
    /// the processes it started) at its timeout and reported, both show in
    /// the JUnit XML, and the runner exits 1.
    @Test func aFailureAndATimeoutFailTheRun() throws {
      let r = try build.ninja()
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try RunnerRoot(build: build, bundles: ["stem_probe"])
      defer { root.remove() }
      func entry(_ name: String, _ args: [String], timeout: Int) -> String {
        let argv = args.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
          {"environments": [], "test": {"name": "\(name)", "label": "//x:\(name)", "path": "stem_probe", \
          "os": "linux", "cpu": "x64", "timeout_secs": \(timeout), "hermetic": true, "args": [\(argv)]}}
          """
      }
      try root.write(
        "["
          + [
            entry("passes", ["exit", "0"], timeout: 60), entry("fails", ["exit", "3"], timeout: 60),
            entry("hangs", ["hang"], timeout: 3),
          ].joined(separator: ",") + "]", to: "/out/cases.json")
      let start = Date()
      let ran = try root.run([
        "--tests", "/out/cases.json", "-j", "3", "--kill-grace-secs", "1", "--junit", "/out/cases.xml",
      ])
      let elapsed = Date().timeIntervalSince(start)
      #expect(ran.status == 1, "\(ran.output)")
      #expect(ran.stdout.contains("PASS    passes ("), "\(ran.stdout)")
      #expect(ran.stdout.contains("FAIL    fails (exit status 3, "), "\(ran.stdout)")
      #expect(ran.stdout.contains("TIMEOUT hangs (killed after 3s; log: /out/test_logs/hangs.log)"), "\(ran.stdout)")
      #expect(ran.stdout.contains("3 tests: 1 passed, 1 failed, 1 timed out, 0 not run"), "\(ran.stdout)")
      #expect(elapsed < 30, "the hung test held the run for \(elapsed)s")
      #expect(try root.junit("/out/cases.xml") == ["passes": "", "fails": "failure", "hangs": "timeout"])
      // The hung test's Python (the stem's child) and the child it started,
      // both ignoring SIGTERM, are gone too: SIGKILL went to the test's
      // whole process group.
      let log = root.read("/out/test_logs/hangs.log")
      let ready = try #require(log.split(separator: "\n").first { $0.hasPrefix("ready ") }, "\(log)")
      let pids = ready.split(separator: " ").dropFirst().compactMap { Int32($0) }
      #expect(pids.count == 2, "\(ready)")
      let deadline = Date().addingTimeInterval(10)
      while pids.contains(where: processExists) && Date() < deadline { usleep(50_000) }
      for pid in pids {
        #expect(!processExists(pid), "pid \(pid) of the hung test survived")
        if processExists(pid) { kill(pid, SIGKILL) }
      }
      // Only the named ones.
      let one = try root.run(["--tests", "/out/cases.json", "passes"])
      #expect(one.status == 0 && one.stdout.contains("1 tests: 1 passed"), "\(one.output)")
    }
  }
}
