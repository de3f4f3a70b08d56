import Foundation
import LacewingKit

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

/// Runs a real process to completion. Output goes through files, not
/// pipes: a chatty child cannot deadlock the test, and a grandchild left
/// running with the child's stdout (a daemon a test forgot) cannot hold
/// the test until it exits.
@discardableResult
public func run(
  _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
  directory: String? = nil, stdin: String? = nil
) throws -> ProcessResult {
  let dir = try makeTemporaryDirectory("proc")
  defer { try? FileManager.default.removeItem(atPath: dir) }
  let outPath = dir + "/out"
  let errPath = dir + "/err"
  let inPath = dir + "/in"
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

/// Reads a whole file, or fails naming it.
public func readFile(_ path: String) throws -> Data {
  guard let data = FileManager.default.contents(atPath: path) else { throw TestSetupError("cannot read \(path)") }
  return data
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
public typealias Spawned = ChildProcess

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
  try FileManager.default.createDirectory(
    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
  try writeExecutable(Data(catInterpreter.utf8), to: path)
}

/// Runs `program` (a path inside `root`) chrooted in `root`, in a private
/// mount namespace, with exactly `env` (the tests run as root). With
/// `proc`, a fresh /proc is mounted on the root's /proc first, as on any
/// host; without, the root's /proc is whatever the root holds (an empty
/// directory, say): a host with no /proc mounted. With `devices`,
/// /dev/null and /dev/urandom are bound from this host and /dev/shm is a
/// fresh tmpfs. The mount points must exist in the root.
public func runInRoot(
  _ root: String, _ program: String, _ args: [String] = [], env: [String: String] = [:], proc: Bool = true,
  devices: Bool = false
) throws -> ProcessResult {
  let envArgs = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
  var mounts: [String] = []
  if proc { mounts.append("mount -t proc proc \"$1/proc\"") }
  if devices {
    mounts += [
      "mount --bind /dev/null \"$1/dev/null\"", "mount --bind /dev/urandom \"$1/dev/urandom\"",
      "mount -t tmpfs -o mode=1777 tmpfs \"$1/dev/shm\"",
    ]
  }
  let script = (mounts + ["shift", "exec env -i \"$@\""]).joined(separator: " && ")
  return try run(
    "unshare",
    ["--mount", "--fork", "sh", "-c", script, "sh", root] + envArgs + ["/usr/sbin/chroot", root, program] + args)
}
