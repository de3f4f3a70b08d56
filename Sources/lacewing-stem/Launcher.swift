import StemSupport

/// Chooses where the payload lives on disk and runs the interpreter from there.
struct Launcher {
  let bundle: BundleImage
  let start: UInt64
  let timings = getenvString("LACEWING_TIMINGS") != nil

  func run() throws(StemFailure) -> Never {
    if let mode = getenvString("LACEWING_EXTRACT"), same(mode, "temp") { try runTemporary() }
    if let cacheRoot = cacheRoot() {
      do throws(StemFailure) {
        let entry = try cachedEntry(in: cacheRoot)
        // exec only returns on failure; a noexec cache mount is the usual
        // cause, and a private temp dir may still work: fall back silently.
        _ = execInterpreter(root: entry)
      } catch {
        // A corrupt bundle stays corrupt wherever it is extracted; anything
        // else (read-only or full cache, foreign owner) may work in temp.
        if error.exitCode == Int32(LW_EXIT_CORRUPT) { throw error }
      }
    }
    try runTemporary()
  }

  /// Cache mode: exec replaces the stem, so signals, job control and the
  /// exit status are the interpreter's own with nothing in between.
  private func cachedEntry(in cacheRoot: CPath) throws(StemFailure) -> CPath {
    let key = "v\(LW_FORMAT_VERSION)-" + withUnsafeBytes(of: bundle.trailer.digest) { hex(UnsafeRawBufferPointer(rebasing: $0[0..<16])) }
    let entry = cacheRoot.appending(key)
    var st = stat()
    // A warm start is this one stat: an entry only ever appears by rename of
    // a complete extraction, so its existence is the proof.
    if entry.withCString({ stat($0, &st) }) == 0 && (st.st_mode & 0o170000) == 0o040000 && st.st_uid == geteuid() {
      report("cache hit " + entry.string)
      return entry
    }
    guard makeDirectories(cacheRoot) else { throw .system("cannot create cache directory", cacheRoot) }
    guard cacheRoot.withCString({ lstat($0, &st) }) == 0, (st.st_mode & 0o170000) == 0o040000, st.st_uid == geteuid(),
      st.st_mode & 0o022 == 0
    else { throw .cannotRun("cache directory \(cacheRoot.string) is not a private directory of this user") }
    // Only the cold path pays for this scan; a warm start never gets here.
    removeOrphans(in: cacheRoot, prefix: ".work-")
    var work = cacheRoot.appending(".work-\(getpid())-XXXXXX")
    try extract(into: &work)
    if work.withCString({ w in entry.withCString { rename(w, $0) } }) != 0 {
      let err = lw_errno()
      _ = work.withCString { lw_remove_tree($0) }
      // Another copy of this bundle finished first: its entry is as good as ours.
      guard err == EEXIST || err == ENOTEMPTY else { throw .system("cannot publish cache entry", entry) }
    }
    return entry
  }

  /// Temp mode: extract into a fresh private dir, run the test as a child,
  /// delete the dir, then leave exactly as the test did.
  private func runTemporary() throws(StemFailure) -> Never {
    let tmp = CPath(getenvString("TMPDIR") ?? "/tmp")
    // A stem killed by SIGKILL could not delete its dir; its child died with
    // it (PR_SET_PDEATHSIG), so a dir whose stem is gone is safe to remove.
    removeOrphans(in: tmp, prefix: "lacewing-")
    var dir = tmp.appending("lacewing-\(getpid())-XXXXXX")
    try extract(into: &dir)
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
      let err = execInterpreter(root: dir)
      let hint = err == EACCES || err == EPERM ? " (is \(tmp.string) mounted noexec? point TMPDIR or LACEWING_CACHE_DIR elsewhere)" : ""
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
    var none = sigset_t()
    sigemptyset(&none)
    var block = sigset_t()
    sigemptyset(&block)
    sigaddset(&block, signal)
    sigprocmask(SIG_UNBLOCK, &block, nil)
    var dfl = sigaction()
    dfl.__sigaction_handler.sa_handler = nil  // SIG_DFL
    dfl.sa_mask = none
    sigaction(signal, &dfl, nil)
    raise(signal)
    exit(128 + signal)
  }

  private func extract(into dirTemplate: inout CPath) throws(StemFailure) {
    let began = monotonicNanos()
    var bytes = dirTemplate.bytes
    guard bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw .system("cannot create extraction directory", dirTemplate)
    }
    dirTemplate = CPath(cString: bytes)
    let limit = getenvString("LACEWING_MAX_EXTRACT_BYTES").flatMap { Int($0) } ?? (8 << 30)
    let zip: ZipReader
    do throws(StemFailure) {
      zip = try bundle.zip()
      try Extractor(zip: zip, root: dirTemplate, sizeLimit: limit).extractAll()
    } catch {
      _ = dirTemplate.withCString { lw_remove_tree($0) }
      throw error
    }
    let elapsed = monotonicNanos() - began
    report("extracted \(zip.entries.count) entries to \(dirTemplate.string) in \(millis(elapsed)) ms")
    if let log = getenvString("LACEWING_TIMINGS_FILE") {
      // One line per extraction, appended: the RFC's time-to-extract metric.
      let line = "extract_ms=\(millis(elapsed)) entries=\(zip.entries.count) bytes=\(zip.totalSize) digest=\(bundle.digestHex)\n"
      let fd = CPath(log).withCString { lw_open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
      if fd >= 0 {
        writeString(fd, line)
        close(fd)
      }
    }
  }

  /// Removes `<dir>/<prefix><pid>-*` directories of ours whose stem process
  /// no longer exists: extractions interrupted by SIGKILL or a crash.
  private func removeOrphans(in dir: CPath, prefix: String) {
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

  private func cacheRoot() -> CPath? {
    if let dir = getenvString("LACEWING_CACHE_DIR") { return CPath(dir) }
    if let xdg = getenvString("XDG_CACHE_HOME"), xdg.utf8.first == 0x2F { return CPath(xdg).appending("lacewing") }
    if let home = getenvString("HOME"), home.utf8.first == 0x2F { return CPath(home).appending(".cache/lacewing") }
    return nil
  }

  /// Replaces this process with the interpreter. Returns errno if exec fails.
  private func execInterpreter(root: CPath) -> Int32 {
    let interpreter = root.appending(bundle.config.interpreter)
    let main = root.appending(bundle.config.main)
    var argv: [UnsafeMutablePointer<CChar>?] = [interpreter.withCString { strdup($0) }]
    for arg in bundle.config.arguments { argv.append(CPath(arg).withCString { strdup($0) }) }
    argv.append(main.withCString { strdup($0) })
    let callerArgv = lw_argv()
    for i in 1..<max(Int(lw_argc()), 1) { argv.append(callerArgv?[i]) }
    argv.append(nil)
    var envp = environment(root: root)
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
