import Foundation

/// How every tool reports a failure: one "tool: error: message" block on
/// stderr, then the error's exit code.
public enum Diagnostics {
  public static func report(_ error: LacewingError, tool: String) {
    FileHandle.standardError.write(Data("\(tool): error: \(error.message)\n".utf8))
  }

  /// Runs a tool's body; returns 0, or reports the error and returns its exit
  /// code for the executable to exit with.
  public static func run(tool: String, _ body: () throws(LacewingError) -> Void) -> Int32 {
    do {
      try body()
      return 0
    } catch {
      report(error, tool: tool)
      return error.code.exitCode
    }
  }
}
