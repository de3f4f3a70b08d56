import FoundationEssentials
import Glibc

/// A child process, started with posix_spawn with an empty signal mask and
/// default dispositions: Foundation's Process hands down the parent's
/// blocked signals (the test runner blocks some, which made every signal
/// test hang). The tools run patchelf, strip and the runtime's python
/// through it, the tests everything they start.
public final class ChildProcess {
  /// Where the child's stdin comes from.
  public enum Input: Sendable {
    case inherit, null
    case file(String)
  }

  /// Where the child's stdout or stderr goes. Pipes are read only by
  /// `finish()` (and `firstLine`), which drains every pipe at once: a child
  /// blocked writing one stream while its parent waits for the end of the
  /// other is a deadlock.
  public enum Output: Sendable {
    case inherit, null, pipe
    case file(String)
  }

  /// How a child ended, with what it wrote to its pipes.
  public struct Finished: Sendable {
    /// The exit status, or 128 + the signal, as a shell reports it.
    public var status: Int32
    /// The signal that killed it, if one did.
    public var signal: Int32?
    public var stdout: Data
    public var stderr: Data
  }

  public private(set) var pid: Int32 = 0
  /// The read ends of the child's piped streams, by the child's descriptor.
  private var pipes: [Int32: Int32] = [:]
  private var received: [Int32: Data] = [1: Data(), 2: Data()]
  private var ended: (status: Int32, signal: Int32?)?

  /// A name without "/" is looked up in this process's PATH. With
  /// `directory`, the child starts there.
  public init(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
    stdin: Input = .null, stdout: Output = .pipe, stderr: Output = .null
  ) throws(LacewingError) {
    guard let path = ChildProcess.find(executable) else {
      throw LacewingError(.toolFailed, "cannot start \(executable): not found in PATH")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var writeEnds: [Int32] = []
    defer { for fd in writeEnds { close(fd) } }
    switch stdin {
    case .inherit: break
    case .null: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    case .file(let path): posix_spawn_file_actions_addopen(&actions, 0, path, O_RDONLY, 0)
    }
    for (fd, stream) in [(Int32(1), stdout), (2, stderr)] {
      switch stream {
      case .inherit: break
      case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
      case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      case .pipe:
        // Close-on-exec, so that no other child started meanwhile (tests
        // run in parallel) holds a write end and keeps the reader from EOF;
        // dup2 gives the child its copy without the flag. (Glibc's module
        // has no pipe2, which would close the window before fcntl too.)
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
          throw LacewingError(.io, "cannot create a pipe to \(executable): \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        pipes[fd] = ends[0]
        writeEnds.append(ends[1])
        posix_spawn_file_actions_adddup2(&actions, ends[1], fd)
      }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    // posix_spawn has no portable chdir action: let sh change directory.
    let command = directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, path] } ?? [path]
    let argv = (command + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer {
      for arg in argv { free(arg) }
      for entry in envp { free(entry) }
    }
    var rc = posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
    // A file just written can still be open in a child another thread is
    // forking at this moment (ETXTBSY); that child execs or exits promptly.
    for _ in 0..<100 where rc == ETXTBSY {
      usleep(10_000)
      rc = posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
    }
    guard rc == 0 else {
      for fd in pipes.values { close(fd) }
      pipes = [:]
      throw LacewingError(.toolFailed, "cannot start \(executable): \(String(cString: strerror(rc)))")
    }
  }

  deinit {
    for fd in pipes.values { close(fd) }
  }

  /// `name` itself when it has a "/", else the first executable of that
  /// name in PATH.
  static func find(_ name: String) -> String? {
    if name.contains("/") { return name }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
  }

  /// Starts `executable`, reads both its stdout and stderr to their end and
  /// waits for it.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
    stdin: Input = .null
  ) throws(LacewingError) -> Finished {
    try ChildProcess(
      executable, arguments, environment: environment, directory: directory, stdin: stdin, stdout: .pipe,
      stderr: .pipe
    ).finish()
  }

  /// The first line of a piped stdout, waiting at most `timeout` seconds.
  public func firstLine(timeout: Double = 30) -> String? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let newline = received[1]!.firstIndex(of: 0x0A) {
        return String(decoding: received[1]![..<newline], as: UTF8.self)
      }
      guard pipes[1] != nil, drain(only: 1, waitMilliseconds: 100) else { return nil }
    }
    return nil
  }

  public func signal(_ sig: Int32) {
    kill(pid, sig)
  }

  /// Waits for the child; returns (exit status, signal) as a shell reports
  /// them. Pipes are left unread: use `finish()` for a child that writes
  /// more than a pipe holds.
  public func wait() -> (status: Int32, signal: Int32?) {
    if let ended { return ended }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let sig = status & 0x7F
    ended = sig == 0 ? ((status >> 8) & 0xFF, nil) : (128 + sig, sig)
    return ended!
  }

  /// Reads every pipe to its end, all of them at once, then waits.
  public func finish() -> Finished {
    while !pipes.isEmpty {
      if !drain(only: nil, waitMilliseconds: -1) { break }
    }
    let (status, signal) = wait()
    return Finished(status: status, signal: signal, stdout: received[1]!, stderr: received[2]!)
  }

  /// One poll over the open pipes (or only the child's descriptor `only`),
  /// then one read from each that is ready; a pipe at its end is closed.
  /// False when poll failed or nothing was open.
  private func drain(only: Int32?, waitMilliseconds: Int32) -> Bool {
    let open = pipes.filter { only == nil || $0.key == only }.sorted { $0.key < $1.key }
    guard !open.isEmpty else { return false }
    var fds = open.map { pollfd(fd: $0.value, events: Int16(POLLIN), revents: 0) }
    let ready = poll(&fds, nfds_t(fds.count), waitMilliseconds)
    if ready < 0 { return errno == EINTR }
    var chunk = [UInt8](repeating: 0, count: 65536)
    for ((child, fd), polled) in zip(open, fds) where polled.revents != 0 {
      let n = read(fd, &chunk, chunk.count)
      if n > 0 {
        received[child]!.append(contentsOf: chunk[0..<n])
      } else if n == 0 || errno != EINTR {
        close(fd)
        pipes[child] = nil
      }
    }
    return true
  }
}

