/// A failure a user can act on: what failed, which file, what to do.
/// The executables print `message` and exit with `code.exitCode`.
public struct LacewingError: Error, CustomStringConvertible, Equatable {
  public enum Code: Equatable, Sendable {
    /// An input file is missing, unreadable or malformed.
    case badInput
    /// Writing an output failed.
    case io
    /// A bundled ELF needs a library that is neither bundled nor allowed.
    case hermeticity
    /// An external tool (patchelf, the runtime's python) failed.
    case toolFailed

    public var exitCode: Int32 {
      switch self {
      case .badInput: 1
      case .io: 1
      case .hermeticity: 1
      case .toolFailed: 1
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
