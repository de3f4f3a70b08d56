import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// What make-archive and ldd-allowlist-check do to and with real ELF files
/// built here by gcc/g++.
@Suite struct ELFHandlingTests {
  func compile(_ dir: String, _ name: String, _ source: String, compiler: String, flags: [String]) throws -> String {
    let ext = compiler == "g++" ? "cc" : "c"
    try writeText(source, to: "\(dir)/\(name).\(ext)")
    let r = try run(compiler, flags + ["-shared", "-fPIC", "-o", "\(dir)/\(name).so", "\(dir)/\(name).\(ext)"])
    guard r.status == 0 else { throw TestSetupError("\(compiler) failed: \(r.stderr)") }
    return "\(dir)/\(name).so"
  }

  func archive(_ dir: String, _ so: String, extraArgs: [String] = []) throws -> Data {
    let m = BundleManifest(
      interpreter: "ext/x.so", compiler: nil,
      entries: [.init(path: "ext/x.so", kind: .extension, source: so, mode: 0o755, runpath: "$ORIGIN/../lib")])
    try m.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let r = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/m.json", "--no-bytecode", "--output", dir + "/p.zip"] + extraArgs)
    #expect(r.status == 0, "\(r.stderr)")
    return try ZipContents.read(dir + "/p.zip")[0].data
  }

  func sections(_ data: Data, in dir: String) throws -> String {
    try data.write(to: URL(fileURLWithPath: dir + "/extracted.so"))
    return try run("readelf", ["-S", "-d", dir + "/extracted.so"]).stdout
  }

  @Test func debugInfoIsStrippedByDefaultAndRunpathSet() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(dir, "x", "int answer(void) { return 42; }\n", compiler: "gcc", flags: ["-g"])
    #expect(try run("readelf", ["-S", so]).stdout.contains(".debug_info"))
    let stripped = try sections(try archive(dir, so), in: dir)
    #expect(!stripped.contains(".debug_info"))
    #expect(stripped.contains("(RUNPATH)") && stripped.contains("[$ORIGIN/../lib]"), "\(stripped)")
    let kept = try sections(try archive(dir, so, extraArgs: ["--keep-debug-info"]), in: dir)
    #expect(kept.contains(".debug_info"))
  }

  @Test func hostLibstdcxxVersionsAreReportedAndFloored() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(
      dir, "x", "#include <string>\nextern \"C\" int size(const char *s) { return (int)std::string(s).size(); }\n",
      compiler: "g++", flags: [])
    _ = try archive(dir, so)
    try writeText(readText(Repo.root + "/gn_templates/default_allowlist.txt") + "libstdc++.so.6\nlibgcc_s.so.1\n",
                  to: dir + "/allow.txt")
    func check(_ extra: [String]) throws -> ProcessResult {
      try run(
        try Repo.tool("ldd-allowlist-check"),
        ["--label", "//t:cxx", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
         dir + "/allow.txt", "--output", dir + "/stamp.txt"] + extra)
    }
    let ok = try check([])
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(readText(dir + "/stamp.txt").contains("highest symbol version: GLIBCXX_3.4"), "\(readText(dir + "/stamp.txt"))")
    let floored = try check(["--max-glibcxx", "3.4.0"])
    #expect(floored.status == 1)
    #expect(floored.stderr.contains("ext/x.so needs GLIBCXX_3.4"), "\(floored.stderr)")
    #expect(floored.stderr.contains("above the floor GLIBCXX_3.4.0"))
  }

  @Test func theGlibcFloorFailsTheCheck() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(dir, "x", "#include <stdio.h>\nint hi(void) { return puts(\"hi\"); }\n", compiler: "gcc", flags: [])
    _ = try archive(dir, so)
    let r = try run(
      try Repo.tool("ldd-allowlist-check"),
      ["--label", "//t:floor", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
       Repo.root + "/gn_templates/default_allowlist.txt", "--max-glibc", "2.0", "--output", dir + "/stamp.txt"])
    #expect(r.status == 1)
    #expect(r.stderr.contains("above the glibc floor GLIBC_2.0"), "\(r.stderr)")
  }
}
