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
}
