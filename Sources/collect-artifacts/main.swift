import ArgumentParser
import LacewingCLI
import LacewingKit

extension Collector.Layer: ExpressibleByArgument {}

@main
struct CollectArtifacts: ParsableCommand, DescribesOutput {
  static let configuration = CommandConfiguration(
    commandName: "collect-artifacts",
    abstract: "Resolve everything a Python bundle needs into a manifest.",
    discussion: """
      Reads the interpreter's ELF headers and stdlib directory, follows DT_NEEDED through the \
      --lib-dir directories only, and writes a JSON manifest for make-archive. The depfile lists \
      every file read and every directory listed, so a new stdlib file triggers a rebuild.
      """ + exitStatusHelp(.badInput, .io))
  static let outputHelp = "the manifest (JSON)"

  @Option(
    help: """
      What to collect: all (one manifest), runtime (the shared runtime layer) or test (a test layer on a \
      runtime layer).
      """)
  var layer: Collector.Layer = .all

  @Option(help: "The CPython interpreter to bundle, e.g. /usr/bin/python3.11 (layers all and runtime).")
  var python: String?

  @Option(help: "The runtime layer's manifest (layer test).")
  var runtimeManifest: String?

  @Option(
    name: .customLong("test-list"),
    help: "A JSON array of tests (name, pyz, data, env) of a multi-test bundle (GN metadata), for their data.")
  var testLists: [String] = []

  @Option(name: .customLong("extension"), help: "A C extension module (.so) to bundle; repeatable.")
  var extensions: [String] = []

  @Option(name: .customLong("extension-list"), help: "A JSON array of extension module paths (GN metadata).")
  var extensionLists: [String] = []

  @OptionGroup var wheels: WheelOptions

  @Option(name: .customLong("data"), help: "SOURCE=DEST: a data file and its path in the bundle; repeatable.")
  var data: [String] = []

  @Option(
    name: .customLong("fidl-ir-list"),
    help: "A JSON array of FIDL IR ({name, ir}: fidl_ir_info GN metadata); each file lands in --fidl-ir-dir.")
  var fidlIRLists: [String] = []

  @Option(name: .customLong("fidl-ir-dir"), help: "Where the --fidl-ir-list files land in the bundle.")
  var fidlIRDir = "fidl_ir"

  @Option(
    name: .customLong("lib-dir"),
    help: "A directory shared libraries may be bundled from, after the runtime's own prefix/lib; repeatable.")
  var libDirs: [String] = []

  @Option(help: "The allowlist file: libraries every host has, never bundled.")
  var allowlist: String?

  @Option(
    name: .customLong("stdlib-exclude"),
    help: "An fnmatch pattern of stdlib paths to leave out, added to the defaults.")
  var stdlibExclude: [String] = []

  @Option(
    name: .customLong("exclude-module"),
    help: "An fnmatch pattern of lib-dynload module names to leave out, added to the defaults.")
  var excludeModules: [String] = []

  @Flag(help: "Use only the given exclusions, none of the defaults.")
  var noDefaultExcludes = false

  @Option(help: "Where to write a readable list of what was left out and why.")
  var exclusionReport: String?

  @Flag(help: "Put the stdlib's modules in one zip, lib/python3XY.zip, first on sys.path (layers all and runtime).")
  var stdlibZip = false

  @Option(
    name: .customLong("trim-to-imports-of"),
    help: "A Python file whose imports, followed through the stdlib, are all of the stdlib to bundle; repeatable.")
  var trimToImportsOf: [String] = []

  @Option(
    name: .customLong("keep-module"),
    help: "With --trim-to-imports-of: a stdlib module imported by name at run time, to bundle too; repeatable.")
  var keepModules: [String] = []

  @OptionGroup var output: OutputOptions<Self>

  func validate() throws {
    switch layer {
    case .all, .runtime:
      guard python != nil else { throw ValidationError("--python is required for --layer \(layer.rawValue)") }
    case .test:
      guard runtimeManifest != nil else { throw ValidationError("--runtime-manifest is required for --layer test") }
    }
  }

  func run() throws {
    try reportingErrors { () throws(LacewingError) in try Collector.run(options, output: output.action) }
  }

  var options: Collector.Options {
    var options = Collector.Options(layer: layer, python: python)
    options.runtimeManifest = runtimeManifest
    options.testLists = testLists
    options.extensions = extensions
    options.extensionLists = extensionLists
    options.wheelLists = wheels.lists
    options.wheelLock = wheels.lock
    options.maxGlibc = wheels.maxGlibc
    options.data = data
    options.fidlIRLists = fidlIRLists
    options.fidlIRDir = fidlIRDir
    options.libDirs = libDirs
    options.allowlist = allowlist
    options.stdlibExclude = stdlibExclude
    options.moduleExclude = excludeModules
    options.defaultExcludes = !noDefaultExcludes
    options.exclusionReport = exclusionReport
    options.stdlibZip = stdlibZip
    options.trimToImportsOf = trimToImportsOf
    options.keepModules = keepModules
    return options
  }
}
