import Foundation
import LacewingTestSupport
import Testing

/// Golden tests of each tool's command line, run as built: help text, and a
/// bad input with its exact error. `UPDATE_GOLDEN=1 swift test` rewrites the
/// files under Golden/ from the tools' current output.
@Suite struct GoldenTests {
  static let goldenDir = Repo.root + "/Tests/ToolGoldenTests/Golden"

  func check(_ name: String, _ tool: String, _ args: [String], status: Int32) throws {
    let env = environment(["COLUMNS": "100"])
    let r = try run(try Repo.tool(tool), args, environment: env, directory: Repo.root)
    #expect(r.status == status, "\(tool) \(args): \(r.stderr)")
    let text = r.stdout + r.stderr
    let path = "\(Self.goldenDir)/\(name).txt"
    if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] != nil {
      try writeText(text, to: path)
    }
    #expect(text == readText(path), "output of \(tool) \(args.joined(separator: " ")) differs from \(path)")
  }

  @Test(arguments: ["collect-artifacts", "fuse-stub", "ldd-allowlist-check", "make-archive", "lacewing-run-tests"])
  func help(tool: String) throws {
    try check("\(tool)-help", tool, ["--help"], status: 0)
  }

  @Test func makeArchiveSubcommandHelp() throws {
    try check("make-archive-payload-help", "make-archive", ["payload", "--help"], status: 0)
    try check("make-archive-pyz-help", "make-archive", ["pyz", "--help"], status: 0)
  }

  @Test func collectRefusesAnUnversionedInterpreter() throws {
    try check(
      "collect-artifacts-bad-python", "collect-artifacts",
      ["--python", "/bin/sh", "--output", "/tmp/lacewing-golden-unused.json"], status: 1)
  }

  @Test func runnerNamesAMissingTestsFile() throws {
    try check(
      "lacewing-run-tests-missing-tests", "lacewing-run-tests", ["--tests", "/nonexistent/tests.json"], status: 1)
  }

  @Test func makeArchiveNamesAMissingManifest() throws {
    try check(
      "make-archive-missing-manifest", "make-archive",
      ["payload", "--manifest", "testdata/no-such-manifest.json", "--output", "/tmp/lacewing-golden-unused.zip"],
      status: 1)
  }

  @Test func makeArchiveRefusesABadCompressionLevel() throws {
    try check(
      "make-archive-bad-level", "make-archive",
      ["payload", "--manifest", "m.json", "--compression-level", "12", "--output", "x.zip"], status: 64)
  }

  @Test func fuseStubRefusesEnvOutsideTheRoot() throws {
    let dir = try makeTemporaryDirectory("golden")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText(
      #"{"formatVersion":2,"interpreter":"python/bin/python3.11","modulePath":[],"#
        + #""entries":[{"path":"python/bin/python3.11","kind":"interpreter","mode":493}],"excluded":[]}"#,
      to: dir + "/m.json")
    try writeText("", to: dir + "/p.zip")
    try writeText("", to: dir + "/stem")
    let env = environment(["COLUMNS": "100"])
    let r = try run(
      try Repo.tool("fuse-stub"),
      [
        "--stem", dir + "/stem", "--payload", dir + "/p.zip", "--manifest", dir + "/m.json", "--main", "test/t.pyz",
        "--env", "FIDL_IR_PATH=../../etc", "--output", dir + "/bundle",
      ], environment: env)
    #expect(r.status == 1)
    #expect(
      r.stderr == "fuse-stub: error: env entry 'FIDL_IR_PATH=../../etc': the value must be a path relative to the "
        + "extraction root\n")
    #expect(!FileManager.default.fileExists(atPath: dir + "/bundle"))
  }

  @Test func allowlistCheckNamesAMissingPayload() throws {
    try check(
      "ldd-allowlist-check-missing-payload", "ldd-allowlist-check",
      [
        "--label", "//x:y", "--stem", ".build/release/lacewing-stem", "--payload", "testdata/none.zip",
        "--allowlist", "gn_templates/default_allowlist.txt", "--output", "/tmp/lacewing-golden-unused.txt",
      ],
      status: 1)
  }
}
