import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// The cache's lifecycle (docs/design.md, "Cache lifecycle") on real
/// bundles run by the real stem: cold starts evict stale entries and keep
/// the cache under its cap, warm starts do neither, and an entry a running
/// test holds is never taken, however many runs race to evict. The bundles'
/// "interpreter" is a shell script, so no Python is needed and the runs can
/// be held open for as long as a test needs, without timing assumptions.
@Suite(.serialized) struct CacheLifecycleTests {
  /// Its first argument is the test's path (the stem passes it), then the
  /// caller's: `check N` checks N times, 50 ms apart, that the test's own
  /// files are still there; `hold READY RELEASE` writes READY (whatever
  /// happens next, so the test never waits for it in vain), checks, waits
  /// for RELEASE to exist, then checks again.
  static let interpreter = """
    #!/bin/sh
    test_file=$1
    shift
    check() { [ -f "$test_file" ] && [ -f "${0%/bin/*}/runtime/python/bin/data" ] || { echo "gone: $0" >&2; exit 3; }; }
    case "$1" in
      check) i=0; while [ "$i" -lt "$2" ]; do check; sleep 0.05; i=$((i + 1)); done ;;
      hold) : > "$2"; check; while [ ! -e "$3" ]; do sleep 0.05; done; check ;;
      *) check ;;
    esac
    exit 0

    """

  let dir: String
  var cache: String { dir + "/cache" }

  init() throws {
    dir = try makeTemporaryDirectory("cache-life")
  }

  /// A bundle whose test layer says `test` (so each name is its own test
  /// entry) on a runtime of `runtimeBytes` zeros plus `runtime` (each value
  /// its own runtime entry).
  func bundle(_ name: String, test: String? = nil, runtime: String = "", runtimeBytes: Int = 0) throws -> String {
    let work = dir + "/build-" + name
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    var entries: [(name: String, data: String, mode: Int)] = [
      ("python/bin/python3.11", Self.interpreter, 0o100755),
      ("python/bin/data", runtime, 0o100644),
      ("test/t.pyz", test ?? name, 0o100644),
    ]
    if runtimeBytes > 0 { entries.append(("python/lib/filler", "ZEROS:\(runtimeBytes)", 0o100644)) }
    try HostileBundleTests.writeZip(work + "/p.zip", entries)
    let manifest = BundleManifest(
      interpreter: "python/bin/python3.11", compiler: nil,
      entries: entries.map { .init(path: $0.name, kind: .data) })
    try manifest.encoded().write(to: URL(fileURLWithPath: work + "/m.json"))
    let bundle = dir + "/" + name
    let r = try run(
      try Repo.tool("fuse-stub"),
      [
        "--stem", try Repo.tool("lacewing-stem"), "--payload", work + "/p.zip", "--manifest", work + "/m.json",
        "--main", "test/t.pyz", "--shared-runtime", "--output", bundle,
      ])
    guard r.status == 0 else { throw TestSetupError("fuse-stub failed: \(r.stderr)") }
    return bundle
  }

  func env(_ extra: [String: String] = [:]) -> [String: String] {
    ["PATH": "/usr/bin:/bin", "LACEWING_CACHE_DIR": cache, "TMPDIR": dir].merging(extra) { $1 }
  }

