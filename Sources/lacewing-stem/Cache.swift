import StemSupport

/// The cache's lifecycle (docs/design.md, "Cache lifecycle"): entries in use
/// are locked, use is recorded on the entry's directory mtime at most daily,
/// and cold starts evict entries unused for too long or past a size cap.
///
/// A run holds a shared `flock` on every entry it uses through a descriptor
/// that is deliberately not close-on-exec: the interpreter the stem becomes
/// keeps it, so the lock lasts exactly as long as the test. Eviction takes a
/// non-blocking exclusive lock, so it never waits for a test and never takes
/// an entry from one.
enum Cache {
  static let day: Int = 86_400

  /// What eviction keeps, from the environment.
  struct Policy {
    /// Entries whose last use is older than this are evicted (0: every
    /// entry not in use).
    var maxAgeSeconds: Int
    /// Idle entries are evicted, least recently used first, until the
    /// cache takes no more than this.
    var maxBytes: Int

    static let ageVariable = "LACEWING_CACHE_MAX_AGE_DAYS"
    static let bytesVariable = "LACEWING_CACHE_MAX_BYTES"

    static func fromEnvironment() throws(StemFailure) -> Policy {
      var policy = Policy(maxAgeSeconds: 7 * day, maxBytes: 2 << 30)
      if let text = getenvString(ageVariable) {
        guard let days = Int(text), days >= 0, days <= 100_000 else {
          throw usage(ageVariable + "=" + text + " is not a whole number of days (default 7)")
        }
        policy.maxAgeSeconds = days * day
      }
      if let text = getenvString(bytesVariable) {
        guard let bytes = Int(text), bytes >= 0 else {
          throw usage(bytesVariable + "=" + text + " is not a number of bytes (default 2147483648)")
        }
        policy.maxBytes = bytes
      }
      return policy
    }
  }

  static func usage(_ message: String) -> StemFailure {
    StemFailure(exitCode: Int32(LW_EXIT_USAGE), message: message)
  }

