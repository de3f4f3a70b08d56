import ArgumentParser
import Foundation
import LacewingKit

@main
struct MakeArchive: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "make-archive",
    abstract: "Write deterministic zips: a bundle payload from a manifest, or a test's .pyz from its sources.",
    subcommands: [Payload.self, Pyz.self])
}

struct Payload: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build the payload zip a manifest describes.",
    discussion: """
      ELFs lose their debug info and get the manifest's $ORIGIN RUNPATH (strip and patchelf, on \
      private copies); stdlib modules become \
      unchecked-hash bytecode compiled by the bundled runtime (bytecode only, unless \
      --stdlib-sources). With --runtime, that runtime layer's entries are copied in compressed, \
      as they are. Entries are sorted, timestamps fixed: \
      the same inputs give the same bytes wherever and whenever they are built.
      """)

  @Option(help: "The manifest written by collect-artifacts.")
  var manifest: String

  @Option(help: "A runtime layer (a payload zip built from a runtime manifest) whose entries join this payload unchanged.")
  var runtime: String?

  @Option(help: "Deflate level 1-9, or 0 to store (with --pack: the xz preset).")
  var compressionLevel: Int = 9

  @Flag(help: "Pack a runtime layer into one solid xz stream (python.pack): about 28% smaller, unpacked once per machine.")
  var pack = false

  @Option(help: "With --pack: where to write what the pack holds (JSON: path, size), for size reports.")
  var packIndex: String?

  @Flag(help: "Ship stdlib sources only, without compiled bytecode.")
  var noBytecode = false

  @Flag(help: "Ship stdlib sources next to their bytecode (in __pycache__), for tracebacks that show stdlib lines.")
  var stdlibSources = false

  @Flag(help: "Keep the debug info of bundled ELF files (stripped by default).")
  var keepDebugInfo = false

  @Option(help: "The patchelf to run.")
  var patchelf = "patchelf"

  @Option(help: "Where to write the payload zip.")
  var output: String

  @Option(help: "Where to write the depfile; its target is --output.")
  var depfile: String?

  func validate() throws {
    guard (0...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 0 to 9") }
  }

  func run() throws {
    let status = Diagnostics.run(tool: "make-archive payload") { () throws(LacewingError) in
      let m = try BundleManifest.read(manifest)
      let result = try Archiver.payload(
        manifest: m, workDir: output + ".work", runtime: runtime, pack: pack, compressionLevel: compressionLevel,
        compileBytecode: !noBytecode, stdlibSources: stdlibSources, stripDebugInfo: !keepDebugInfo, patchelf: patchelf)
      try OutputFile.write(result.data, to: output)
      if let packIndex {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try OutputFile.write((try? encoder.encode(result.packIndex)) ?? Data(), to: packIndex)
      }
      if let depfile { try Depfile(output: output, inputs: [manifest] + result.inputs).write(to: depfile) }
    }
    if status != 0 { throw ExitCode(status) }
  }
}

struct Pyz: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build a test's zipapp (.pyz) from its Python sources.",
    discussion: "The result runs as `python3 test.pyz` with no bundle at all.")

  @Option(help: "A JSON array of {\"source\", \"dest\"} objects (GN metadata); repeatable.")
  var sources: [String]

  @Option(help: "The module run as __main__, e.g. rtc_test.")
  var main: String

  @Option(help: "The runtime that compiles the modules' bytecode into the pyz; none: sources only.")
  var python: String?

  @Option(help: "A runtime layer's manifest, whose runtime compiles the bytecode (instead of --python).")
  var compilerFrom: String?

  @Option(name: .customLong("wheel-list"), help: "A JSON array of wheel paths (GN metadata); pure-Python ones join the pyz.")
  var wheelLists: [String] = []

  @Option(help: "A requirements lock (name==version --hash=sha256:...) every wheel must match.")
  var wheelLock: String?

  @Option(help: "Where to write the .pyz.")
  var output: String

  @Option(help: "Where to write the depfile; its target is --output.")
  var depfile: String?

  func run() throws {
    let status = Diagnostics.run(tool: "make-archive pyz") { () throws(LacewingError) in
      var all: [PythonSource] = []
      for list in sources { all += try PythonSource.readList(list) }
      var compiler = python
      if let compilerFrom { compiler = try BundleManifest.read(compilerFrom).compiler }
      let result = try Archiver.pyz(
        sources: all, mainModule: main, workDir: output + ".work", compiler: compiler,
        wheelLists: wheelLists, wheelLock: wheelLock)
      try OutputFile.write(result.data, to: output)
      if let depfile {
        try Depfile(output: output, inputs: sources + wheelLists + (compilerFrom.map { [$0] } ?? []) + result.inputs)
          .write(to: depfile)
      }
    }
    if status != 0 { throw ExitCode(status) }
  }
}
