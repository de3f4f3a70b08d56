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
      private copies); stdlib modules get \
      unchecked-hash bytecode compiled by the bundled runtime. Entries are sorted, timestamps fixed: \
      the same inputs give the same bytes wherever and whenever they are built.
      """)

  @Option(help: "The manifest written by collect-artifacts.")
  var manifest: String

  @Option(help: "Deflate level 1-9, or 0 to store.")
  var compressionLevel: Int = 9

  @Flag(help: "Ship stdlib sources only, without compiled bytecode.")
  var noBytecode = false

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
        manifest: m, workDir: output + ".work", compressionLevel: compressionLevel, compileBytecode: !noBytecode,
        stripDebugInfo: !keepDebugInfo, patchelf: patchelf)
      try OutputFile.write(result.data, to: output)
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

  @Option(help: "Where to write the .pyz.")
  var output: String

  @Option(help: "Where to write the depfile; its target is --output.")
  var depfile: String?

  func run() throws {
    let status = Diagnostics.run(tool: "make-archive pyz") { () throws(LacewingError) in
      var all: [PythonSource] = []
      for list in sources { all += try PythonSource.readList(list) }
      let result = try Archiver.pyz(sources: all, mainModule: main, workDir: output + ".work", compiler: python)
      try OutputFile.write(result.data, to: output)
      if let depfile { try Depfile(output: output, inputs: sources + result.inputs).write(to: depfile) }
    }
    if status != 0 { throw ExitCode(status) }
  }
}
