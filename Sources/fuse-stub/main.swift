import ArgumentParser
import Foundation
import LacewingFormat
import LacewingKit

@main
struct FuseStub: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuse-stub",
    abstract: "Join the prebuilt stem and a payload into one self-extracting executable.",
    discussion: """
      Layout: [stem][payload zip][config][trailer]. The stem runs `<interpreter> <interpreter-arg>... \
      <main> <argv>`; with no --main (a runtime-only bundle) argv names what to run; with --test \
      (a multi-test bundle) the test is the one named like the link the bundle was run through, \
      or argv[1]. The trailer holds the SHA-256 of payload and \
      config, which keys the stem's extraction cache; with --shared-runtime the runtime layer \
      (python/) gets a cache entry of its own, keyed by its own digest. --env values are paths \
      relative to the extraction root; the stem makes them absolute.
      """)

  @Option(help: "The prebuilt stem executable.")
  var stem: String

  @Option(help: "The payload zip from make-archive.")
  var payload: String

  @Option(help: "The manifest the payload was built from (names the interpreter).")
  var manifest: String

  @Option(name: .customLong("interpreter-arg"), help: "An argument for the interpreter before the test, e.g. -B; repeatable.")
  var interpreterArgs: [String] = []

  @Option(name: .customLong("pyz"), help: "A test's .pyz, stored at test/<file name> in the payload; repeatable.")
  var pyzs: [String] = []

  @Option(help: "The test's path inside the bundle, e.g. test/rtc_test.pyz; none: a runtime-only bundle.")
  var main: String?

  @Option(name: .customLong("test"), help: "NAME=PATH: a test of a multi-test bundle and its .pyz in the bundle; repeatable.")
  var tests: [String] = []

  @Option(name: .customLong("test-list"), help: "A JSON array of tests (name, pyz, data, env) of a multi-test bundle (GN metadata).")
  var testLists: [String] = []

  @Flag(help: "Extract the runtime layer (python/) into a cache entry shared by every bundle on the same runtime.")
  var sharedRuntime = false

  @Option(help: "Where to write the bundle's size by category and its largest entries, as JSON.")
  var sizeReport: String?

  @Option(help: "Where to write the same as a table.")
  var sizeTable: String?

  @Option(help: "What a packed runtime layer holds (make-archive --pack-index), for the size report.")
  var runtimeIndex: String?

  @Option(name: .customLong("env"), help: "NAME=relative/path set for the test; repeatable.")
  var env: [String] = []

  @Option(help: "An input that must exist first, e.g. the allowlist check's stamp; repeatable.")
  var after: [String] = []

  @Option(help: "Where to write the executable.")
  var output: String

  @Option(help: "Where to write the depfile; its target is --output.")
  var depfile: String?

  func run() throws {
    let status = Diagnostics.run(tool: Self._commandName) { () throws(LacewingError) in
      let m = try BundleManifest.read(manifest)
      var config = Fuser.Config(interpreter: m.interpreter, arguments: interpreterArgs, main: main, env: env)
      for test in tests {
        guard let eq = test.firstIndex(of: "=") else { throw LacewingError(.badInput, "--test '\(test)' is not NAME=PATH") }
        config.tests.append((String(test[..<eq]), String(test[test.index(after: eq)...])))
      }
      var pyzFiles = pyzs
      for list in testLists {
        for test in try Collector.TestEntry.readList(list) {
          config.tests.append((test.name, BundleLayout.pyzPath(test.pyz)))
          config.env += test.env.filter { !config.env.contains($0) }
          pyzFiles.append(test.pyz)
        }
      }
      // The config's own mistakes first: they need no file read.
      try Fuser.validate(config, against: nil)
      let stemData = try readFile(stem)
      var added: [ZipMerge.StoredFile] = []
      for pyz in pyzFiles { added.append(.init(path: BundleLayout.pyzPath(pyz), data: try readFile(pyz))) }
      // The tests' code joins here, stored as it is: editing a test reruns
      // only its .pyz and this step. So do the launchers' ._pth files.
      var payloadData = try readFile(payload)
      added += try Fuser.launcherFiles(
        config, modulePath: m.modulePath, names: Set(try ZipIndex.entries(payloadData).map(\.name)))
      payloadData = try ZipMerge.merge([(payload, payloadData)], adding: added)
      if sharedRuntime { config.runtime = try Fuser.runtimeDigest(payloadData) }
      let packed = try runtimeIndex.map { path throws(LacewingError) in try Archiver.PackedFile.readList(path) } ?? []
      var names = Set(try ZipIndex.entries(payloadData).map(\.name))
      if names.contains(LW_RUNTIME_PACK) {
        // The index lists the pack's files; without it, unpack to see them.
        names.formUnion(
          packed.isEmpty ? try PayloadContents(payloadData, label: payload).names() : packed.map(\.path))
      }
      try Fuser.validate(config, against: names)
      let bundle = try Fuser.fuse(stem: stemData, payload: payloadData, config: config)
      try OutputFile.write(bundle, to: output, mode: 0o755)
      if sizeReport != nil || sizeTable != nil {
        let report = try SizeReport(
          bundle: FS.basename(output), stemBytes: stemData.count, payload: payloadData, totalBytes: bundle.count,
          packed: packed)
        if let sizeReport { try OutputFile.write(report.json, to: sizeReport) }
        if let sizeTable { try OutputFile.write(Data(report.table.utf8), to: sizeTable) }
      }
      if let depfile {
        try Depfile(
          output: output, inputs: [stem, payload, manifest] + testLists + pyzFiles + (runtimeIndex.map { [$0] } ?? []) + after
        ).write(to: depfile)
      }
    }
    if status != 0 { throw ExitCode(status) }
  }
}
