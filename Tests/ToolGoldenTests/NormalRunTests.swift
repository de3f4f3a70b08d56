import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// Each tool's normal run, by hand, in the order GN runs them: silent on
/// success, outputs and depfiles as the contract says, and a bundle at the
/// end that runs.
@Suite struct NormalRunTests {
  /// A source that is not a module (package data such as pkg/data.json,
  /// here valid Python too) lands in the .pyz as it is and is not compiled.
  @Test func packageDataInSourcesIsNotCompiled() throws {
    let dir = try makeTemporaryDirectory("pkgdata")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText("import pkgutil\nprint(pkgutil.get_data('pkg', 'data.json').decode())\n", to: dir + "/main.py")
    try writeText("", to: dir + "/pkg/__init__.py")
    try writeText(#"{"answer": [2, 3]}"#, to: dir + "/pkg/data.json")
    try writeText(
      #"[{"source": "main.py", "dest": "main.py"}, {"source": "pkg/__init__.py", "dest": "pkg/__init__.py"}, "#
        + #"{"source": "pkg/data.json", "dest": "pkg/data.json"}]"#, to: dir + "/sources.json")
    let r = try run(
      try Repo.tool("make-archive"),
      ["pyz", "--sources", "sources.json", "--main", "main", "--python", "/usr/bin/python3.11", "--output", "t.pyz"],
      directory: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let names = try ZipContents.read(dir + "/t.pyz").map(\.name)
    #expect(
      names == ["__main__.py", "main.py", "main.pyc", "pkg/__init__.py", "pkg/__init__.pyc", "pkg/data.json"],
      "\(names)")
    let out = try run("/usr/bin/python3.11", [dir + "/t.pyz"])
    #expect(out.status == 0 && out.stdout == #"{"answer": [2, 3]}"# + "\n", "\(out.output)")
  }

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

    try tool(
      "make-archive",
      ["pyz", "--sources", "sources.json", "--main", "main", "--output", "t.pyz", "--depfile", "t.pyz.d"])
    #expect(depfileTarget("t.pyz.d") == "t.pyz")
    #expect(readText(dir + "/t.pyz.d").contains("src/main.py"))

    try tool(
      "collect-artifacts",
      [
        "--layer", "runtime", "--python", "/usr/bin/python3.11", "--lib-dir", "/lib/x86_64-linux-gnu", "--allowlist",
        Repo.root + "/gn_templates/default_allowlist.txt", "--output", "rt.json", "--exclusion-report", "excluded.txt",
        "--depfile", "rt.json.d",
      ])
    #expect(
      readText(dir + "/excluded.txt").contains(
        "lib-dynload/nis.cpython-311-x86_64-linux-gnu.so\tmodule exclusion 'nis'"))
    #expect(readText(dir + "/excluded.txt").contains("python/lib/python3.11/ensurepip\tstdlib exclusion 'ensurepip'"))
    #expect(depfileTarget("rt.json.d") == "rt.json")
    let depfile = readText(dir + "/rt.json.d")
    #expect(
      depfile.contains("/usr/lib/python3.11 ") || depfile.contains("/usr/lib/python3.11\n"), "scanned dirs are inputs")
    let runtime = try BundleManifest.read(dir + "/rt.json")
    let runtimePaths = Set(runtime.entries.map(\.path))
    #expect(
      runtimePaths.isSuperset(of: [
        "python/bin/python3.11", "python/bin/python3.11._pth",
        "python/lib/python3.11/os.py", "python/lib/libexpat.so.1",
      ]))
    #expect(runtime.entries.allSatisfy { $0.path.hasPrefix("python/") })
    #expect(runtime.excluded.contains { $0.path.hasSuffix("lib-dynload/nis.cpython-311-x86_64-linux-gnu.so") })
    #expect(!runtimePaths.contains { $0.contains("/idlelib/") || $0.contains("/__pycache__/") })

    try tool(
      "collect-artifacts",
      [
        "--layer", "test", "--runtime-manifest", "rt.json", "--extension-list", "extensions.json", "--data",
        "src/data.txt=data/data.txt", "--lib-dir", "/lib/x86_64-linux-gnu", "--output", "m.json", "--depfile",
        "m.json.d",
      ])
    let manifest = try BundleManifest.read(dir + "/m.json")
    #expect(manifest.entries.map(\.path) == ["data/data.txt"])
    #expect(manifest.interpreter == "python/bin/python3.11")
    #expect(readText(dir + "/m.json.d").contains("rt.json"))

    // Stored and without bytecode, to keep the test quick; the E2E build
    // covers the default (bytecode only, packed).
    try tool(
      "make-archive",
      [
        "payload", "--manifest", "rt.json", "--compression-level", "0", "--no-bytecode", "--output", "rt.zip",
        "--depfile", "rt.zip.d",
      ])
    try tool(
      "make-archive",
      ["payload", "--manifest", "m.json", "--runtime", "rt.zip", "--output", "p.zip", "--depfile", "p.zip.d"])
    #expect(depfileTarget("p.zip.d") == "p.zip")
    #expect(readText(dir + "/p.zip.d").contains("rt.zip"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/p.zip.work"), "make-archive left its work dir")
    let merged = try ZipContents.read(dir + "/p.zip").map(\.name)
    #expect(merged.contains("python/bin/python3.11") && merged.contains("data/data.txt"))
    #expect(merged == merged.sorted(), "entries stay sorted")

    try tool(
      "ldd-allowlist-check",
      [
        "--label", "//t:t", "--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json",
        "--manifest", "rt.json", "--allowlist", Repo.root + "/gn_templates/default_allowlist.txt", "--output",
        "check.txt", "--host-needs", "needs.json", "--depfile", "check.txt.d",
      ])
    #expect(depfileTarget("check.txt.d") == "check.txt")
    #expect(readText(dir + "/check.txt").hasPrefix("checked "))
    let needs = try AllowlistCheck.HostNeeds.read(dir + "/needs.json")
    let glibc = try #require(needs.glibc)
    #expect(needs.loaders == ["python/bin/python3.11": "/lib64/ld-linux-x86-64.so.2"])
    #expect(readText(dir + "/check.txt").contains("host glibc: GLIBC_\(glibc.version) in \(glibc.library) (needed by "))

    let fuse = [
      "--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json", "--pyz", "t.pyz",
      "--main", "test/t.pyz", "--shared-runtime", "--env", "DATA=data", "--host-needs", "needs.json",
    ]
    try tool(
      "fuse-stub",
      fuse + [
        "--after", "check.txt", "--output", "bundle", "--size-report", "size.json", "--size-table", "size.txt",
        "--depfile", "bundle.d",
      ])
    #expect(depfileTarget("bundle.d") == "bundle")
    #expect(readText(dir + "/bundle.d").contains("t.pyz"))
    #expect(readText(dir + "/bundle.d").contains("needs.json"))
    // The config the stem reads says what the check found.
    let listing = try run(dir + "/bundle", [], environment: environment(["LACEWING_LIST": "1"]))
    #expect(
      listing.status == 0
        && listing.stdout.contains(
          "loader /lib64/ld-linux-x86-64.so.2\nglibc \(glibc.version)\nglibc_library \(glibc.library)\n"),
      "\(listing.output)")
    #expect(
      readText(dir + "/size.txt").contains(
        "\nneeds glibc \(glibc.version) or newer (GLIBC_\(glibc.version) in \(glibc.library)) and the loader "
          + "/lib64/ld-linux-x86-64.so.2\n"), "\(readText(dir + "/size.txt"))")
    let r = try run(dir + "/bundle", ["7"], environment: environment(["LACEWING_CACHE_DIR": dir + "/cache"]))
    #expect(r.status == 7, "\(r.stderr)")
    // The runtime and the test each get a cache entry.
    let entries = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache").sorted()
    #expect(entries.count == 2 && entries[1].hasPrefix(BundleLayout.runtimeCacheKeyPrefix), "\(entries)")
    let report = readText(dir + "/size.txt")
    #expect(report.hasPrefix("bundle: \(try readFile(dir + "/bundle").count) bytes"), "\(report)")
    for category in ["stem", "interpreter", "stdlib", "lib-dynload", "shared libraries", "test code", "data"] {
      #expect(report.contains("\n" + category + " "), "\(category) missing from\n\(report)")
    }
    #expect(readText(dir + "/size.json").contains("\"total_bytes\""))

    // Running a tool again on the same inputs leaves its output untouched.
    try FileManager.default.setAttributes(
      [.modificationDate: Date(timeIntervalSince1970: 1)], ofItemAtPath: dir + "/bundle")
    try tool("fuse-stub", fuse + ["--output", "bundle"])
    let mtime = try FileManager.default.attributesOfItem(atPath: dir + "/bundle")[.modificationDate] as? Date
    #expect(mtime == Date(timeIntervalSince1970: 1))
  }
}