/// Runs a build-host tool (patchelf, strip, the runtime's python) and
/// returns its stdout; a failure says what it was for and carries the end
/// of the tool's stderr, so the user sees why.
enum Command {
  /// Enough of a failing tool's stderr for its error, not a megabyte of it.
  static let stderrLimit = 4000

  @discardableResult
  static func run(_ tool: String, _ args: [String], what: String) throws(LacewingError) -> String {
    // Inherited: TZ=UTC, so that the runtime's python does not read the
    // host's /etc/localtime either. The C locale: no locale files read (a
    // remote worker need not have them), and the same encoding on any host
    // (python's UTF-8 mode).
    _ = CLibraries.configured
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C"
    let finished: ChildProcess.Finished
    do {
      finished = try ChildProcess.run(tool, args, environment: environment)
    } catch {
      let hint = FS.basename(tool) == "patchelf" ? "; install it with `apt-get install patchelf`" : ""
      throw LacewingError(.toolFailed, "\(error.message), needed to \(what)\(hint)")
    }
    guard finished.status == 0 else {
      var text = String(decoding: finished.stderr, as: UTF8.self).trimmingWhitespace()
      if text.count > stderrLimit { text = "... " + text.suffix(stderrLimit) }
      let how = finished.signal.map { "killed by signal \($0)" } ?? "exit \(finished.status)"
      throw LacewingError(
        .toolFailed, "\(tool) failed (\(how)) trying to \(what)\(text.isEmpty ? "" : ": " + text)")
    }
    return String(decoding: finished.stdout, as: UTF8.self)
  }
}
