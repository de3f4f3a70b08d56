import ArgumentParser
import LacewingCLI
import LacewingKit

@main
struct FuseStub: ParsableCommand, DescribesOutput {
  static let configuration = CommandConfiguration(
    commandName: "fuse-stub",
    abstract: "Join the prebuilt stem and a payload into one self-extracting executable.",
    discussion: """
      Layout: [stem][payload zip][config][trailer]. The stem runs `<interpreter> <interpreter-arg>... \
      <main> <argv>`; main is --main, or the place of the one --pyz of a bundle of one test; with \
      neither (a runtime-only bundle) argv names what to run; with --test (a multi-test bundle) the \
      test is the one named like the link the bundle was run through, or argv[1]. The trailer holds \
      the SHA-256 of payload and config, which keys the stem's extraction cache; with \
      --shared-runtime the runtime layer (python/) gets a cache entry of its own, keyed by its own \
      digest. --env values are paths relative to the extraction root; the stem makes them absolute. With \
      --host-needs the stem first checks that the host can run the interpreter (its loader, the glibc \
      version it needs, /proc) and extracts nothing when it cannot.
      """ + exitStatusHelp(.badInput, .io))
  static let outputHelp = "the executable"

  @OptionGroup var parts: BundleParts

  @Option(help: "The manifest the payload was built from (names the interpreter).")
  var manifest: String

  @Option(
    name: .customLong("interpreter-arg"),
    help: "An argument for the interpreter before the test, e.g. -B; repeatable.")
  var interpreterArgs: [String] = []

  @Option(name: .customLong("pyz"), help: "A test's .pyz, stored at test/<file name> in the payload; repeatable.")
  var pyzs: [String] = []

  @Option(
    help: """
      The test's path inside the bundle, e.g. test/rtc_test.pyz; default: the one --pyz's, when there is \
      one and no --test or --test-list; else none, a runtime-only bundle.
      """)
  var main: String?

  @Option(
    name: .customLong("test"),
    help: "NAME=PATH: a test of a multi-test bundle and its .pyz in the bundle; repeatable.")
  var tests: [String] = []

  @Option(
    name: .customLong("test-list"),
    help: "A JSON array of tests (name, pyz, data, env) of a multi-test bundle (GN metadata).")
  var testLists: [String] = []

  @Flag(
    help: "Extract the runtime layer (python/) into a cache entry shared by every bundle on the same runtime.")
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

  @Option(
    help: """
      What the bundle needs of its host (ldd-allowlist-check --host-needs): the interpreter's loader and the \
      highest GLIBC version needed, with its library, go into the config, for the stem's check of the host.
      """)
  var hostNeeds: String?

  @OptionGroup var output: OutputOptions<Self>

  func run() throws {
    try reportingErrors { () throws(LacewingError) in try Fuser.run(options, output: output.action) }
  }

  var options: Fuser.Options {
    var options = Fuser.Options(stem: parts.stem, payload: parts.payload, manifest: manifest)
    options.interpreterArgs = interpreterArgs
    options.pyzs = pyzs
    options.main = main
    options.tests = tests
    options.testLists = testLists
    options.sharedRuntime = sharedRuntime
    options.sizeReport = sizeReport
    options.sizeTable = sizeTable
    options.runtimeIndex = runtimeIndex
    options.env = env
    options.after = after
    options.hostNeeds = hostNeeds
    return options
  }
}
