import StemSupport

/// Chooses where the payload lives on disk and runs the interpreter from there.
struct Launcher {
  let bundle: BundleImage
  let start: UInt64
  let timings = getenvString("LACEWING_TIMINGS") != nil
  /// The test to run (a path in the test layer); nil in a runtime-only bundle.
  let main: String?
  /// The first of the caller's arguments that go to the test.
  let firstArg: Int

  /// Picks the test: a multi-test bundle runs the test named like the link
  /// it was started through (BusyBox style), else the one argv[1] names.
  init(bundle: BundleImage, start: UInt64) throws(StemFailure) {
    self.bundle = bundle
    self.start = start
    let tests = bundle.config.tests
    guard !tests.isEmpty else {
      main = bundle.config.main
      firstArg = 1
      return
    }
    let argc = Int(lw_argc())
    let argv = lw_argv()
    var invokedAs = ""
    if argc > 0, let arg0 = argv?[0] {
      let full = String(cString: arg0)
      let base = full.utf8.lastIndex(of: 0x2F).map { full.utf8.index(after: $0) } ?? full.utf8.startIndex
      invokedAs = String(full[base...])
    }
    for test in tests where same(test.name, invokedAs) {
      main = test.path
      firstArg = 1
      return
    }
    if argc > 1, let arg1 = argv?[1] {
      let name = String(cString: arg1)
      if same(name, "--list") {
        var out = ""
        for test in tests { out += test.name + "\n" }
        writeString(1, out)
        exit(0)
      }
      for test in tests where same(test.name, name) {
        main = test.path
        firstArg = 2
        return
      }
    }
    var names = ""
    for test in tests { names += " " + test.name }
    throw StemFailure(
      exitCode: Int32(LW_EXIT_USAGE),
      message: "this bundle holds several tests; run `\(invokedAs) TEST [ARGS...]`, or run it through a link named "
        + "after the test (`\(invokedAs) --list` lists them). Tests:" + names)
  }

  func run() throws(StemFailure) -> Never {
    // Before any directory is made, in every mode: a host that cannot run
    // the interpreter gets one line and nothing extracted.
    try HostCheck.run(bundle)
    if let mode = getenvString("LACEWING_EXTRACT"), same(mode, "temp") { try runTemporary() }
    // Read before anything runs, so a bad value fails every start alike.
    let policy = try Cache.Policy.fromEnvironment()
    if let cacheRoot = Self.cacheRoot() {
      do throws(StemFailure) {
        let test = try cachedEntry(in: cacheRoot, policy: policy)
        // exec only returns on failure; a noexec cache mount is the usual
        // cause, and a private temp dir may still work: fall back silently.
        _ = execInterpreter(test: test)
      } catch {
        // A corrupt bundle stays corrupt wherever it is extracted; anything
        // else (read-only or full cache, foreign owner) may work in temp.
        if error.exitCode == Int32(LW_EXIT_CORRUPT) { throw error }
      }
    }
    try runTemporary()
  }

  /// Cache mode: exec replaces the stem, so signals, job control and the
  /// exit status are the interpreter's own with nothing in between. With a
  /// runtime digest in the config the runtime layer has an entry of its own,
  /// which every bundle on that runtime shares: a second test extracts only
  /// its own files. Returns the test's root, which links to the runtime's.
  private func cachedEntry(in cacheRoot: CPath, policy: Cache.Policy) throws(StemFailure) -> CPath {
    let version = "v\(LW_FORMAT_VERSION)-"
    let key = version + withUnsafeBytes(of: bundle.trailer.digest) { hex(UnsafeRawBufferPointer(rebasing: $0[0..<16])) }
    let test: CPath
    var extracted = false
    if let runtime = bundle.config.runtime {
      let runtimeKey =
        version + LW_CACHE_RUNTIME_TAG + String(runtime[..<runtime.utf8.index(runtime.utf8.startIndex, offsetBy: 32)])
      extracted = try cachedEntry(in: cacheRoot, key: runtimeKey, layer: .runtime, runtimeLink: nil).extracted
      // Sibling entries: the link stays right if the cache directory moves.
      let testEntry = try cachedEntry(in: cacheRoot, key: key, layer: .test, runtimeLink: "../" + runtimeKey)
      test = testEntry.path
      extracted = extracted || testEntry.extracted
    } else {
      (test, extracted) = try cachedEntry(in: cacheRoot, key: key, layer: .all, runtimeLink: ".")
    }
    // Only a cold start pays for eviction; this run's entries are locked,
    // so it cannot take them.
    if extracted { Cache.evict(in: cacheRoot, policy: policy) }
    return test
  }

