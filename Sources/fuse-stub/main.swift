import ArgumentParser
import LacewingKit

@main
struct FuseStub: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuse-stub",
    abstract: "Join the prebuilt stem and a payload into one self-extracting executable.",
    discussion: """
      Layout: [stem][payload zip][config][trailer]. The stem runs `<interpreter> <interpreter-arg>... \
      <main> <argv>`. The trailer holds the SHA-256 of payload and \
      config, which keys the stem's extraction cache. --env values are paths relative to the \
      extraction root; the stem makes them absolute.
      """)

  @Option(help: "The prebuilt stem executable.")
  var stem: String

  @Option(help: "The payload zip from make-archive.")
  var payload: String

  @Option(help: "The manifest the payload was built from (names the interpreter).")
  var manifest: String

  @Option(name: .customLong("interpreter-arg"), help: "An argument for the interpreter before the test, e.g. -B; repeatable.")
  var interpreterArgs: [String] = []

  @Option(help: "The test's path inside the bundle, e.g. test/rtc_test.pyz.")
  var main: String

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
      let config = Fuser.Config(interpreter: m.interpreter, arguments: interpreterArgs, main: main, env: env)
      try Fuser.validate(config, against: m)
      let bundle = try Fuser.fuse(stem: try readFile(stem), payload: try readFile(payload), config: config)
      try OutputFile.write(bundle, to: output, mode: 0o755)
      if let depfile { try Depfile(output: output, inputs: [stem, payload, manifest] + after).write(to: depfile) }
    }
    if status != 0 { throw ExitCode(status) }
  }
}
