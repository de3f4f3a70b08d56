import Foundation

/// A scratch directory, removed when the test ends.
final class Scratch {
  let path: String

  init() throws {
    let base = FileManager.default.temporaryDirectory.path + "/lacewing-remote-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    // Physical path: getcwd in the launcher reports it that way.
    path = URL(fileURLWithPath: base).resolvingSymlinksInPath().path
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  @discardableResult
  func write(_ relative: String, _ text: String, mode: Int = 0o644) throws -> String {
    let full = path + "/" + relative
    try FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
    return full
  }

  func mkdir(_ relative: String) throws -> String {
    let full = path + "/" + relative
    try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
    return full
  }
}

struct Run {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// The built launcher, next to the test bundle in the build directory.
let launcherPath: String = {
  let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
  var directory = executable.deletingLastPathComponent()
  // Linux: .build/debug/lacewing-remotePackageTests.xctest is the executable itself.
  if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
  return directory.appendingPathComponent("lacewing-remote").path
}()

/// Runs the launcher in `cwd` with exactly `environment`.
func runLauncher(_ arguments: [String], cwd: String, environment: [String: String]) throws -> Run {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: launcherPath)
  process.arguments = arguments
  process.currentDirectoryURL = URL(fileURLWithPath: cwd)
  var env = environment
  env["PATH"] = env["PATH"] ?? "/usr/bin:/bin"
  process.environment = env
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let errData = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return Run(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}
