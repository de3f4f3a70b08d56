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
      through $ORIGIN RPATHs inside the bundle as ld.so will (its own, its loaders', the executable's). \
      Every problem is reported in one run, \
      each naming the ELF, the library, where the build host has it, and the fix. \
      With --runtime-layer it checks a runtime layer alone, once per runtime, and writes its record (JSON); \
      a bundle's check given that record with --runtime-record reads only the bundle's own layer.
      """ + exitStatusHelp(.badInput, .hermeticity, .io))
  static let outputHelp = "the stamp (a summary of what was checked), or with --runtime-layer the record (JSON)"

  @Option(help: "The GN label the bundle comes from, for messages.")
  var label: String

  @Option(help: "The prebuilt stem executable (a bundle's check).")
  var stem: String?

  @Option(help: "The payload zip from make-archive (a bundle's check).")
  var payload: String?

  @Option(
    help: """
      What the runtime's own check recorded (its --output with --runtime-layer): the payload's runtime layer \
      is taken from it, not unpacked.
      """)
  var runtimeRecord: String?

  @Option(help: "A runtime layer zip from make-archive, checked alone (not with --stem or --payload).")
  var runtimeLayer: String?

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

  @Option(
    help: """
      Where to write what the bundle needs of its host (JSON: the highest GLIBC version needed from a host \
      library, that library, each program's loader), for fuse-stub --host-needs (a bundle's check).
      """)
  var hostNeeds: String?

  @OptionGroup var output: OutputOptions<Self>

  func validate() throws {
    if runtimeLayer != nil {
      guard stem == nil, payload == nil, runtimeRecord == nil, hostNeeds == nil else {
        throw ValidationError(
          "--runtime-layer checks a runtime alone: not with --stem, --payload, --runtime-record or --host-needs")
      }
    } else if stem == nil || payload == nil {
      throw ValidationError("give --stem and --payload (a bundle), or --runtime-layer (a runtime)")
    }
  }

  func run() throws {
    try reportingErrors { () throws(LacewingError) in try AllowlistCheck.run(options, output: output.action) }
  }

  var options: AllowlistCheck.Options {
    let subject: AllowlistCheck.Options.Subject =
      if let runtimeLayer {
        .runtimeLayer(runtimeLayer)
      } else {
        .bundle(stem: stem ?? "", payload: payload ?? "", runtimeRecord: runtimeRecord)
      }
    var options = AllowlistCheck.Options(label: label, subject: subject, allowlistFile: allowlist)
    options.manifests = manifests
    options.hostLibDirs = hostLibDirs
    options.maxGlibc = maxGlibc
    options.maxGlibcxx = maxGlibcxx
    options.hostNeeds = hostNeeds
    return options
  }
}
