import ArgumentParser
import Foundation
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

extension ParsableCommand {
  /// Runs the tool's one library call: a failure is one "tool: error:
  /// message" block on stderr, and the exit status its code documents.
  /// `tool` names a subcommand with its parent ("make-archive payload").
  public func reportingErrors(as tool: String = Self._commandName, _ body: () throws(LacewingError) -> Void) throws {
    do {
      try body()
    } catch {
      FileHandle.standardError.write(Data("\(tool): error: \(error.message)\n".utf8))
      throw ExitCode(error.code.exitCode)
    }
  }
}
