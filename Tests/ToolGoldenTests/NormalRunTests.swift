import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// Each tool's normal run, by hand, in the order GN runs them: silent on
/// success, outputs and depfiles as the contract says, and a bundle at the
/// end that runs.
@Suite struct NormalRunTests {
  @Test func theWholeChainRunsSilentlyAndWritesExactDepfiles() throws {
    let dir = try makeTemporaryDirectory("normal")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText("import sys\nsys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)\n", to: dir + "/src/main.py")
    try writeText(#"[{"source": "src/main.py", "dest": "main.py"}]"#, to: dir + "/sources.json")
    try writeText("[]", to: dir + "/extensions.json")
    try writeText("data\n", to: dir + "/src/data.txt")

    func tool(_ name: String, _ args: [String]) throws {
      let r = try run(try Repo.tool(name), args, directory: dir)
      #expect(r.status == 0, "\(name): \(r.stderr)")
      #expect(r.stdout == "" && r.stderr == "", "\(name) printed on success: \(r.output)")
    }
    func depfileTarget(_ path: String) -> String {
      String(readText(dir + "/" + path).prefix { $0 != ":" })
    }

    try tool("make-archive", ["pyz", "--sources", "sources.json", "--main", "main", "--output", "t.pyz", "--depfile", "t.pyz.d"])
    #expect(depfileTarget("t.pyz.d") == "t.pyz")
    #expect(readText(dir + "/t.pyz.d").contains("src/main.py"))

    try tool(
      "collect-artifacts",
      ["--python", "/usr/bin/python3.11", "--pyz", "t.pyz", "--extension-list", "extensions.json", "--data",
       "src/data.txt=data/data.txt", "--lib-dir", "/lib/x86_64-linux-gnu", "--allowlist",
       Repo.root + "/gn_templates/default_allowlist.txt", "--output", "m.json", "--exclusion-report", "excluded.txt",
       "--depfile", "m.json.d"])
    #expect(readText(dir + "/excluded.txt").contains("lib-dynload/nis.cpython-311-x86_64-linux-gnu.so\tmodule exclusion 'nis'"))
    #expect(readText(dir + "/excluded.txt").contains("python/lib/python3.11/ensurepip\tstdlib exclusion 'ensurepip'"))
    #expect(depfileTarget("m.json.d") == "m.json")
    let depfile = readText(dir + "/m.json.d")
    #expect(depfile.contains("/usr/lib/python3.11 ") || depfile.contains("/usr/lib/python3.11\n"), "scanned dirs are inputs")
    let manifest = try BundleManifest.read(dir + "/m.json")
    let paths = Set(manifest.entries.map(\.path))
    #expect(paths.isSuperset(of: ["python/bin/python3.11", "python/bin/python3.11._pth", "test/t.pyz", "data/data.txt",
                                  "python/lib/python3.11/os.py", "python/lib/libexpat.so.1"]))
    #expect(manifest.excluded.contains { $0.path.hasSuffix("lib-dynload/nis.cpython-311-x86_64-linux-gnu.so") })
    #expect(!paths.contains { $0.contains("/idlelib/") || $0.contains("/__pycache__/") })

    // Stored and without bytecode, to keep the test quick; the E2E build
    // covers the default.
    try tool(
      "make-archive",
      ["payload", "--manifest", "m.json", "--compression-level", "0", "--no-bytecode", "--output", "p.zip", "--depfile",
       "p.zip.d"])
    #expect(depfileTarget("p.zip.d") == "p.zip")
    #expect(!FileManager.default.fileExists(atPath: dir + "/p.zip.work"), "make-archive left its work dir")

    try tool(
      "ldd-allowlist-check",
      ["--label", "//t:t", "--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json",
       "--allowlist", Repo.root + "/gn_templates/default_allowlist.txt", "--output", "check.txt", "--depfile",
       "check.txt.d"])
    #expect(depfileTarget("check.txt.d") == "check.txt")
    #expect(readText(dir + "/check.txt").hasPrefix("checked "))

    try tool(
      "fuse-stub",
      ["--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json", "--main", "test/t.pyz",
       "--env", "DATA=data", "--after", "check.txt", "--output", "bundle", "--depfile", "bundle.d"])
    #expect(depfileTarget("bundle.d") == "bundle")
    let r = try run(dir + "/bundle", ["7"], environment: environment(["LACEWING_CACHE_DIR": dir + "/cache"]))
    #expect(r.status == 7, "\(r.stderr)")

    // Running a tool again on the same inputs leaves its output untouched.
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1)], ofItemAtPath: dir + "/bundle")
    try tool(
      "fuse-stub",
      ["--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json", "--main", "test/t.pyz",
       "--env", "DATA=data", "--output", "bundle"])
    let mtime = try FileManager.default.attributesOfItem(atPath: dir + "/bundle")[.modificationDate] as? Date
    #expect(mtime == Date(timeIntervalSince1970: 1))
  }
}
