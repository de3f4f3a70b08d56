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

  /// A sysroot holding only what `gn gen` reads of one: glibc's
  /// usr/include/features.h, with these lines (Debian 11's, tab-separated,
  /// by default).
  static func fakeSysroot(features: String = "#define\t__GLIBC__\t2\n#define\t__GLIBC_MINOR__\t31\n") throws
    -> String
  {
    let dir = try makeTemporaryDirectory("fake-sysroot")
    try writeText("/* glibc's features.h, the lines gn reads */\n" + features, to: dir + "/usr/include/features.h")
    return dir
  }

  /// Reads one arg's value as `gn args --list --short` prints it.
  static func arg(_ out: String, _ name: String) throws -> String {
    try run("gn", ["args", out, "--list=" + name, "--short"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// lacewing_sysroot sets the floor to the glibc its features.h names (read
  /// at gen time, not assumed), the library dirs to its own, and the flags
  /// of what the toolchain compiles; an explicit floor still wins.
  @Test func theSysrootSetsTheFloorTheLibraryDirsAndTheFlags() throws {
    let sysroot = try Self.fakeSysroot()
    defer { try? FileManager.default.removeItem(atPath: sysroot) }
    var floor = ""
    var dirs = ""
    var codec = ""
    var runtimeCheck = ""
    let r = try Self.genRepo("lacewing_sysroot=\"\(sysroot)\"") { out in
      floor = try Self.arg(out, "lacewing_max_glibc")
      dirs = try Self.arg(out, "lacewing_shared_library_dirs")
      codec = readText(out + "/obj/testdata/fuchsia_controller/fidl_codec.ninja")
      runtimeCheck = readText(out + "/toolchain.ninja")
    }
    #expect(r.status == 0, "\(r.output)")
    #expect(floor == "lacewing_max_glibc = \"2.31\"")
    #expect(
      dirs
        == "lacewing_shared_library_dirs = [\"\(sysroot)/lib/x86_64-linux-gnu\", \"\(sysroot)/usr/lib/x86_64-linux-gnu\"]"
    )
    #expect(codec.contains("--sysroot=\(sysroot) "), "\(codec)")
    #expect(
      codec.contains(
        "ldflags = --sysroot=\(sysroot) -B\(sysroot)/usr/lib/x86_64-linux-gnu -L\(sysroot)/usr/lib/x86_64-linux-gnu "
          + "-L\(sysroot)/lib/x86_64-linux-gnu"), "\(codec)")
    let rules = runtimeCheck.split(separator: "\n")
    func command(_ rule: String) -> String {
      rules.firstIndex { $0.hasPrefix("rule " + rule + "__") }.map { String(rules[$0 + 1]) } ?? ""
    }
    let check = command("__gn_templates_runtime_check_")
    #expect(
      check.contains("--max-glibc 2.31") && check.contains("--host-lib-dir \(sysroot)/lib/x86_64-linux-gnu"), "\(check)"
    )
    // The floor reaches the tools that read wheels (their tags), and a
    // runtime's own max_glibc its check.
    for rule in ["__testdata_numpy_test_numpy_test_pyz_", "__testdata_numpy_test_numpy_test_embed_collect_"] {
      #expect(command(rule).contains(" --max-glibc 2.31"), "\(rule): \(command(rule))")
    }
    let parameterRuntime = command("__testdata_parameters_runtime_check_")
    #expect(parameterRuntime.contains(" --max-glibc 2.40"), "\(parameterRuntime)")

    // Another glibc in features.h, another floor: it is read, not assumed.
    let older = try Self.fakeSysroot(features: "#define\t__GLIBC__\t2\n#define\t__GLIBC_MINOR__\t28\n")
    defer { try? FileManager.default.removeItem(atPath: older) }
    var olderFloor = ""
    #expect(
      try Self.genRepo("lacewing_sysroot=\"\(older)\"") { olderFloor = try Self.arg($0, "lacewing_max_glibc") }.status
        == 0)
    #expect(olderFloor == "lacewing_max_glibc = \"2.28\"")
    var explicit = ""
    #expect(
      try Self.genRepo("lacewing_sysroot=\"\(sysroot)\" lacewing_max_glibc=\"2.36\"") {
        explicit = try Self.arg($0, "lacewing_max_glibc")
      }.status == 0)
    #expect(explicit == "lacewing_max_glibc = \"2.36\"")

    // No sysroot: Debian 12's floor and directories, no sysroot flags.
    var plain = ""
    var plainFloor = ""
    #expect(
      try Self.genRepo("") { out in
        plain = readText(out + "/obj/testdata/fuchsia_controller/fidl_codec.ninja")
        plainFloor = try Self.arg(out, "lacewing_max_glibc")
      }.status == 0)
    #expect(plainFloor == "lacewing_max_glibc = \"2.36\"")
    #expect(!plain.contains("--sysroot") && plain.contains("ldflags = -Wl,-rpath"), "\(plain)")
  }

  /// The real sysroot (build/sysroot.sh's): Debian 11 is glibc 2.31.
  @Test
  func aDebian11SysrootsFloorIs231() throws {
    let sysroot = try TestSysroot.path
    var floor = ""
    let r = try Self.genRepo("lacewing_sysroot=\"\(sysroot)\"") { floor = try Self.arg($0, "lacewing_max_glibc") }
    #expect(r.status == 0, "\(r.output)")
    #expect(floor == "lacewing_max_glibc = \"2.31\"")
  }

  @Test(arguments: [
    ("lacewing_sysroot=\"sysroots/bullseye\"", "lacewing_sysroot must be an absolute path"),
    ("lacewing_max_glibc=\"2.x\"", "lacewing_max_glibc must be a glibc version such as \"2.31\""),
    ("lacewing_max_glibc=\"2\"", "lacewing_max_glibc must be a glibc version such as \"2.31\""),
    ("lacewing_max_glibc=\"2.31.\"", "lacewing_max_glibc must be a glibc version such as \"2.31\""),
    ("lacewing_sysroot=FAKE_WITHOUT_VERSION", "features.h defines no __GLIBC__ and __GLIBC_MINOR__"),
    ("lacewing_sysroot=FAKE_WITHOUT_HEADERS", "/usr/include/features.h"),
  ])
  func aMalformedSysrootOrFloorFailsGen(args: String, message: String) throws {
    let withoutVersion = try Self.fakeSysroot(features: "#define __GLIBC_USE(F) __GLIBC_USE_ ## F\n")
    let withoutHeaders = try makeTemporaryDirectory("empty-sysroot")
    defer {
      try? FileManager.default.removeItem(atPath: withoutVersion)
      try? FileManager.default.removeItem(atPath: withoutHeaders)
    }
    let resolved = args.replacing("FAKE_WITHOUT_VERSION", with: "\"\(withoutVersion)\"")
      .replacing("FAKE_WITHOUT_HEADERS", with: "\"\(withoutHeaders)\"")
    var generated = true
    let r = try Self.genRepo(resolved) { out in
      generated = FileManager.default.fileExists(atPath: out + "/toolchain.ninja")
    }
    #expect(r.status != 0, "gn gen accepted \(resolved): \(r.output)")
    #expect(!generated)
    #expect(r.output.contains(message), "\(r.output)")
    #expect(r.output.contains("//gn_templates/lacewing_args.gni"), "\(r.output)")
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
