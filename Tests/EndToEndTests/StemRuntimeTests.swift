import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// The stem's run-time contract, on the real probe bundle built by GN: exit
  /// statuses and signals as `python3 probe.pyz` gives them, no leaks into
  /// children, a cache that survives concurrency and SIGKILL, hostile
  /// environments.
  @Suite struct StemRuntimeTests {
    let build: E2EBuild
    let dir: String

    init() throws {
      build = try E2EBuild.get()
      dir = try makeTemporaryDirectory("stem")
    }

    var probe: String { build.out + "/stem_probe" }
    var pyz: String { build.out + "/stem_probe.pyz" }

    /// A controlled environment: a private cache, or temp mode in a private TMPDIR.
    func env(_ mode: String, _ extra: [String: String] = [:]) -> [String: String] {
      var e = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": dir + "/home", "TMPDIR": dir + "/tmp"]
      try? FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
      if mode == "temp" { e["LACEWING_EXTRACT"] = "temp" } else { e["LACEWING_CACHE_DIR"] = dir + "/cache" }
      return e.merging(extra) { $1 }
    }

    func tmpContents() -> [String] {
      (try? FileManager.default.contentsOfDirectory(atPath: dir + "/tmp")) ?? []
    }

    func cacheContents() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache")) ?? []).sorted()
    }

    @Test(arguments: ["cache", "temp"])
    func exitStatusesAreThoseOfPython(mode: String) throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for code in ["0", "1", "3", "255"] {
        let bundled = try run(probe, ["exit", code], environment: env(mode))
        let direct = try run("/usr/bin/python3.11", [pyz, "exit", code], environment: env(mode))
        #expect(bundled.status == Int32(code)!, "\(mode) exit \(code): \(bundled.stderr)")
        #expect(bundled.status == direct.status)
        #expect(bundled.stdout == "" && bundled.stderr == "")
      }
      #expect(tmpContents().isEmpty)
    }

    @Test(arguments: ["cache", "temp"])
    func deathBySignalIsThatOfPython(mode: String) throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for sig in ["SIGINT", "SIGTERM", "SIGKILL", "SIGSEGV"] {
        let bundled = try run(probe, ["die", sig], environment: env(mode))
        let direct = try run("/usr/bin/python3.11", [pyz, "die", sig], environment: env(mode))
        #expect(bundled.signal != nil && bundled.signal == direct.signal, "\(mode) \(sig): \(bundled.status)")
      }
      #expect(tmpContents().isEmpty)
    }

    @Test(arguments: ["cache", "temp"], ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
    func signalsSentToTheStemReachTheTest(mode: String, name: String) throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let sig: Int32 = ["SIGINT": SIGINT, "SIGTERM": SIGTERM, "SIGHUP": SIGHUP, "SIGQUIT": SIGQUIT][name]!
      func signalled(_ executable: String, _ args: [String]) throws -> (pid: Int32, testPid: Int32, signal: Int32?) {
        let p = try Spawned(executable, args, environment: env(mode))
        let line = p.firstLine() ?? ""
        #expect(line.hasPrefix("ready "), "\(mode) \(name): no ready line")
        let testPid = Int32(line.dropFirst(6)) ?? -1
        p.signal(sig)
        let result = p.wait()
        return (p.pid, testPid, result.signal)
      }
      let bundled = try signalled(probe, ["wait"])
      let direct = try signalled("/usr/bin/python3.11", [pyz, "wait"])
      #expect(bundled.signal == direct.signal, "\(mode) \(name)")
      #expect(bundled.signal != nil)
      if mode == "cache" {
        // exec: the stem's pid is the test's; nothing stays behind.
        #expect(bundled.pid == bundled.testPid)
      } else {
        #expect(bundled.pid != bundled.testPid)
        #expect(!processExists(bundled.testPid))
        #expect(tmpContents().isEmpty, "temp dir left: \(tmpContents())")
      }
    }

    /// The bundled CPython keeps the cache locks it inherits from the stem:
    /// while the probe runs, pruning everything idle leaves its two entries;
    /// once it has ended, the same prune removes them.
    @Test func aRunningPythonTestKeepsItsEntriesThroughAPrune() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let pruneAll = env("cache", ["LACEWING_CACHE": "prune", "LACEWING_CACHE_MAX_AGE_DAYS": "0"])
      let p = try Spawned(probe, ["wait"], environment: env("cache"))
      #expect(p.firstLine()?.hasPrefix("ready ") == true)
      let entries = cacheContents()
      #expect(entries.count == 2, "\(entries)")
      let held = try run(probe, [], environment: pruneAll)
      #expect(held.status == 0 && held.stdout.contains("removed 0 entries"), "\(held.output)")
      #expect(cacheContents() == entries)
      let list = try run(probe, [], environment: env("cache", ["LACEWING_CACHE": "list"]))
      for entry in entries { #expect(list.stdout.contains("in use: " + entry), "\(list.stdout)") }
      p.signal(SIGTERM)
      _ = p.wait()
      let pruned = try run(probe, [], environment: pruneAll)
      #expect(pruned.status == 0 && pruned.stdout.contains("removed 2 entries"), "\(pruned.output)")
      #expect(cacheContents().filter { $0.hasPrefix(BundleLayout.cacheKeyPrefix) }.isEmpty, "\(cacheContents())")
    }

    @Test func sigkillOfATempModeStemTakesTheTestAlongAndTheNextRunCleansUp() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let p = try Spawned(probe, ["wait"], environment: env("temp"))
      let testPid = Int32((p.firstLine() ?? "").dropFirst(6)) ?? -1
      #expect(testPid > 0 && processExists(testPid))
      p.signal(SIGKILL)
      _ = p.wait()
      var waited = 0
      while processExists(testPid) && waited < 100 {
        usleep(50_000)
        waited += 1
      }
      #expect(!processExists(testPid), "the test outlived its SIGKILLed stem")
      #expect(tmpContents().count == 1, "the killed stem's dir: \(tmpContents())")
      let next = try run(probe, ["exit", "0"], environment: env("temp"))
      #expect(next.status == 0)
      #expect(tmpContents().isEmpty, "orphan not removed: \(tmpContents())")
    }

    @Test(arguments: ["cache", "temp"])
    func childrenSeeExactlyTheCallersEnvironment(mode: String) throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let caller = env(mode, ["FOO": "bar baz", "PYTHONPATH": "/ambient/path", "LD_LIBRARY_PATH": "/ambient/lib"])
      let r = try run(probe, ["child-env"], environment: caller)
      #expect(r.status == 0, "\(r.stderr)")
      let seen = try JSONDecoder().decode([String: String].self, from: Data(r.stdout.utf8))
      #expect(seen == caller)
      let direct = try run("/usr/bin/python3.11", [pyz, "child-env"], environment: caller)
      #expect(try JSONDecoder().decode([String: String].self, from: Data(direct.stdout.utf8)) == seen)
    }

    @Test func cwdArgvAndStdinAreTheCallers() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try FileManager.default.createDirectory(atPath: dir + "/work dir", withIntermediateDirectories: true)
      let r = try run(
        probe, ["where", "a b", "", "ü"], environment: env("cache"), directory: dir + "/work dir", stdin: "in\n")
      struct Where: Decodable, Equatable {
        var cwd: String
        var argv: [String]
        var stdin: String
      }
      let w = try JSONDecoder().decode(Where.self, from: Data(r.stdout.utf8))
      #expect(w == Where(cwd: resolvedPath(dir + "/work dir"), argv: ["a b", "", "ü"], stdin: "in\n"))
    }

    @Test func sixteenSimultaneousColdStartsShareOneEntry() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let starts = try (0..<16).map { _ in try Spawned(probe, ["exit", "0"], environment: env("cache")) }
      let results = starts.map { $0.wait() }
      #expect(results.allSatisfy { $0.status == 0 }, "\(results)")
      // One runtime entry and one for the test, whoever published them.
      let entries = cacheContents()
      #expect(
        entries.count == 2 && entries.filter { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) }.count == 1,
        "\(entries)")
    }

    @Test func sigkillDuringExtractionNeverLeavesAnythingTrusted() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for trial in 0..<20 {
        for entry in cacheContents() where entry.hasPrefix(BundleLayout.cacheKeyPrefix) {
          try FileManager.default.removeItem(atPath: dir + "/cache/" + entry)
        }
        let p = try Spawned(probe, ["exit", "0"], environment: env("cache"))
        usleep(useconds_t(trial * 25_000))  // 0 to 475 ms: before, during and after extraction
        p.signal(SIGKILL)
        _ = p.wait()
        let next = try run(probe, ["exit", "7"], environment: env("cache"))
        #expect(next.status == 7, "trial \(trial): \(next.stderr)")
        let entries = cacheContents()
        #expect(
          entries.count == 2 && entries.filter { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) }.count == 1,
          "trial \(trial): \(entries)")
      }
    }

    /// Runs the probe with HOME (and the cache under it) on a fresh tmpfs
    /// mounted with `options`, in a private mount namespace.
    func withMountedHome(_ options: String, tmpdirOptions: String? = nil, _ args: [String]) throws -> ProcessResult {
      try FileManager.default.createDirectory(atPath: dir + "/mnt-home", withIntermediateDirectories: true)
      try FileManager.default.createDirectory(atPath: dir + "/mnt-tmp", withIntermediateDirectories: true)
      try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
      var script = "mount -t tmpfs -o \(options) tmpfs \"$D/mnt-home\" || exit 90; "
      if let tmpdirOptions { script += "mount -t tmpfs -o \(tmpdirOptions) tmpfs \"$D/mnt-tmp\" || exit 91; " }
      script += "exec \"$@\""
      var e = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": dir + "/mnt-home", "D": dir]
      e["TMPDIR"] = tmpdirOptions == nil ? dir + "/tmp" : dir + "/mnt-tmp"
      return try run("unshare", ["--mount", "--fork", "sh", "-c", script, "sh", probe] + args, environment: e)
    }

    @Test func readOnlyHomeFallsBackToATempDir() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let r = try withMountedHome("ro", ["exit", "5"])
      #expect(r.status == 5 && r.stderr == "", "\(r.stderr)")
    }

    @Test func noexecCacheFallsBackToATempDir() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let r = try withMountedHome("noexec", ["exit", "5"])
      #expect(r.status == 5 && r.stderr == "", "\(r.stderr)")
    }

    @Test func aFullCacheDiskFallsBackToATempDir() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // 2 MiB cannot hold the ~35 MB extraction: ENOSPC midway.
      let r = try withMountedHome("size=2m", ["exit", "6"])
      #expect(r.status == 6 && r.stderr == "", "\(r.stderr)")
    }

    @Test func nothingExecutableFailsWithOneClearLine() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let r = try withMountedHome("noexec", tmpdirOptions: "noexec", ["exit", "5"])
      #expect(r.status == 126, "\(r.status) \(r.stderr)")
      #expect(r.stderr.hasPrefix("lacewing: cannot execute"), "\(r.stderr)")
      #expect(r.stderr.contains("noexec"))
      #expect(r.stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func noHomeFallsBackToATempDir() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
      let r = try run(probe, ["exit", "4"], environment: ["PATH": "/usr/bin:/bin", "TMPDIR": dir + "/tmp"])
      #expect(r.status == 4 && r.stderr == "", "\(r.stderr)")
      #expect(tmpContents().isEmpty)
    }

    @Test func aCacheDirectoryOthersCanWriteIsRefused() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
      chmod(dir + "/cache", 0o777)
      let r = try run(probe, ["exit", "0"], environment: env("cache"))
      #expect(r.status == 0, "\(r.stderr)")
      #expect(cacheContents().isEmpty, "used a world-writable cache: \(cacheContents())")
    }

    @Test func aCacheRootItCreatesIsPrivate() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let root = dir + "/fresh/a/b"
      let r = try run(probe, ["exit", "0"], environment: env("cache", ["LACEWING_CACHE_DIR": root]))
      #expect(r.status == 0, "\(r.stderr)")
      for made in [dir + "/fresh", dir + "/fresh/a", root] {
        var st = stat()
        #expect(
          stat(made, &st) == 0 && st.st_mode & 0o777 == 0o700, "\(made) is \(String(st.st_mode & 0o777, radix: 8))")
      }
      #expect(
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).contains {
          $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix)
        })
    }

    @Test func aCacheRootOwnedBySomeoneElseIsRefused() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
      chmod(dir + "/cache", 0o700)
      // The tests run as root; nobody (65534) is someone else.
      #expect(chown(dir + "/cache", 65534, 65534) == 0)
      let r = try run(probe, ["exit", "0"], environment: env("cache"))
      #expect(r.status == 0, "\(r.stderr)")
      #expect(cacheContents().isEmpty, "used a cache owned by another user: \(cacheContents())")
    }

    /// The host check on the probe GN built (docs/design.md, "The host
    /// check"): its config and size report say what the allowlist check
    /// found it needs, and in a root with no /proc, or no loader, it fails
    /// with one line and 126 before extracting anything, in cache and temp
    /// mode; with both, it runs.
    @Test func theProbeSaysWhatItNeedsOfTheHostAndChecksIt() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let needs = try AllowlistCheck.HostNeeds.read(build.out + "/gen/testdata/stem_probe/stem_probe.host_needs.json")
      let glibc = try #require(needs.glibc)
      #expect(needs.loaders == ["python/bin/python3.11": "/lib64/ld-linux-x86-64.so.2"])
      let listing = try run(probe, [], environment: env("cache", ["LACEWING_LIST": "1"]))
      #expect(
        listing.status == 0
          && listing.stdout.contains(
            "\nloader /lib64/ld-linux-x86-64.so.2\nglibc \(glibc.version)\nglibc_library \(glibc.library)\n"),
        "\(listing.output.prefix(2000))")
      let needsLine =
        "needs glibc \(glibc.version) or newer (GLIBC_\(glibc.version) in \(glibc.library)) and the loader "
        + "/lib64/ld-linux-x86-64.so.2"
      #expect(readText(build.out + "/stem_probe.size.txt").contains("\n" + needsLine + "\n"))
      let report = try JSONSerialization.jsonObject(with: try readFile(build.out + "/stem_probe.size.json"))
      #expect(
        (report as? [String: Any])?["host"] as? [String: String]
          == ["glibc": glibc.version, "glibc_library": glibc.library, "loader": "/lib64/ld-linux-x86-64.so.2"])

      let root = try PythonlessRoot(bundles: ["stem_probe": probe])
      defer { root.remove() }
      func extracted() -> [String] {
        ["/cache", "/tmp"].flatMap { (try? FileManager.default.contentsOfDirectory(atPath: root.path + $0)) ?? [] }
      }
      func emptyCache() throws {
        try FileManager.default.removeItem(atPath: root.path + "/cache")
        try FileManager.default.createDirectory(atPath: root.path + "/cache", withIntermediateDirectories: true)
      }
      for mode in ["cache", "temp"] {
        let e = ["LACEWING_CACHE_DIR": "/cache", "LACEWING_EXTRACT": mode, "TMPDIR": "/tmp"]
        let noProc = try root.run("stem_probe", ["exit", "3"], env: e, proc: false)
        #expect(
          noProc.status == 126
            && noProc.stderr
              == "lacewing: this bundle's interpreter finds its libraries through $ORIGIN, which the loader resolves "
              + "by reading /proc/self/exe, and /proc is not mounted on this host; mount it (mount -t proc proc /proc)\n",
          "\(mode): \(noProc.output)")
        #expect(extracted().isEmpty, "\(mode): \(extracted())")
        let ok = try root.run("stem_probe", ["exit", "3"], env: e)
        #expect(ok.status == 3 && ok.stderr == "", "\(mode): \(ok.output)")
        try emptyCache()
      }
      try FileManager.default.removeItem(atPath: root.path + "/lib64/ld-linux-x86-64.so.2")
      let noLoader = try root.run(
        "stem_probe", ["exit", "3"], env: ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"])
      #expect(
        noLoader.status == 126
          && noLoader.stderr
            == "lacewing: this bundle needs glibc (its interpreter's loader /lib64/ld-linux-x86-64.so.2); this host "
            + "has none (a musl or other non-glibc system?)\n",
        "\(noLoader.output)")
      #expect(extracted().isEmpty, "\(extracted())")
    }

    @Test func timingsGoToStderrAndTheTimingsFile() throws {
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let e = env("cache", ["LACEWING_TIMINGS": "1", "LACEWING_TIMINGS_FILE": dir + "/timings.log"])
      let cold = try run(probe, ["exit", "0"], environment: e)
      #expect(cold.stdout == "")
      #expect(cold.stderr.contains("lacewing: extracted") && cold.stderr.contains("lacewing: exec after"))
      let warm = try run(probe, ["exit", "0"], environment: e)
      #expect(warm.stderr.contains("lacewing: cache hit"))
      // One line per extraction: the shared runtime's, and the test's own.
      let log = readText(dir + "/timings.log").split(separator: "\n")
      #expect(log.count == 2 && log.allSatisfy { $0.hasPrefix("extract_ms=") }, "\(log)")
    }
  }
}