  /// The entry at `key`, locked for this run (Cache.use), extracted first
  /// if it is not there. A lost race with an evictor retries a few times.
  private func cachedEntry(in cacheRoot: CPath, key: String, layer: Extractor.Layer, runtimeLink: String?)
    throws(StemFailure) -> (path: CPath, extracted: Bool)
  {
    let entry = cacheRoot.appending(key)
    for _ in 0..<4 {
      // A warm start is this: an entry only ever appears by rename of a
      // complete extraction, so its existence (locked) is the proof.
      if Cache.use(entry) != nil {
        report("cache hit " + entry.string)
        return (entry, false)
      }
      if try extractEntry(entry, in: cacheRoot, layer: layer, runtimeLink: runtimeLink) { return (entry, true) }
    }
    throw .cannotRun("cache entry \(entry.string) was evicted as often as it was extracted")
  }

  /// Extracts and publishes `entry`, locked before it is visible so no
  /// evictor can take it; false if another run published it first (or it
  /// was evicted before this run could lock it).
  private func extractEntry(_ entry: CPath, in cacheRoot: CPath, layer: Extractor.Layer, runtimeLink: String?)
    throws(StemFailure) -> Bool
  {
    var st = stat()
    guard makeDirectories(cacheRoot) else { throw .system("cannot create cache directory", cacheRoot) }
    guard cacheRoot.withCString({ lstat($0, &st) }) == 0, (st.st_mode & 0o170000) == 0o040000, st.st_uid == geteuid(),
      st.st_mode & 0o022 == 0
    else { throw .cannotRun("cache directory \(cacheRoot.string) is not a private directory of this user") }
    // Only the cold path pays for this scan; a warm start never gets here.
    Self.removeOrphans(in: cacheRoot, prefix: ".work-")
    Self.removeOrphans(in: cacheRoot, prefix: ".trash-")
    var work = cacheRoot.appending(".work-\(getpid())-XXXXXX")
    try extract(into: &work, layer: layer, runtimeLink: runtimeLink)
    // Not close-on-exec: the interpreter holds this lock until it exits.
    let lock = work.withCString { lw_open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0) }
    if lock < 0 || flock(lock, LOCK_SH) != 0 {
      _ = work.withCString { lw_remove_tree($0) }
      throw .system("cannot lock the extraction", work)
    }
    if work.withCString({ w in entry.withCString { rename(w, $0) } }) != 0 {
      let err = lw_errno()
      close(lock)
      _ = work.withCString { lw_remove_tree($0) }
      // Another copy of this bundle finished first: its entry is as good as ours.
      guard err == EEXIST || err == ENOTEMPTY else { throw .system("cannot publish cache entry", entry) }
      return false
    }
    return true
  }

  /// Temp mode: extract into a fresh private dir, run the test as a child,
  /// delete the dir, then leave exactly as the test did.
  private func runTemporary() throws(StemFailure) -> Never {
    let tmp = CPath(getenvString("TMPDIR") ?? "/tmp")
    // A stem killed by SIGKILL could not delete its dir; its child died with
    // it (PR_SET_PDEATHSIG), so a dir whose stem is gone is safe to remove.
    Self.removeOrphans(in: tmp, prefix: "lacewing-")
    var dir = tmp.appending("lacewing-\(getpid())-XXXXXX")
    try extract(into: &dir, runtimeLink: ".")
    let parent = getpid()
    let child = fork()
    if child < 0 {
      _ = dir.withCString { lw_remove_tree($0) }
      throw .system("cannot fork to run", dir)
    }
    if child == 0 {
      // If the stem is SIGKILLed the test must not outlive it.
      _ = lw_set_parent_death_signal(SIGKILL)
      if getppid() != parent { _exit(Int32(LW_EXIT_CANNOT_RUN)) }
      let err = execInterpreter(test: dir)
      let hint =
        err == EACCES || err == EPERM
        ? " (is \(tmp.string) mounted noexec? point TMPDIR or LACEWING_CACHE_DIR elsewhere)" : ""
      printError("cannot execute the bundled interpreter in \(dir.string): \(errnoText(err))" + hint)
      _exit(Int32(LW_EXIT_CANNOT_RUN))
    }
    lw_forward_signals_to(child)
    var status: Int32 = 0
    while waitpid(child, &status, 0) < 0 && lw_errno() == EINTR {}
    _ = dir.withCString { lw_remove_tree($0) }
    let signal = status & 0x7F
    if signal == 0 { exit((status >> 8) & 0xFF) }
    // Die of the same signal so the caller sees what it would have seen
    // running the test directly.
    lw_die_of(signal)
    exit(128 + signal)
  }

  /// Extracts `layer` into a fresh directory made from `dirTemplate`; with a
  /// `runtimeLink` (the runtime root, relative to it), a test layer's
  /// launchers too, before anyone can see the directory.
  private func extract(into dirTemplate: inout CPath, layer: Extractor.Layer = .all, runtimeLink: String?)
    throws(StemFailure)
  {
    let began = monotonicNanos()
    var bytes = dirTemplate.bytes
    guard bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw .system("cannot create extraction directory", dirTemplate)
    }
    dirTemplate = CPath(cString: bytes)
    let limit = getenvString("LACEWING_MAX_EXTRACT_BYTES").flatMap { Int($0) } ?? (8 << 30)
    let zip: ZipReader
    let files: Int
    do throws(StemFailure) {
      zip = try bundle.zip()
      if layer == .runtime, let runtime = bundle.config.runtime {
        // A runtime entry is shared by every bundle naming its digest: it
        // must hold what the digest covers, not what this bundle claims.
        let digest = try zip.runtimeDigest()
        guard digest.withUnsafeBytes({ same(hex($0), runtime) }) else {
          throw .corrupt("the runtime layer does not match the runtime digest in the bundle's config")
        }
      }
      files = try Extractor(zip: zip, root: dirTemplate, sizeLimit: limit, layer: layer).extractAll()
      if let runtimeLink { try makeLaunchers(in: dirTemplate, runtimeLink: runtimeLink) }
    } catch {
      _ = dirTemplate.withCString { lw_remove_tree($0) }
      throw error
    }
    let elapsed = monotonicNanos() - began
    report("extracted \(files) files to \(dirTemplate.string) in \(millis(elapsed)) ms")
    if let log = getenvString("LACEWING_TIMINGS_FILE") {
      // One line per extraction, appended: the RFC's time-to-extract metric.
      let line = "extract_ms=\(millis(elapsed)) entries=\(files) bytes=\(zip.totalSize) digest=\(bundle.digestHex)\n"
      let fd = CPath(log).withCString { lw_open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
      if fd >= 0 {
        writeString(fd, line)
        close(fd)
      }
    }
  }

  /// The symlinks of lacewing_format.h's "Launchers": the runtime link and
  /// one interpreter path per test, whose ._pth files are already there.
  /// The directory is fresh and private, and only these fixed names are
  /// made links, so nothing is ever written through one.
  private func makeLaunchers(in root: CPath, runtimeLink: String) throws(StemFailure) {
    let link = root.appending(LW_RUNTIME_LINK)
    guard runtimeLink.withCString({ t in link.withCString { symlink(t, $0) } }) == 0 else {
      throw .system("cannot create the runtime link", link)
    }
    var pyzs: [String?] = []
    if let main = bundle.config.main { pyzs.append(main) }
    for test in bundle.config.tests { pyzs.append(test.path) }
    if pyzs.isEmpty { pyzs.append(nil) }
    for pyz in pyzs {
      let (path, target) = try launcher(for: pyz)
      var dir = root
      var start = path.utf8.startIndex
      for i in path.utf8.indices where path.utf8[i] == 0x2F {
        dir = dir.appending(String(path[start..<i]))
        start = path.utf8.index(after: i)
        if dir.withCString({ mkdir($0, 0o700) }) != 0 && lw_errno() != EEXIST {
          throw .system("cannot create directory", dir)
        }
      }
      let file = root.appending(path)
      guard target.withCString({ t in file.withCString { symlink(t, $0) } }) == 0 else {
        throw .system("cannot create the launcher", file)
      }
    }
  }

  /// lacewing_format.h's one rule for where the test at `pyz` (nil: no
  /// test) gets its launcher, and what that links to.
  private func launcher(for pyz: String?) throws(StemFailure) -> (path: String, target: String) {
    var path = [CChar](repeating: 0, count: 4096)
    var target = [CChar](repeating: 0, count: 4096)
    let rc = bundle.config.interpreter.withCString { interpreter in
      guard let pyz else { return lw_launcher(interpreter, nil, &path, path.count, &target, target.count) }
      return pyz.withCString { lw_launcher(interpreter, $0, &path, path.count, &target, target.count) }
    }
    guard rc == 0 else { throw .corrupt("the config names a test at \(pyz ?? "") that cannot have a launcher") }
    return (
      path.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
      target.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    )
  }

  /// Removes `<dir>/<prefix><pid>-*` directories of ours whose stem process
  /// no longer exists: extractions interrupted by SIGKILL or a crash.
  static func removeOrphans(in dir: CPath, prefix: String) {
    guard let stream = dir.withCString({ opendir($0) }) else { return }
    defer { closedir(stream) }
    let prefixBytes = Array(prefix.utf8)
    while let entry = readdir(stream) {
      let name: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        Array(raw.prefix { $0 != 0 })
      }
      guard name.count > prefixBytes.count, name.starts(with: prefixBytes) else { continue }
      var pid: Int32 = 0
      var i = prefixBytes.count
      while i < name.count, name[i] >= 0x30, name[i] <= 0x39, pid < 10_000_000 {
        pid = pid * 10 + Int32(name[i] - 0x30)
        i += 1
      }
      guard pid > 0, i < name.count, name[i] == 0x2D, pid != getpid() else { continue }
      // Alive, or someone else's (EPERM): leave it.
      if kill(pid, 0) == 0 || lw_errno() != ESRCH { continue }
      let path = name.withUnsafeBytes { dir.appending(bytes: $0) }
      var st = stat()
      guard path.withCString({ lstat($0, &st) }) == 0, (st.st_mode & 0o170000) == 0o040000, st.st_uid == geteuid()
      else { continue }
      _ = path.withCString { lw_remove_tree($0) }
    }
  }

  static func cacheRoot() -> CPath? {
    if let dir = getenvString("LACEWING_CACHE_DIR") { return CPath(dir) }
    if let xdg = getenvString("XDG_CACHE_HOME"), xdg.utf8.first == 0x2F { return CPath(xdg).appending("lacewing") }
    if let home = getenvString("HOME"), home.utf8.first == 0x2F { return CPath(home).appending(".cache/lacewing") }
    return nil
  }

  /// Replaces this process with the test's launcher (lacewing_format.h):
  /// sys.executable is then that path, whose ._pth gives the test and its
  /// children the same sys.path. Returns errno if exec fails.
  private func execInterpreter(test: CPath) -> Int32 {
    guard let launcherPath = try? launcher(for: main).path else { return ENOEXEC }
    let interpreter = test.appending(launcherPath)
    var argv: [UnsafeMutablePointer<CChar>?] = [interpreter.withCString { strdup($0) }]
    for arg in bundle.config.arguments { argv.append(CPath(arg).withCString { strdup($0) }) }
    if let main { argv.append(test.appending(main).withCString { strdup($0) }) }
    let callerArgv = lw_argv()
    let argc = Int(lw_argc())
    if firstArg < argc {
      for i in firstArg..<argc { argv.append(callerArgv?[i]) }
    }
    argv.append(nil)
    var envp = environment(root: test)
    report("exec after \(millis(monotonicNanos() - start)) ms")
    _ = interpreter.withCString { execve($0, &argv, &envp) }
    return lw_errno()
  }

  /// The caller's environment, plus the bundle's own env entries (paths made
  /// absolute under the extraction root). Nothing else is added, so programs
  /// the test starts see the caller's environment.
  private func environment(root: CPath) -> [UnsafeMutablePointer<CChar>?] {
    var added: [UnsafeMutablePointer<CChar>?] = []
    var names: [[CChar]] = []
    for entry in bundle.config.env {
      let utf8 = Array(entry.utf8)
      guard let eq = utf8.firstIndex(of: 0x3D) else { continue }
      let name = utf8[0..<eq].map { CChar(bitPattern: $0) }
      let rel = String(decoding: utf8[(eq + 1)...], as: UTF8.self)
      let value = rel.isEmpty || same(rel, ".") ? root : root.appending(rel)
      names.append(name + [0x3D])
      var text = name + [0x3D]
      text.append(contentsOf: value.bytes)
      added.append(text.withUnsafeBufferPointer { strdup($0.baseAddress!) })
    }
    var envp: [UnsafeMutablePointer<CChar>?] = []
    if var p = lw_environ() {
      while let item = p.pointee {
        let overridden = names.contains { name in strncmp(item, name, name.count) == 0 }
        if !overridden { envp.append(item) }
        p += 1
      }
    }
    envp.append(contentsOf: added)
    envp.append(nil)
    return envp
  }

  private func report(_ text: String) {
    if timings { printError(text) }
  }
}

func millis(_ nanos: UInt64) -> String {
  let tenths = nanos / 100_000
  return "\(tenths / 10).\(tenths % 10)"
}
