import Foundation
import LacewingTestSupport
import Testing

/// A real Remote Execution API engine, started by build/test.sh
/// (build/remote-engine.sh: BuildGrid on PostgreSQL, a bot running each
/// action with buildbox-run in a bubblewrap sandbox), and our launcher
/// (remote/), built by it too.
enum RemoteEngine {
  static let dir = ProcessInfo.processInfo.environment["LACEWING_REMOTE_ENGINE_DIR"] ?? ""
  static let launcher = ProcessInfo.processInfo.environment["LACEWING_REMOTE_LAUNCHER"] ?? ""

  static var available: Bool {
    !dir.isEmpty && !launcher.isEmpty && FileManager.default.fileExists(atPath: dir + "/env")
      && FileManager.default.isExecutableFile(atPath: launcher)
  }

  static let missing: Comment = """
    no REAPI engine: build/test.sh starts one (build/remote-engine.sh start) and builds the launcher \
    (remote/build.sh), then sets LACEWING_REMOTE_ENGINE_DIR and LACEWING_REMOTE_LAUNCHER; it skips this when \
    the engine cannot be installed (no PyPI or apt), saying why
    """

  /// LACEWING_REMOTE_ENDPOINT and LACEWING_REMOTE_INSTANCE, as the engine wrote them.
  static func environment() -> [String: String] {
    var env: [String: String] = [:]
    for line in readText(dir + "/env").split(separator: "\n") {
      guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
      env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        .trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
    }
    return env
  }

  /// How many actions the worker has run since the engine started.
  static func executions() -> Int {
    readText(dir + "/executions.log").split(separator: "\n").count
  }
}

/// A checkout of the repo's GN tree with the release tools inside it, where
/// remote execution needs them (they are uploaded), built locally into
/// out/local and through the launcher into out/remote.
struct RemoteCheckout {
  let src: String
  let launcherLog: String

  init(at src: String) throws {
    self.src = src
    launcherLog = src + "/launcher.log"
    let fm = FileManager.default
    try fm.createDirectory(atPath: src + "/.build/release", withIntermediateDirectories: true)
    for item in [".gn", "BUILD.gn", "build", "gn_templates", "testdata", "third_party"] {
      try fm.copyItem(atPath: Repo.root + "/" + item, toPath: src + "/" + item)
    }
    for tool in ["collect-artifacts", "make-archive", "fuse-stub", "ldd-allowlist-check", "lacewing-stem"] {
      try require(try run("cp", ["-p", try Repo.tool(tool), src + "/.build/release/"]))
    }
  }

  static let bundles = ["rtc_test", "stem_probe", "e2e_suite", "lacewing_python"]

  func gen(_ out: String, remote: Bool) throws {
    // Pack level 3: the runtime builds in seconds, locally and remotely.
    var args = "lacewing_runtime_pack_level=3"
    if remote { args += " lacewing_remote_launcher=\"\(RemoteEngine.launcher)\"" }
    try require(try run("gn", ["gen", src + "/" + out, "--root=" + src, "--args=" + args]))
  }

  func ninja(_ out: String, _ targets: [String] = []) throws -> ProcessResult {
    try run(
      "ninja", ["-C", src + "/" + out] + targets,
      environment: environment(RemoteEngine.environment().merging(["LACEWING_REMOTE_LOG": launcherLog]) { $1 }))
  }

  /// What the launcher said of each action since `line`: hit, miss, local or fallback.
  func launcherOutcomes(from line: Int = 0) -> [String] {
    readText(launcherLog).split(separator: "\n").dropFirst(line).map { String($0.split(separator: " ")[1]) }
  }

  private func require(_ r: ProcessResult) throws {
    guard r.status == 0 else { throw TestSetupError("remote checkout setup failed:\n\(r.output)") }
  }
}

extension E2E {
  /// Every Lacewing action of `//:default` on the engine: the same bundles as
  /// a local build, a second checkout served wholly from the action cache,
  /// an edit rerunning what the local matrix says, and an undeclared read
  /// failing on the worker.
  @Suite(.serialized, .enabled(if: RemoteEngine.available, RemoteEngine.missing))
  struct RemoteExecutionTests {
    /// Two checkouts at different paths and depths, built in order.
    static let checkouts: Result<(RemoteCheckout, RemoteCheckout), any Error> = Result {
      let dir = try makeTemporaryDirectory("remote")
      let a = try RemoteCheckout(at: dir + "/a/src")
      let b = try RemoteCheckout(at: dir + "/elsewhere/deeper/b")
      for checkout in [a, b] {
        try checkout.gen("out/local", remote: false)
        try checkout.gen("out/remote", remote: true)
      }
      return (a, b)
    }

