import FoundationEssentials
import Glibc

/// Runs the tests a build registered (tests.json, written by GN from the
/// bundles' `tests` metadata, in the shape of Fuchsia's host tests): in
/// parallel, each with its timeout, each in a process group of its own so
/// that a test that hangs is killed with everything it started.
public enum TestRunner {
  /// One entry of tests.json.
  public struct Registration: Codable, Equatable, Sendable {
    public struct Dimensions: Codable, Equatable, Sendable {
      public var dimensions: [String: String]
    }

    public struct Test: Codable, Equatable, Sendable {
      public var name: String
      public var label: String
      /// The executable, relative to the build dir.
      public var path: String
      public var os: String
      public var cpu: String
      public var timeoutSecs: Int
      public var hermetic: Bool
      /// Arguments the test is run with (a multi-test bundle's test name).
      public var args: [String]

      enum CodingKeys: String, CodingKey {
        case name, label, path, os, cpu, hermetic, args
        case timeoutSecs = "timeout_secs"
      }
    }

    public var environments: [Dimensions]
    public var test: Test
  }

  public struct Options: Sendable {
    public var testsFile: String
    /// What `path` is relative to, and the tests' working directory.
    public var buildDir: String?
    /// Run only these (by name); all when empty.
    public var names: [String] = []
    public var jobs = 1
    /// Overrides every test's own timeout when set.
    public var timeoutSecs: Int?
    /// How long a timed-out test has after SIGTERM before SIGKILL.
    public var killGraceSecs = 5.0
    public var logDir: String?
    public var junit: String?

    public init(testsFile: String) { self.testsFile = testsFile }
  }

  public enum Outcome: Equatable, Sendable {
    case passed
    /// The exit status, or 128 + the signal as a shell reports it.
    case failed(status: Int32)
    case timedOut(seconds: Int)
    /// The executable is missing (not built).
    case notRun(reason: String)

    public var passed: Bool { self == .passed }
  }

  public struct Result: Sendable {
    public var test: Registration.Test
    public var outcome: Outcome
    public var seconds: Double
    public var log: String
  }

  public static func readRegistrations(_ path: String) throws(LacewingError) -> [Registration] {
    try JSONFile.read([Registration].self, path, what: "list of registered tests (tests.json)")
  }

  /// Runs the tests, printing a line per finished test and a summary to
  /// `print`; returns the results in tests.json's order.
  public static func run(_ options: Options, print: (String) -> Void) throws(LacewingError) -> [Result] {
    let buildDir = absolute(options.buildDir ?? FS.dirname(options.testsFile))
    var tests = try readRegistrations(options.testsFile).map(\.test)
    if !options.names.isEmpty {
      let known = Set(tests.map(\.name))
      if let unknown = options.names.first(where: { !known.contains($0) }) {
        throw LacewingError(
          .badInput,
          "no test named \(unknown) in \(options.testsFile); it has: \(tests.map(\.name).joined(separator: ", "))")
      }
      tests = tests.filter { options.names.contains($0.name) }
    }
    let logDir = absolute(options.logDir ?? buildDir + "/test_logs")
    do {
      try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
    } catch {
      throw LacewingError(.io, "cannot create the log directory \(logDir): \(FS.reason(error))")
    }

    // The tests' working directory (posix_spawn cannot set a child's in
    // the glibc interface Swift sees); every path here is absolute by now.
    guard FileManager.default.changeCurrentDirectoryPath(buildDir) else {
      throw .unreadable(buildDir, "cannot enter the build directory")
    }
    var results: [Result?] = Array(repeating: nil, count: tests.count)
    var running: [Running] = []
    var next = 0
    var done = 0
    let jobs = max(1, options.jobs)
    while done < tests.count {
      while running.count < jobs && next < tests.count {
        let test = tests[next]
        let log = logDir + "/" + test.name.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" } + ".log"
        let timeout = options.timeoutSecs ?? test.timeoutSecs
        let executable = buildDir + "/" + test.path
        var notRun: String?
        if !FileManager.default.isExecutableFile(atPath: executable) {
          notRun = "\(executable) is not built"
        } else {
          do {
            running.append(try Running(index: next, test: test, executable: executable, log: log, timeout: timeout))
          } catch {
            notRun = error.message
          }
        }
        if let notRun {
          results[next] = Result(test: test, outcome: .notRun(reason: notRun), seconds: 0, log: log)
          done += 1
          print(progressLine(results[next]!, done: done, of: tests.count))
        }
        next += 1
      }
      var still: [Running] = []
      for var child in running {
        if let outcome = child.poll(graceSecs: options.killGraceSecs) {
          let result = Result(test: child.test, outcome: outcome, seconds: child.elapsed, log: child.log)
          results[child.index] = result
          done += 1
          print(progressLine(result, done: done, of: tests.count))
        } else {
          still.append(child)
        }
      }
      running = still
      if !running.isEmpty { usleep(20_000) }
    }
    let finished = results.compactMap { $0 }
    print(summary(finished))
    if let junit = options.junit {
      _ = try OutputFile.write(Data(junitXML(finished).utf8), to: junit)
    }
    return finished
  }