  /// Opens the published entry at `path`, takes its shared lock and returns
  /// the descriptor, kept open into the exec'd interpreter; nil when there
  /// is no such entry of ours, or it was evicted while we waited.
  static func use(_ path: CPath) -> Int32? {
    let fd = path.withCString { lw_open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0) }
    guard fd >= 0 else { return nil }
    var locked = stat()
    var named = stat()
    // An evictor renames an entry only while holding it exclusively, so
    // once we hold it shared, the name still leading to our directory means
    // it stays there until the interpreter exits.
    while flock(fd, LOCK_SH) != 0 {
      if lw_errno() != EINTR {
        close(fd)
        return nil
      }
    }
    guard fstat(fd, &locked) == 0, path.withCString({ lstat($0, &named) }) == 0, locked.st_dev == named.st_dev,
      locked.st_ino == named.st_ino, locked.st_uid == geteuid()
    else {
      close(fd)
      return nil
    }
    recordUse(fd, locked)
    return fd
  }

  /// Marks the entry used now, at most once a day: a warm start pays one
  /// clock read, and a write only on its first run of the day.
  static func recordUse(_ fd: Int32, _ st: stat) {
    if now() - Int(st.st_mtim.tv_sec) >= day { _ = futimens(fd, nil) }
  }

  static func now() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int(ts.tv_sec)
  }

  /// A cache entry's name: `v<format version>-...`, of any format version,
  /// so entries an older stem left are evicted too.
  static func isEntryName(_ name: [UInt8]) -> Bool {
    guard name.count > 2, name[0] == 0x76 else { return false }
    var i = 1
    while i < name.count, name[i] >= 0x30, name[i] <= 0x39 { i += 1 }
    return i > 1 && i < name.count - 1 && name[i] == 0x2D
  }

  struct Entry {
    var name: [UInt8]
    var path: CPath
    var lastUse: Int
    /// Orders entries used within the same second.
    var lastUseNanos: Int
    var bytes: Int
  }

  /// Every entry directory of ours in `root`, with its last use and size.
  static func entries(in root: CPath) -> [Entry] {
    guard let stream = root.withCString({ opendir($0) }) else { return [] }
    defer { closedir(stream) }
    var out: [Entry] = []
    while let dirent = readdir(stream) {
      let name: [UInt8] = withUnsafeBytes(of: dirent.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
      guard isEntryName(name) else { continue }
      let path = name.withUnsafeBytes { root.appending(bytes: $0) }
      var st = stat()
      guard path.withCString({ lstat($0, &st) }) == 0, (st.st_mode & 0o170000) == 0o040000, st.st_uid == geteuid()
      else { continue }
      let bytes = path.withCString { lw_tree_bytes($0) }
      out.append(
        Entry(
          name: name, path: path, lastUse: Int(st.st_mtim.tv_sec),
          lastUseNanos: Int(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(st.st_mtim.tv_nsec),
          bytes: bytes < 0 ? 0 : Int(bytes)))
    }
    return out
  }

  enum Removal {
    case removed
    case inUse
    case gone
  }

  /// Removes `entry` unless a run holds it, or it changed since it was
  /// listed: it is taken exclusively (never waiting), renamed out of the
  /// cache (no run can find it from then on), then deleted.
  static func remove(_ entry: Entry, in root: CPath, unlessUsedSince cutoff: Int?) -> Removal {
    let fd = entry.path.withCString { lw_open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0) }
    guard fd >= 0 else { return .gone }
    if flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let inUse = lw_errno() == EWOULDBLOCK
      close(fd)
      return inUse ? .inUse : .gone
    }
    var locked = stat()
    var named = stat()
    guard fstat(fd, &locked) == 0, entry.path.withCString({ lstat($0, &named) }) == 0,
      locked.st_dev == named.st_dev, locked.st_ino == named.st_ino,
      // A run that used it after the listing and has already ended.
      cutoff.map({ Int(locked.st_mtim.tv_sec) <= $0 }) ?? true
    else {
      close(fd)
      return .gone
    }
    var trashName = Array(".trash-\(getpid())-".utf8)
    trashName += entry.name
    let trash = trashName.withUnsafeBytes { root.appending(bytes: $0) }
    let renamed = trash.withCString { t in entry.path.withCString { rename($0, t) } } == 0
    // Unlocked before the slow part: a run that opened the entry before the
    // rename stops waiting, sees the name gone and extracts again.
    close(fd)
    guard renamed else { return .gone }
    _ = trash.withCString { lw_remove_tree($0) }
    return .removed
  }

  /// Evicts stale entries, then the least recently used idle ones until the
  /// cache fits `policy.maxBytes`. Returns what was removed and what is
  /// left; `log` (prune) prints each removal.
  @discardableResult
  static func evict(in root: CPath, policy: Policy, log: Bool = false) -> (removed: Int, keptBytes: Int) {
    let now = now()
    var kept: [Entry] = []
    var removed = 0
    for entry in entries(in: root) {
      let idle = now - entry.lastUse
      if idle > policy.maxAgeSeconds || policy.maxAgeSeconds == 0,
        remove(entry, in: root, unlessUsedSince: now - policy.maxAgeSeconds) == .removed
      {
        removed += 1
        if log { report("removed", entry, now: now, reason: "unused for \(idle / day) days") }
        continue
      }
      kept.append(entry)
    }
    var total = kept.reduce(0) { $0 + $1.bytes }
    if total > policy.maxBytes {
      kept.sort { $0.lastUseNanos < $1.lastUseNanos }
      var survivors: [Entry] = []
      for entry in kept {
        if total > policy.maxBytes, remove(entry, in: root, unlessUsedSince: nil) == .removed {
          total -= entry.bytes
          removed += 1
          if log { report("removed", entry, now: now, reason: "over \(Policy.bytesVariable)=\(policy.maxBytes)") }
          continue
        }
        survivors.append(entry)
      }
      kept = survivors
    }
    return (removed, total)
  }

  /// Whether a run holds the entry now (a shared lock blocks our probe).
  static func inUse(_ entry: Entry) -> Bool {
    let fd = entry.path.withCString { lw_open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0) }
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return flock(fd, LOCK_EX | LOCK_NB) != 0 && lw_errno() == EWOULDBLOCK
  }

  static func report(_ what: String, _ entry: Entry, now: Int, reason: String) {
    writeString(
      1, what + " " + String(decoding: entry.name, as: UTF8.self) + " (\(entry.bytes) bytes, " + reason + ")\n")
  }

  /// `LACEWING_CACHE=list` or `=prune`: the cache, not the test; argv stays
  /// the test's, so this cannot collide with its arguments.
  static func command(_ what: String, root: CPath?) throws(StemFailure) -> Never {
    let policy = try Policy.fromEnvironment()
    guard let root else {
      throw .cannotRun("no cache directory: set LACEWING_CACHE_DIR, XDG_CACHE_HOME or HOME")
    }
    if same(what, "list") {
      let now = now()
      var out = "cache " + root.string + "\n"
      var total = 0
      let all = entries(in: root)
      for entry in all {
        total += entry.bytes
        out +=
          "\(entry.bytes) bytes, used \((now - entry.lastUse) / day) days ago, "
          + (inUse(entry) ? "in use" : "idle") + ": " + String(decoding: entry.name, as: UTF8.self) + "\n"
      }
      out +=
        "\(all.count) entries, \(total) bytes; evicted on cold starts when unused for "
        + "\(policy.maxAgeSeconds / day) days (\(Policy.ageVariable)) or over \(policy.maxBytes) bytes "
        + "(\(Policy.bytesVariable))\n"
      writeString(1, out)
      exit(0)
    }
    if same(what, "prune") {
      // What interrupted extractions and evictions left, as a cold start would.
      Launcher.removeOrphans(in: root, prefix: ".work-")
      Launcher.removeOrphans(in: root, prefix: ".trash-")
      let (removed, kept) = evict(in: root, policy: policy, log: true)
      writeString(1, "removed \(removed) entries; \(kept) bytes left in \(root.string)\n")
      exit(0)
    }
    throw usage("LACEWING_CACHE=" + what + " is not list or prune")
  }
}
