import ArgumentParser
import LacewingCLI
import LacewingKit

@main
struct MakeArchive: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "make-archive",
    abstract: "Write deterministic zips: a bundle payload from a manifest, or a test's .pyz from its sources.",
    subcommands: [Payload.self, Pyz.self])
}

struct Payload: ParsableCommand, DescribesOutput {
  static let configuration = CommandConfiguration(
    abstract: "Build the payload zip a manifest describes.",
    discussion: """
      ELFs lose their debug info and get the manifest's $ORIGIN search path as DT_RPATH (strip and patchelf, on \
      private copies); stdlib modules become \
      unchecked-hash bytecode compiled by the bundled runtime (bytecode only, unless \
      --stdlib-sources). With --runtime, that runtime layer's entries are copied in compressed, \
      as they are. Entries are sorted, timestamps fixed: \
      the same inputs give the same bytes wherever and whenever they are built.
      """ + exitStatusHelp(.badInput, .toolFailed, .io))
  static let outputHelp = "the payload zip"

  @Option(help: "The manifest written by collect-artifacts.")
  var manifest: String

  @Option(
    help: "A runtime layer (a payload zip built from a runtime manifest) whose entries join this payload unchanged.")
  var runtime: String?

  @Option(help: "Deflate level 1-9, or 0 to store.")
  var compressionLevel: Int = 9

  @Flag(
    help: "Pack a runtime layer into one solid zstd frame (python.pack): about 25% smaller, unpacked once per machine.")
  var pack = false

  @Option(
    help: """
      With --pack: 0, our own setting (about 3 s for a runtime, 4% larger than zstd -19, which takes three times \
      as long), or zstd's level, 1 to 22; every level decodes about as fast.
      """)
  var packLevel: Int = Zstd.packLevel

  @Option(help: "With --pack: where to write what the pack holds (JSON: path, size), for size reports.")
  var packIndex: String?

  @Flag(help: "Ship stdlib sources only, without compiled bytecode.")
  var noBytecode = false

  @Flag(
    help: "Ship stdlib sources next to their bytecode (in __pycache__), for tracebacks that show stdlib lines.")
  var stdlibSources = false

  @Flag(help: "Keep the debug info of bundled ELF files (stripped by default).")
  var keepDebugInfo = false

  @Option(help: "The patchelf to run.")
  var patchelf = "patchelf"

  @OptionGroup var output: OutputOptions<Self>

  func validate() throws {
    guard (0...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 0 to 9") }
    guard (0...22).contains(packLevel) else { throw ValidationError("--pack-level must be 0 (ours) or 1 to 22") }
  }

  func run() throws {
    try reportingErrors(as: "make-archive payload") { () throws(LacewingError) in
      try PayloadArchive.run(options, output: output.action)
    }
  }

  var options: PayloadArchive.Options {
    var options = PayloadArchive.Options(manifest: manifest)
    options.runtime = runtime
    options.compressionLevel = compressionLevel
    options.pack = pack
    options.packLevel = packLevel
    options.packIndex = packIndex
    options.compileBytecode = !noBytecode
    options.stdlibSources = stdlibSources
    options.stripDebugInfo = !keepDebugInfo
    options.patchelf = patchelf
    return options
  }
}

struct Pyz: ParsableCommand, DescribesOutput {
  static let configuration = CommandConfiguration(
    abstract: "Build a test's zipapp (.pyz) from its Python sources.",
    discussion: "The result runs as `python3 test.pyz` with no bundle at all."
      + exitStatusHelp(.badInput, .toolFailed, .io))
  static let outputHelp = "the .pyz"

  @Option(help: "A JSON array of {\"source\", \"dest\"} objects (GN metadata); repeatable.")
  var sources: [String]

  @Option(help: "The module run as __main__, e.g. rtc_test.")
  var main: String

  @Option(help: "The runtime that compiles the modules' bytecode into the pyz; none: sources only.")
  var python: String?

  @Option(help: "A runtime layer's manifest, whose runtime compiles the bytecode (instead of --python).")
  var compilerFrom: String?

  @OptionGroup var wheels: WheelOptions

  @OptionGroup var output: OutputOptions<Self>

  func run() throws {
    try reportingErrors(as: "make-archive pyz") { () throws(LacewingError) in
      try PyzArchive.run(options, output: output.action)
    }
  }

  var options: PyzArchive.Options {
    var options = PyzArchive.Options(sourceLists: sources, mainModule: main)
    options.python = python
    options.compilerFrom = compilerFrom
    options.wheelLists = wheels.lists
    options.wheelLock = wheels.lock
    options.maxGlibc = wheels.maxGlibc
    return options
  }
}
