import ArgumentParser
import LacewingCLI
import LacewingKit

@main
struct LddAllowlistCheck: ParsableCommand, DescribesOutput {
  static let configuration = CommandConfiguration(
    commandName: "ldd-allowlist-check",
    abstract: "Fail the build when a bundled ELF needs a library that is neither bundled nor allowlisted.",
    discussion: """
      Reads the ELF files themselves (it never runs them, unlike ldd) and resolves each DT_NEEDED \
      through $ORIGIN RUNPATHs inside the bundle as ld.so will. Every problem is reported in one run, \
      each naming the ELF, the library, where the build host has it, and the fix.
      """ + exitStatusHelp(.badInput, .hermeticity, .io))
  static let outputHelp = "the stamp (a summary of what was checked)"

  @Option(help: "The GN label the bundle comes from, for messages.")
  var label: String

  @OptionGroup var parts: BundleParts

  @Option(
    name: .customLong("manifest"),
    help: """
      A manifest of the payload's files (one per layer; repeatable), used to say where a missing library \
      is on the build host.
      """)
  var manifests: [String] = []

  @Option(help: "The allowlist file: one library name per line, # comments.")
  var allowlist: String

  @Option(
    name: .customLong("host-lib-dir"),
    help: "A build-host directory to search when naming where a library is; repeatable.")
  var hostLibDirs: [String] = []

  @Option(help: "The highest GLIBC symbol version allowed, e.g. 2.36.")
  var maxGlibc: String?

  @Option(help: "The highest GLIBCXX symbol version allowed when libstdc++ is allowlisted, e.g. 3.4.30.")
  var maxGlibcxx: String?

  @OptionGroup var output: OutputOptions<Self>

  func run() throws {
    try reportingErrors { () throws(LacewingError) in try AllowlistCheck.run(options, output: output.action) }
  }

  var options: AllowlistCheck.Options {
    var options = AllowlistCheck.Options(
      label: label, stem: parts.stem, payload: parts.payload, allowlistFile: allowlist)
    options.manifests = manifests
    options.hostLibDirs = hostLibDirs
    options.maxGlibc = maxGlibc
    options.maxGlibcxx = maxGlibcxx
    return options
  }
}
