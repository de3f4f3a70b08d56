import Foundation

/// What a finished process left behind.
public struct ProcessResult: Sendable {
  public var status: Int32
  /// The signal that killed it, if one did.
  public var signal: Int32?
  public var stdout: String
  public var stderr: String

  public var output: String { stdout + stderr }
}

public struct TestSetupError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Runs a real process to completion. Output goes through files, not pipes,
/// so a chatty child can never deadlock the test.
@discardableResult
public func run(
  _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
  directory: String? = nil, stdin: String? = nil
) throws -> ProcessResult {
  let dir = try makeTemporaryDirectory("proc")
  defer { try? FileManager.default.removeItem(atPath: dir) }
  let outPath = dir + "/out", errPath = dir + "/err", inPath = dir + "/in"
  try Data((stdin ?? "").utf8).write(to: URL(fileURLWithPath: inPath))
  let p = try Spawned(
    executable, arguments, environment: environment, directory: directory,
    stdin: .file(inPath), stdout: .file(outPath), stderr: .file(errPath))
  let (status, signal) = p.wait()
  return ProcessResult(status: status, signal: signal, stdout: readText(outPath), stderr: readText(errPath))
}

public func makeTemporaryDirectory(_ prefix: String) throws -> String {
  var template = Array((NSTemporaryDirectory() + "/lacewing-test-\(prefix)-XXXXXX").utf8CString)
  guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
    throw TestSetupError("mkdtemp failed: \(String(cString: strerror(errno)))")
  }
  return String(cString: made)
}

/// Where the repository and the built tools are.
public enum Repo {
  public static let root: String = {
    // Sources/LacewingTestSupport/TestSupport.swift -> repo root.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// The release tools and stem (build/test.sh sets LACEWING_TOOLS_DIR).
  public static var toolsDir: String {
    ProcessInfo.processInfo.environment["LACEWING_TOOLS_DIR"] ?? root + "/.build/release"
  }

  public static func tool(_ name: String) throws -> String {
    let path = toolsDir + "/" + name
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw TestSetupError("\(path) is missing: run build/build-tools.sh first (build/test.sh does)")
    }
    return path
  }
}

/// The caller's environment with changes; nil removes a variable.
public func environment(_ changes: [String: String?]) -> [String: String] {
  var env = ProcessInfo.processInfo.environment
  for (key, value) in changes { env[key] = value }
  return env
}

public func readText(_ path: String) -> String {
  String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
}

public func writeText(_ text: String, to path: String) throws {
  try FileManager.default.createDirectory(
    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
  try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// Marks a file (or directory) as changed now. Ninja can miss an edit made in
/// the same coarse timestamp tick as the previous build's outputs, so wait out
/// a tick first; never set a future time, which would leave stamps dirty.
public func bumpMtime(_ path: String) throws {
  usleep(20_000)
  try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: path)
}

/// The path with every symlink resolved, by the C library.
public func resolvedPath(_ path: String) -> String {
  guard let resolved = realpath(path, nil) else { return path }
  defer { free(resolved) }
  return String(cString: resolved)
}

/// A process left running, for tests that signal it or race it.
///
/// Spawned with posix_spawn and an empty signal mask and default
/// dispositions: Foundation's Process passes on the test runner's blocked
/// signals, which would make every signal test meaningless.
public final class Spawned {
  public enum Stream {
    case inherit, null, pipe
    case file(String)
  }

  public private(set) var pid: Int32 = 0
  private var stdoutFD: Int32 = -1
  private var buffer = Data()
  private var finished: (status: Int32, signal: Int32?)?

  public init(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
    stdin: Stream = .null, stdout: Stream = .pipe, stderr: Stream = .null
  ) throws {
    let path = executable.hasPrefix("/") ? executable : try Spawned.which(executable)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var pipeFDs: [Int32] = [-1, -1]
    for (fd, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
      switch stream {
      case .inherit: break
      case .null:
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
      case .file(let file):
        posix_spawn_file_actions_addopen(&actions, fd, file, fd == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      case .pipe:
        guard fd == 1, pipe(&pipeFDs) == 0 else { throw TestSetupError("only stdout can be a pipe") }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
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
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    var rc = posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
    // A file this test just wrote can still be open in a child another test
    // is forking at this moment (ETXTBSY); that child execs or exits promptly.
    for _ in 0..<100 where rc == ETXTBSY {
      usleep(10_000)
      rc = posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
    }
    if pipeFDs[1] >= 0 { close(pipeFDs[1]) }
    stdoutFD = pipeFDs[0]
    guard rc == 0 else { throw TestSetupError("cannot spawn \(path): \(String(cString: strerror(rc)))") }
  }

  deinit {
    if stdoutFD >= 0 { close(stdoutFD) }
  }

  static func which(_ name: String) throws -> String {
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] where access(dir + "/" + name, X_OK) == 0 {
      return dir + "/" + name
    }
    throw TestSetupError("\(name) is not installed (build/install-deps.sh installs what the tests need)")
  }

  /// The first stdout line, waiting at most `timeout` seconds.
  public func firstLine(timeout: Double = 30) -> String? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let newline = buffer.firstIndex(of: 0x0A) {
        return String(decoding: buffer[..<newline], as: UTF8.self)
      }
      var pfd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
      guard poll(&pfd, 1, 100) >= 0 else { return nil }
      if pfd.revents != 0 {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = read(stdoutFD, &chunk, chunk.count)
        if n <= 0 { return nil }
        buffer.append(contentsOf: chunk[0..<n])
      }
    }
    return nil
  }

  public func signal(_ sig: Int32) {
    kill(pid, sig)
  }

  /// Waits; returns (exit status, signal) as the caller of a shell would see.
  public func wait() -> (status: Int32, signal: Int32?) {
    if let finished { return finished }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let sig = status & 0x7F
    finished = sig == 0 ? ((status >> 8) & 0xFF, nil) : (128 + sig, sig)
    return finished!
  }
}

/// Whether a process with this pid exists.
public func processExists(_ pid: Int32) -> Bool {
  kill(pid, 0) == 0 || errno == EPERM
}

/// Writes an executable the test is about to run. The descriptor is
/// close-on-exec: a child another test forks meanwhile must not inherit it,
/// or exec here fails with ETXTBSY for as long as that child lives.
public func writeExecutable(_ data: Data, to path: String) throws {
  unlink(path)
  let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
  guard fd >= 0 else { throw TestSetupError("cannot create \(path): \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
  guard written == data.count else { throw TestSetupError("cannot write \(path)") }
}

/// An "interpreter" for bundles that test the stem's reader with no Python:
/// it insists on being run through a launcher in the test layer (a link
/// to it outside the runtime's python/, lacewing_format.h) and cats its
/// arguments.
public let catInterpreter = """
  #!/bin/sh
  case "$0" in
    */python/bin/*) ;;
    */bin/*) exec cat "$@" ;;
  esac
  echo "not run through a launcher: $0" >&2
  exit 99

  """

/// Writes `catInterpreter` to `path`, executable.
public func writeCatInterpreter(to path: String) throws {
  try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
  try writeExecutable(Data(catInterpreter.utf8), to: path)
}
