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
  let outPath = dir + "/out", errPath = dir + "/err"
  _ = FileManager.default.createFile(atPath: outPath, contents: nil)
  _ = FileManager.default.createFile(atPath: errPath, contents: nil)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
  process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
  if let environment { process.environment = environment }
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
  process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
  if let stdin {
    let inPath = dir + "/in"
    _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin.utf8))
    process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
  } else {
    process.standardInput = FileHandle.nullDevice
  }
  try process.run()
  process.waitUntilExit()
  let signaled = process.terminationReason == .uncaughtSignal
  return ProcessResult(
    status: signaled ? 128 + process.terminationStatus : process.terminationStatus,
    signal: signaled ? process.terminationStatus : nil,
    stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
    stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
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
      throw TestSetupError("\(path) is missing: run `swift build -c release` first (build/test.sh does)")
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
