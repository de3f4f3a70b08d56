import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// fuse-stub's main: --main when given, else the place of the one --pyz of
/// a bundle of one test (so GN need not spell "test/NAME.pyz" again), else
/// none, a runtime-only bundle.
@Suite struct FuseMainTests {
  /// Fuses a payload whose interpreter is the cat stand-in; returns the
  /// bundle's bytes, or nil (after recording the error) when fuse-stub failed.
  func fuse(in dir: String, _ args: [String]) throws -> Data? {
    let r = try run(
      try Repo.tool("fuse-stub"),
      ["--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json", "--output", "bundle"]
        + args, directory: dir)
    #expect(r.status == 0, "\(r.stderr)")
    return r.status == 0 ? try readFile(dir + "/bundle") : nil
  }

  @Test func mainDefaultsToTheOnePyz() throws {
    let dir = try makeTemporaryDirectory("fuse-main")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeCatInterpreter(to: dir + "/tree/cat")
    let payload = try ZipMerge.merge(
      [], adding: [.init(path: "python/bin/cat", data: try readFile(dir + "/tree/cat"), mode: 0o755)])
    try payload.write(to: URL(fileURLWithPath: dir + "/p.zip"))
    try BundleManifest(interpreter: "python/bin/cat", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/m.json"))
    try writeText("code of a\n", to: dir + "/a.pyz")
    try writeText("code of b\n", to: dir + "/b.pyz")
    try writeText("an argument\n", to: dir + "/arg.txt")
    let env = environment(["LACEWING_CACHE_DIR": dir + "/cache"])

    let derived = try #require(try fuse(in: dir, ["--pyz", "a.pyz"]))
    let r = try run(dir + "/bundle", [dir + "/arg.txt"], environment: env)
    #expect(r.status == 0 && r.stdout == "code of a\nan argument\n", "\(r.output)")
    #expect(try fuse(in: dir, ["--pyz", "a.pyz", "--main", "test/a.pyz"]) == derived, "the same bundle as with --main")

    // Two tests' code and no --main: a runtime-only bundle; argv says what runs.
    _ = try fuse(in: dir, ["--pyz", "a.pyz", "--pyz", "b.pyz"])
    let runtimeOnly = try run(dir + "/bundle", [dir + "/arg.txt"], environment: env)
    #expect(runtimeOnly.status == 0 && runtimeOnly.stdout == "an argument\n", "\(runtimeOnly.output)")
  }
}
