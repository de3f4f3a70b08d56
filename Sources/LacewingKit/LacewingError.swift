/// A failure a user can act on: what failed, which file, what to do.
/// The executables print `message` and exit with `code.exitCode`.
public struct LacewingError: Error, CustomStringConvertible, Equatable {
  /// What kind of failure, so that a script (or a person reading a CI log)
  /// can tell a broken input from a bundle that is not hermetic from a
  /// missing patchelf without parsing the message. 2 is left out: shells
  /// and argparse use it for usage errors, and a reader would take it for
  /// one (the tools' own usage errors are ArgumentParser's 64).
  public enum Code: Int32, CaseIterable, Equatable, Sendable {
    /// An input file is missing, unreadable, malformed or inconsistent
    /// with another.
    case badInput = 1
    /// A bundled ELF needs a library that is neither bundled nor allowed,
    /// or symbol versions above the floor.
    case hermeticity = 3
    /// An external tool (patchelf, strip, the runtime's python) could not
    /// start or failed.
    case toolFailed = 4
    /// Writing an output (or a file of the action's own) failed.
    case io = 5

    public var exitCode: Int32 { rawValue }

    /// What the exit status means, for help texts and the README.
    public var meaning: String {
      switch self {
      case .badInput: "an input is missing, unreadable or malformed"
      case .hermeticity:
        "the bundle is not hermetic (a library neither bundled nor allowlisted, or a symbol version above the floor)"
      case .toolFailed: "an external tool (patchelf, strip, the runtime's python) could not start or failed"
      case .io: "an output could not be written"
      }
    }
  }

  public var code: Code
  public var message: String

  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { message }

  static func unreadable(_ path: String, _ reason: String) -> LacewingError {
    LacewingError(.badInput, "cannot read \(path): \(reason)")
  }
}
