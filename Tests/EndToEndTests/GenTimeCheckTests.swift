import Foundation
import LacewingTestSupport
import Testing

/// Template parameters that exclude each other fail at `gn gen`, naming the
/// target and the pair, instead of when the bundle's action runs. Each case
/// is a build of its own, rooted at testdata/exclusive_parameters (which
/// //BUILD.gn does not load); only `gn` runs, so this needs no tools and no
/// shared build.
@Suite struct GenTimeCheckTests {
  /// `gn gen` of testdata/exclusive_parameters with `case` set; the out dir
  /// is removed afterwards, once `inspect` has looked at it.
  static func gen(_ exclusiveCase: String, inspect: ((String) throws -> Void)? = nil) throws -> ProcessResult {
    let dir = try makeTemporaryDirectory("gen-check")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText(
      """
      buildconfig = "//build/config/BUILDCONFIG.gn"
      root = "//testdata/exclusive_parameters"
      script_executable = ""

      """, to: dir + "/dotfile.gn")
    let r = try run(
      "gn",
      [
        "gen", dir + "/out", "--root=" + Repo.root, "--dotfile=" + dir + "/dotfile.gn",
        "--args=exclusive_parameters_case=\"\(exclusiveCase)\"",
      ])
    try inspect?(dir + "/out")
    return r
  }

  /// The control: each parameter alone is accepted, and the file is loaded
  /// (both bundles are in the generated build).
  @Test func eachParameterAloneGenerates() throws {
    var rules = ""
    let r = try Self.gen("") { out in rules = readText(out + "/toolchain.ninja") }
    #expect(r.status == 0, "\(r.output)")
    #expect(rules.contains("rule __testdata_exclusive_parameters_one_test__"), "\(rules.prefix(2000))")
    #expect(rules.contains("rule __testdata_exclusive_parameters_several_tests__"), "\(rules.prefix(2000))")
    #expect(rules.contains("rule __testdata_exclusive_parameters_mobly_params__"), "\(rules.prefix(2000))")
    #expect(rules.contains("rule __testdata_exclusive_parameters_mobly_params_source__"), "\(rules.prefix(2000))")
  }

  @Test(arguments: [
    (
      "main_and_test_list", "python_bundle_binary(\"//testdata/exclusive_parameters:one_test\")",
      "main and test_list exclude each other"
    ),
    (
      "pyz_and_test_list", "python_bundle_binary(\"//testdata/exclusive_parameters:several_tests\")",
      "pyz and test_list exclude each other"
    ),
    (
      "params_and_params_source", "python_mobly_test(\"//testdata/exclusive_parameters:mobly_params\")",
      "params and params_source exclude each other"
    ),
  ])
  func aPairThatExcludesEachOtherFailsGen(exclusiveCase: String, target: String, message: String) throws {
    var generated = true
    let r = try Self.gen(exclusiveCase) { out in
      generated = FileManager.default.fileExists(atPath: out + "/toolchain.ninja")
    }
    #expect(r.status != 0, "gn gen accepted \(exclusiveCase): \(r.output)")
    #expect(!generated, "gn gen wrote a build for \(exclusiveCase)")
    #expect(r.output.contains("\(target): \(message)"), "\(r.output)")
    // GN points at the invocation that gave the pair.
    #expect(r.output.contains("//testdata/exclusive_parameters/BUILD.gn"), "\(r.output)")
  }

  /// A bundle must be on its payload's runtime (it reads that runtime's
  /// manifest and index): GN cannot read the embed target's parameter, so
  /// the embed target defines `<embed>.runtime_is.<runtime>` and the bundle
  /// depends on the one for its own runtime. The control, the same runtime
  /// named on both, is eachParameterAloneGenerates.
  @Test func aBundleOnAnotherRuntimeThanItsPayloadFailsGen() throws {
    var generated = true
    let r = try Self.gen("runtime_and_embed") { out in
      generated = FileManager.default.fileExists(atPath: out + "/toolchain.ninja")
    }
    #expect(r.status != 0, "gn gen accepted a bundle on another runtime: \(r.output)")
    #expect(!generated, "gn gen wrote a build for runtime_and_embed")
    #expect(r.output.contains("//testdata/exclusive_parameters:one_test("), "\(r.output)")
    #expect(
      r.output.contains(
        "needs //testdata/exclusive_parameters:embed.runtime_is.testdata_exclusive_parameters.another_runtime"),
      "\(r.output)")
  }

  /// `gn gen` of the repo's own tree with `args`; `inspect` sees the out dir.
  static func genRepo(_ args: String, inspect: ((String) throws -> Void)? = nil) throws -> ProcessResult {
    let dir = try makeTemporaryDirectory("gen-remote")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try run("gn", ["gen", dir + "/out", "--root=" + Repo.root, "--args=" + args])
    try inspect?(dir + "/out")
    return r
  }

  /// With a launcher, every Lacewing action runs through it, the tool after
  /// `--`, its lists named for the launcher to expand.
  @Test func aRemoteLauncherPrefixesEveryLacewingAction() throws {
    var rules = ""
    let r = try Self.genRepo("lacewing_remote_launcher=\"/opt/reapi/launcher\"") { out in
      rules = readText(out + "/toolchain.ninja")
    }
    #expect(r.status == 0, "\(r.output)")
    let commands = rules.split(separator: "\n").filter { $0.contains("command =") && $0.contains("/.build/release/") }
    #expect(!commands.isEmpty)
    for command in commands {
      #expect(command.contains("command =  /opt/reapi/launcher --exec-root "), "\(command)")
      let tool = command.components(separatedBy: " -- ").last ?? ""
      #expect(tool.hasPrefix("../") && tool.split(separator: " ")[0].contains("/.build/release/"), "\(command)")
    }
    #expect(commands.contains { $0.contains("--input-list gen/testdata/rtc_test/rtc_test.pyz_sources.json") })
  }

  /// A remote action uploads what it runs: tools outside the source root
  /// fail `gn gen`, naming the arg; locally they are fine.
  @Test func aRemoteBuildNeedsItsToolsInsideTheSourceRoot() throws {
    let local = try Self.genRepo("lacewing_tools_dir=\"/opt/lacewing/bin\"")
    #expect(local.status == 0, "\(local.output)")
    let remote = try Self.genRepo(
      "lacewing_remote_launcher=\"/opt/reapi/launcher\" lacewing_tools_dir=\"/opt/lacewing/bin\"")
    #expect(remote.status != 0)
    #expect(remote.output.contains("lacewing_tools_dir must be inside the source root"), "\(remote.output)")
  }
}