  static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }

  static func progressLine(_ r: Result, done: Int, of total: Int) -> String {
    let time = cFormat("%.2fs", r.seconds)
    let what =
      switch r.outcome {
      case .passed: "PASS    \(r.test.name) (\(time))"
      case .failed(let status): "FAIL    \(r.test.name) (exit status \(status), \(time); log: \(r.log))"
      case .timedOut(let seconds): "TIMEOUT \(r.test.name) (killed after \(seconds)s; log: \(r.log))"
      case .notRun(let reason): "NOT RUN \(r.test.name) (\(reason))"
      }
    return "[\(done)/\(total)] " + what
  }

  static func summary(_ results: [Result]) -> String {
    func count(_ p: (Outcome) -> Bool) -> Int { results.filter { p($0.outcome) }.count }
    let failed = count { if case .failed = $0 { true } else { false } }
    let timedOut = count { if case .timedOut = $0 { true } else { false } }
    let notRun = count { if case .notRun = $0 { true } else { false } }
    var text =
      "\(results.count) tests: \(count(\.passed)) passed, \(failed) failed, \(timedOut) timed out, \(notRun) not run"
    for r in results where !r.outcome.passed { text += "\n  not passed: \(r.test.name)" }
    return text
  }

  /// JUnit XML as Jenkins, GitLab and most CI systems read it: one testcase
  /// per test, a failure element (with the end of its log) for each that
  /// did not pass.
  public static func junitXML(_ results: [Result]) -> String {
    let failures = results.filter { !$0.outcome.passed }.count
    let total = results.reduce(0) { $0 + $1.seconds }
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    xml +=
      "<testsuites tests=\"\(results.count)\" failures=\"\(failures)\" time=\"\(cFormat("%.3f", total))\">\n"
    xml += "  <testsuite name=\"lacewing\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"0\""
    xml += " time=\"\(cFormat("%.3f", total))\">\n"
    for r in results {
      xml += "    <testcase name=\"\(escape(r.test.name))\" classname=\"\(escape(r.test.label))\""
      xml += " time=\"\(cFormat("%.3f", r.seconds))\""
      let message: String? =
        switch r.outcome {
        case .passed: nil
        case .failed(let status): "exit status \(status)"
        case .timedOut(let seconds): "timed out after \(seconds)s; killed"
        case .notRun(let reason): reason
        }
      guard let message else {
        xml += "/>\n"
        continue
      }
      let type =
        switch r.outcome {
        case .timedOut: "timeout"
        case .notRun: "not_run"
        default: "failure"
        }
      let tail = String(decoding: (FileManager.default.contents(atPath: r.log) ?? Data()).suffix(8192), as: UTF8.self)
      xml += ">\n      <failure type=\"\(type)\" message=\"\(escape(message))\">\(escape(tail))</failure>\n"
      xml += "    </testcase>\n"
    }
    xml += "  </testsuite>\n</testsuites>\n"
    return xml
  }

  /// XML text: markup characters escaped, characters XML 1.0 cannot hold
  /// (a test's log may have any byte) replaced.
  static func escape(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
      switch u {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "\t", "\n", "\r": out.unicodeScalars.append(u)
      default: out.unicodeScalars.append(u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF ? "\u{FFFD}" : u)
      }
    }
    return out
  }

  /// A test being run, in a process group of its own.
  struct Running {
    let index: Int
    let test: Registration.Test
    let log: String
    let pid: pid_t
    let start = Date()
    let timeout: Int
    var killedAt: Date?

    init(
      index: Int, test: Registration.Test, executable: String, log: String, timeout: Int
    ) throws(LacewingError) {
      self.index = index
      self.test = test
      self.log = log
      self.timeout = timeout
      var actions = posix_spawn_file_actions_t()
      posix_spawn_file_actions_init(&actions)
      defer { posix_spawn_file_actions_destroy(&actions) }
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
      posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      posix_spawn_file_actions_adddup2(&actions, 1, 2)
      var attributes = posix_spawnattr_t()
      posix_spawnattr_init(&attributes)
      defer { posix_spawnattr_destroy(&attributes) }
      // Its own group, so a timeout kills what the test started too; an
      // empty mask and default dispositions, whatever this process has.
      var none = sigset_t()
      sigemptyset(&none)
      var all = sigset_t()
      sigfillset(&all)
      posix_spawnattr_setsigmask(&attributes, &none)
      posix_spawnattr_setsigdefault(&attributes, &all)
      posix_spawnattr_setpgroup(&attributes, 0)
      posix_spawnattr_setflags(
        &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
      let argv = [executable] + test.args
      var cArgs = argv.map { strdup($0) } + [nil]
      defer { for p in cArgs { free(p) } }
      var pid: pid_t = 0
      let rc = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, environ)
      guard rc == 0 else {
        throw LacewingError(.toolFailed, "cannot start \(executable): \(String(cString: strerror(rc)))")
      }
      self.pid = pid
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// The outcome once the test has ended; kills it at its timeout.
    mutating func poll(graceSecs: Double) -> Outcome? {
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        // Whatever the test left running dies with it.
        kill(-pid, SIGKILL)
        if killedAt != nil { return .timedOut(seconds: timeout) }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return exit == 0 ? .passed : .failed(status: exit)
      }
      if let killedAt {
        if Date().timeIntervalSince(killedAt) > graceSecs { kill(-pid, SIGKILL) }
      } else if timeout > 0 && elapsed > Double(timeout) {
        kill(-pid, SIGTERM)
        killedAt = Date()
      }
      return nil
    }
  }
}
