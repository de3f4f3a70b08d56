/// A failure the user can act on. `description` is the whole line printed
/// after "lacewing-remote: ", so it says what failed, where, and what to do.
public struct LauncherError: Error, CustomStringConvertible, Equatable, Sendable {
  public enum Kind: Sendable, Equatable {
    /// Bad arguments, unreadable inputs, a bad input list: local and not
    /// something falling back to a local run would fix.
    case usage
    /// The remote side failed (unreachable, deadline, server error): a local
    /// run under remote_local_fallback may still succeed.
    case remote
  }

  public var kind: Kind
  public var description: String

  public init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = description
  }

  static func usage(_ message: String) -> Self { Self(.usage, message) }
  static func remote(_ message: String) -> Self { Self(.remote, message) }
}