  /// The cache's entries (`v<version>-...`), sorted.
  func entries() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasPrefix("v") }.sorted()
  }

  /// Disk space under `path` as the stem counts it: allocated blocks.
  func diskBytes(_ path: String) -> Int {
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0 }
    var total = Int(st.st_blocks) * 512
    if (st.st_mode & 0o170000) == 0o040000 {
      for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
        total += diskBytes(path + "/" + name)
      }
    }
    return total
  }

  func mtime(_ entry: String) -> Date {
    ((try? FileManager.default.attributesOfItem(atPath: cache + "/" + entry))?[.modificationDate] as? Date)
      ?? .distantPast
  }

  func setMtime(_ entry: String, daysAgo: Double) throws {
    try FileManager.default.setAttributes(
      [.modificationDate: Date().addingTimeInterval(-daysAgo * 86_400)], ofItemAtPath: cache + "/" + entry)
  }

  /// An entry a stem of another format version, or another bundle, left:
  /// a directory with a file in it.
  func plant(_ entry: String, daysAgo: Double) throws {
    try writeText("old\n", to: cache + "/" + entry + "/file")
    try setMtime(entry, daysAgo: daysAgo)
  }

  /// Stale entries (60 days unused) are gone after a cold start, whatever
  /// their format version; fresh ones and the run's own stay; a warm start
  /// evicts nothing and records use at most once a day.
  @Test func staleEntriesAreEvictedOnAColdStartOnly() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try bundle("first")
    let second = try bundle("second")
    #expect(try run(first, [], environment: env()).status == 0)
    let firstEntries = entries()
    #expect(firstEntries.count == 2, "\(firstEntries)")
    let stale = ["v3-0123456789abcdef0123456789abcdef", "v3-rt-fedcba9876543210fedcba9876543210", "v2-0011"]
    for entry in stale { try plant(entry, daysAgo: 60) }
    try plant("v3-00000000000000000000000000000fresh", daysAgo: 1)
    try writeText("not an entry\n", to: cache + "/notes")
    try FileManager.default.setAttributes(
      [.modificationDate: Date().addingTimeInterval(-60 * 86_400)], ofItemAtPath: cache + "/notes")
    // The first bundle's test entry is as stale; its runtime is the
    // second's too, so the second run uses it and must keep it.
    let firstTest = try #require(firstEntries.first { !$0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) })
    let runtime = try #require(firstEntries.first { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) })
    try setMtime(firstTest, daysAgo: 60)
    try setMtime(runtime, daysAgo: 60)

    // A warm start of the first bundle evicts nothing, not even itself...
    let warm = try run(first, [], environment: env())
    #expect(warm.status == 0, "\(warm.stderr)")
    #expect(Set(entries()).isSuperset(of: stale + firstEntries), "\(entries())")
    // ...and records its use: both of its entries were 60 days old.
    #expect(mtime(firstTest).timeIntervalSinceNow > -3_600 && mtime(runtime).timeIntervalSinceNow > -3_600)
    // Used an hour ago: a warm start leaves the time alone (once a day).
    try setMtime(firstTest, daysAgo: 1.0 / 24)
    let hourAgo = mtime(firstTest)
    #expect(try run(first, [], environment: env()).status == 0)
    #expect(mtime(firstTest) == hourAgo)

    try setMtime(firstTest, daysAgo: 60)
    try setMtime(runtime, daysAgo: 60)
    // A cold start (the second bundle's own test entry) evicts.
    let cold = try run(second, [], environment: env())
    #expect(cold.status == 0, "\(cold.stderr)")
    let left = entries()
    for entry in stale + [firstTest] { #expect(!left.contains(entry), "\(entry) survived: \(left)") }
    #expect(left.contains(runtime), "the runtime in use was evicted: \(left)")
    #expect(left.contains("v3-00000000000000000000000000000fresh"), "\(left)")
    #expect(left.count == 3, "\(left)")
    #expect(FileManager.default.fileExists(atPath: cache + "/notes"), "only entries are evicted")
    // Nothing half-removed is left behind.
    let all = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
    #expect(!all.contains { $0.hasPrefix(".trash-") || $0.hasPrefix(".work-") }, "\(all)")

    // The age is settable.
    try setMtime("v3-00000000000000000000000000000fresh", daysAgo: 3)
    let third = try bundle("third")
    #expect(try run(third, [], environment: env(["LACEWING_CACHE_MAX_AGE_DAYS": "2"])).status == 0)
    #expect(!entries().contains("v3-00000000000000000000000000000fresh"), "\(entries())")
    let bad = try run(third, [], environment: env(["LACEWING_CACHE_MAX_AGE_DAYS": "a week"]))
    #expect(bad.status == 2 && bad.stderr.contains("LACEWING_CACHE_MAX_AGE_DAYS=a week is not a whole number"))
  }

  /// Eight runs race, each a cold start that evicts every entry not in use
  /// (max age 0), while other runs hold their entries open: no run ever
  /// finds its files gone, and the held entries survive every round.
  @Test func entriesInUseSurviveEvictionRacingEightConcurrentRuns() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let evictAll = env(["LACEWING_CACHE_MAX_AGE_DAYS": "0"])
    // Two holders: one on the runtime the racers share, one on its own.
    let holders = [try bundle("holder"), try bundle("loner", runtime: "own runtime")]
    let held = try holders.enumerated().map { i, holder in
      try Spawned(
        holder, ["hold", dir + "/ready\(i)", dir + "/release"], environment: evictAll, stdout: .null,
        stderr: .file(dir + "/holder\(i).err"))
    }
    // Released however the test ends, so no holder outlives it.
    defer { try? writeText("", to: dir + "/release") }
    for i in holders.indices {
      // Each holder is running (its entries locked) once it wrote this;
      // the deadline only keeps a broken stem from hanging the suite.
      let deadline = Date().addingTimeInterval(120)
      while !FileManager.default.fileExists(atPath: dir + "/ready\(i)") && Date() < deadline { usleep(20_000) }
    }
    let heldEntries = entries()
    #expect(heldEntries.count == 4, "\(heldEntries)")
    for round in 0..<3 {
      // Half share the holder's runtime, half have their own.
      let racers = try (0..<8).map { i in
        try bundle("r\(round)-\(i)", runtime: i % 2 == 0 ? "" : "runtime \(round)-\(i)")
      }
      let runs = try racers.map { racer in
        try Spawned(
          racer, ["check", "10"], environment: evictAll, stdout: .null, stderr: .file(racer + ".err"))
      }
      let results = runs.map { $0.wait() }
      for (racer, result) in zip(racers, results) {
        #expect(result.status == 0, "round \(round) \(racer): \(result) \(readText(racer + ".err"))")
      }
      #expect(Set(entries()).isSuperset(of: heldEntries), "round \(round): \(entries())")
    }
    // A listing tells the held entries from the idle ones.
    let list = try run(holders[0], [], environment: env(["LACEWING_CACHE": "list"]))
    #expect(list.status == 0, "\(list.stderr)")
    for entry in heldEntries { #expect(list.stdout.contains("in use: " + entry), "\(list.stdout)") }
    try writeText("", to: dir + "/release")
    for (i, holder) in held.enumerated() {
      #expect(holder.wait().status == 0, "holder \(i): \(readText(dir + "/holder\(i).err"))")
    }
    // What a killed extraction and a killed eviction leave (their pid is
    // gone) goes with a prune too.
    let dead = try Spawned("/bin/true", [])
    _ = dead.wait()
    for orphan in [".work-\(dead.pid)-abcdef", ".trash-\(dead.pid)-v3-0123"] {
      try writeText("left\n", to: cache + "/" + orphan + "/file")
    }
    // Nobody holds anything now: pruning with max age 0 empties the cache.
    let prune = try run(
      holders[0], [], environment: env(["LACEWING_CACHE": "prune", "LACEWING_CACHE_MAX_AGE_DAYS": "0"]))
    #expect(prune.status == 0 && prune.stdout.contains("removed "), "\(prune.output)")
    #expect(entries().isEmpty, "\(entries())")
    let left = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
    #expect(left.isEmpty, "\(left)")
  }

  /// Runs of bundles on distinct 1 MB runtimes, one after another, under a
  /// 3.5 MB cap: after every run the cache fits, and what went first is
  /// what was used least recently.
  @Test func theCapHolds() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cap = 3_500_000
    let capped = env(["LACEWING_CACHE_MAX_BYTES": "\(cap)"])
    var seen: [[String]] = []
    var last = ""
    for i in 0..<6 {
      let before = Set(entries())
      let b = try bundle("capped\(i)", runtime: "runtime \(i)", runtimeBytes: 1_000_000)
      last = b
      let r = try run(b, [], environment: capped)
      #expect(r.status == 0, "\(r.stderr)")
      seen.append(entries().filter { !before.contains($0) })
      let total = entries().reduce(0) { $0 + diskBytes(cache + "/" + $1) }
      #expect(total <= cap, "run \(i): \(total) bytes in \(entries())")
    }
    let left = Set(entries())
    let listing = try run(last, [], environment: env(["LACEWING_CACHE": "list"])).stdout
    #expect(seen[5].allSatisfy(left.contains) && seen[4].allSatisfy(left.contains), "\(seen) \(listing)")
    #expect(!seen[0].contains(where: left.contains), "the least recently used stayed: \(seen) \(listing)")
    // Without the cap (default 2 GiB), nothing more goes.
    let extra = try bundle("uncapped", runtime: "runtime x", runtimeBytes: 1_000_000)
    #expect(try run(extra, [], environment: env()).status == 0)
    #expect(Set(entries()).isSuperset(of: left))
  }
}
