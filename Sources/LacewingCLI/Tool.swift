import ArgumentParser
import LacewingKit

/// What a tool writes to --output, for the option's help: "the manifest
/// (JSON)". The command itself says it, so OutputOptions can be shared.
public protocol DescribesOutput {
  static var outputHelp: String { get }
}

/// --output and --depfile, which every tool takes: every action writes a
/// depfile whose target is its first output (docs/design.md).
public struct OutputOptions<Tool: DescribesOutput>: ParsableArguments {
  @Option(help: ArgumentHelp("Where to write \(Tool.outputHelp)."))
  public var output: String

  @Option(help: "Where to write the depfile; its target is --output.")
  public var depfile: String?

  public init() {}

  public var action: ActionOutput { ActionOutput(output, depfile: depfile) }
}

/// The tool's exit statuses, for the end of its discussion: 0, the
/// `codes` it can fail with, and ArgumentParser's usage error.
public func exitStatusHelp(_ codes: LacewingError.Code...) -> String {
  let lines =
    ["0 done"] + codes.map { "\($0.exitCode) \($0.meaning)" }
    + ["\(ExitCode.validationFailure.rawValue) bad usage (a missing or invalid option)"]
  return "\n\nExit status: " + lines.joined(separator: "; ") + "."
}

extension ParsableCommand {
  /// Runs the tool's one library call: a failure is one "tool: error:
  /// message" block on stderr, and the exit status its code documents.
  /// `tool` names a subcommand with its parent ("make-archive payload").
  public func reportingErrors(as tool: String = Self._commandName, _ body: () throws(LacewingError) -> Void) throws {
    do {
      try body()
    } catch {
      Console.err("\(tool): error: \(error.message)\n")
      throw ExitCode(error.code.exitCode)
    }
  }
}

/// --stem and --payload: the two halves of a bundle, which fuse-stub joins
/// (ldd-allowlist-check declares its own: a runtime's check has neither).
public struct BundleParts: ParsableArguments {
  @Option(help: "The prebuilt stem executable.")
  public var stem: String

  @Option(help: "The payload zip from make-archive.")
  public var payload: String

  public init() {}
}

/// --wheel-list, --wheel-lock and --max-glibc: a test's third-party wheels,
/// their pins and the glibc floor their tags must fit, for the tools that
/// read wheels (make-archive pyz takes the pure ones, collect-artifacts the
/// native ones).
public struct WheelOptions: ParsableArguments {
  @Option(
    name: .customLong("wheel-list"),
    help: """
      A JSON array of wheel paths (GN metadata); make-archive pyz takes the pure-Python ones, \
      collect-artifacts those with native code (site/).
      """)
  public var lists: [String] = []

  @Option(
    name: .customLong("wheel-lock"),
    help: """
      A requirements lock (name==version --hash=sha256:...) every wheel must match; required when \
      --wheel-list names any wheel.
      """)
  public var lock: String?

  @Option(
    name: .customLong("max-glibc"),
    help: """
      The oldest glibc the bundle runs on, e.g. 2.31: a wheel whose every platform tag needs a newer one \
      (manylinux_2_34_x86_64) is refused.
      """)
  public var maxGlibc: String?

  public init() {}
}