    @Test func aRemoteBuildMakesTheBundlesALocalOneMakes() throws {
      let (a, _) = try Self.checkouts.get()
      let local = try a.ninja("out/local")
      try #require(local.status == 0, "\(local.output)")
      let remote = try a.ninja("out/remote")
      try #require(remote.status == 0, "\(remote.output)")
      let ran = E2EBuild.actions(remote)
      let outcomes = a.launcherOutcomes()
      #expect(!ran.isEmpty && outcomes.count == ran.count, "every action went through the launcher: \(outcomes)")
      #expect(outcomes.allSatisfy { $0 == "hit" || $0 == "miss" }, "every action ran remotely: \(outcomes)")
      for bundle in RemoteCheckout.bundles {
        let l = try readFile(a.src + "/out/local/" + bundle)
        let r = try readFile(a.src + "/out/remote/" + bundle)
        #expect(l == r, "\(bundle) built remotely differs from the local build")
      }
      // The bundle's mode came back with it.
      let bundle = try FileManager.default.attributesOfItem(atPath: a.src + "/out/remote/rtc_test")
      #expect((bundle[.posixPermissions] as? Int).map { $0 & 0o111 != 0 } == true)
      let noop = try a.ninja("out/remote")
      #expect(noop.stdout.contains("ninja: no work to do."), "\(noop.stdout)")
    }

    @Test func aSecondCheckoutIsServedFromTheCacheAlone() throws {
      let (a, b) = try Self.checkouts.get()
      let first = try a.ninja("out/remote")
      try #require(first.status == 0, "\(first.output)")
      let before = RemoteEngine.executions()
      let r = try b.ninja("out/remote")
      try #require(r.status == 0, "\(r.output)")
      #expect(RemoteEngine.executions() == before, "the worker ran actions for the second checkout")
      let outcomes = b.launcherOutcomes()
      #expect(!outcomes.isEmpty && outcomes.allSatisfy { $0 == "hit" }, "\(outcomes)")
      for bundle in RemoteCheckout.bundles {
        #expect(
          try readFile(a.src + "/out/remote/" + bundle) == readFile(b.src + "/out/remote/" + bundle),
          "\(bundle) differs between the checkouts")
      }
    }

    /// The local matrix (IncrementalTests) says editing the test's source
    /// reruns its .pyz and the two bundles carrying it; remotely the same
    /// three run, each on the worker (the edit is new), and undoing the edit
    /// reruns them again, from the cache.
    @Test func editingTheTestRerunsRemotelyWhatTheLocalMatrixSays() throws {
      let (a, _) = try Self.checkouts.get()
      try #require(try a.ninja("out/remote").status == 0)
      let file = a.src + "/testdata/rtc_test/rtc_test.py"
      let original = readText(file)
      try writeText(original + "# remote edit \(UUID().uuidString)\n", to: file)
      try bumpMtime(file)
      defer {
        try? writeText(original, to: file)
        try? bumpMtime(file)
      }
      let before = RemoteEngine.executions()
      let line = a.launcherOutcomes().count
      let edited = try a.ninja("out/remote")
      try #require(edited.status == 0, "\(edited.output)")
      #expect(E2EBuild.actions(edited) == IncrementalTests.pyzChain)
      #expect(RemoteEngine.executions() - before == IncrementalTests.pyzChain.count)
      #expect(a.launcherOutcomes(from: line) == Array(repeating: "miss", count: IncrementalTests.pyzChain.count))

      try writeText(original, to: file)
      try bumpMtime(file)
      let undone = try a.ninja("out/remote")
      try #require(undone.status == 0, "\(undone.output)")
      #expect(E2EBuild.actions(undone) == IncrementalTests.pyzChain)
      #expect(RemoteEngine.executions() - before == IncrementalTests.pyzChain.count, "undoing ran on the worker")
    }

    @Test func anUndeclaredReadFailsOnTheWorkerNamingTheFile() throws {
      let (a, _) = try Self.checkouts.get()
      let target = "testdata/remote:undeclared_read"
      let local = try a.ninja("out/local", [target])
      #expect(local.status == 0, "locally the file is there to read: \(local.output)")
      let remote = try a.ninja("out/remote", [target])
      #expect(remote.status != 0)
      #expect(remote.output.contains("testdata/remote/undeclared.txt"), "\(remote.output)")
    }
  }
}
