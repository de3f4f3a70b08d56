import Foundation
import LacewingTestSupport
import Testing

extension E2E {
  /// Two checkouts at different absolute paths, each building everything
  /// itself: its Swift tools and stem (build/build-tools.sh), then its GN +
  /// Ninja build with those tools, at different times, with and without
  /// SOURCE_DATE_EPOCH. Tools, stem, .pyz, payload, bundle and shared
  /// libraries are byte-identical, and none of them records either path: a
  /// build cache shared across machines needs the tools (inputs of every
  /// action) to be the same bytes as much as the outputs.
  ///
  /// The first checkout is the repo under test with its own release tools
  /// (`Repo.toolsDir`); the second is a fresh clone of it (or a copy of its
  /// sources when it is not a git checkout of its own) that gets its own
  /// release build. A few minutes on a busy machine; nothing is timed.
  @Suite struct ReproducibilityTests {
    static let tools = [
      "collect-artifacts", "make-archive", "fuse-stub", "ldd-allowlist-check", "lacewing-stem", "lacewing-run-tests",
    ]
    static let outputs = [
      "rtc_test.pyz",
      "obj/testdata/rtc_test/rtc_test_embed.payload.zip",
      "rtc_test",
      "fidl_codec.so",
      "libfuchsia_controller_internal.so",
    ]
    /// The same build dir name in both checkouts, inside each.
    static let outDir = "out/reproducibility-test"

    @Test func twoCheckoutsBuildTheSameBytes() throws {
      let dir = try makeTemporaryDirectory("repro")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let a = Repo.root
      let b = dir + "/second/checkout/elsewhere"
      // Every spelling of either checkout that an output could record.
      let paths = Set([a, resolvedPath(a), b, resolvedPath(b), dir, resolvedPath(dir)])
      func expectNoPath(_ bytes: Data, _ what: String) {
        for path in paths {
          #expect(bytes.range(of: Data(path.utf8)) == nil, "\(what) records the path \(path)")
        }
      }

      // The second checkout and its own release build of the tools and stem.
      try makeSecondCheckout(at: b, scratch: dir)
      let built = try run(
        b + "/build/build-tools.sh", [], environment: environment(["SOURCE_DATE_EPOCH": "1700000000"]), directory: b)
      try #require(built.status == 0, "build/build-tools.sh in the second checkout failed:\n\(built.output)")
      for tool in Self.tools {
        let first = try readFile(try Repo.tool(tool))
        let second = try readFile(b + "/.build/release/" + tool)
        #expect(
          first == second,
          "\(tool) differs between \(Repo.toolsDir) and the second checkout's build (both built by build/build-tools.sh?)"
        )
        expectNoPath(first, "\(Repo.toolsDir)/\(tool)")
        expectNoPath(second, "the second checkout's \(tool)")
      }

      // Each checkout's GN + Ninja build, with its own tools.
      defer { try? FileManager.default.removeItem(atPath: a + "/" + Self.outDir) }
      let outA = try gnBuild(root: a, tools: Repo.toolsDir, env: ["SOURCE_DATE_EPOCH": nil])
      let outB = try gnBuild(root: b, tools: b + "/.build/release", env: ["SOURCE_DATE_EPOCH": "1700000000"])
      for file in Self.outputs {
        let bytesA = try readFile(outA + "/" + file)
        let bytesB = try readFile(outB + "/" + file)
        #expect(bytesA == bytesB, "\(file) differs between checkouts")
        expectNoPath(bytesA, "\(file) of the first checkout")
        expectNoPath(bytesB, "\(file) of the second checkout")
      }
    }

    /// A git clone of the repo under test when it is a git checkout of its
    /// own (not vendored in another repo), with its uncommitted changes to
    /// tracked files applied, so a developer's edits are in both checkouts;
    /// else a copy of its sources. Either way with the same dependency pins.
    func makeSecondCheckout(at path: String, scratch: String) throws {
      let fm = FileManager.default
      try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      let top = try run("git", ["-C", Repo.root, "rev-parse", "--show-toplevel"])
      if top.status == 0,
        resolvedPath(top.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == resolvedPath(Repo.root)
      {
        try check(try run("git", ["clone", "--quiet", Repo.root, path]), "git clone")
        let patch = scratch + "/uncommitted.patch"
        try check(try run("git", ["-C", Repo.root, "diff", "--binary", "--output=" + patch, "HEAD"]), "git diff")
        if let size = try fm.attributesOfItem(atPath: patch)[.size] as? Int, size > 0 {
          try check(try run("git", ["-C", path, "apply", "--binary", patch]), "git apply of the uncommitted changes")
        }
      } else {
        try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
        let skip: Set<String> = [".git", ".swiftpm", "out"]
        for item in try fm.contentsOfDirectory(atPath: Repo.root)
        where !skip.contains(item) && !item.hasPrefix(".build") {
          try fm.copyItem(atPath: Repo.root + "/" + item, toPath: path + "/" + item)
        }
      }
      // The same version of swift-argument-parser as the first checkout.
      if fm.fileExists(atPath: Repo.root + "/Package.resolved"), !fm.fileExists(atPath: path + "/Package.resolved") {
        try fm.copyItem(atPath: Repo.root + "/Package.resolved", toPath: path + "/Package.resolved")
      }
    }

    /// `gn gen` + `ninja rtc_test` in `<root>/out/reproducibility-test`, fresh.
    func gnBuild(root: String, tools: String, env: [String: String?]) throws -> String {
      let out = root + "/" + Self.outDir
      try? FileManager.default.removeItem(atPath: out)
      let gen = try run("gn", ["gen", out, "--root=" + root, "--args=lacewing_tools_dir=\"\(tools)\""])
      try check(gen, "gn gen in \(root)")
      let r = try run("ninja", ["-C", out, "testdata/rtc_test"], environment: environment(env))
      try check(r, "ninja in \(root)")
      return out
    }

    func check(_ r: ProcessResult, _ what: String) throws {
      guard r.status == 0 else { throw TestSetupError("\(what) failed (exit \(r.status)):\n\(r.output)") }
    }
  }
}

private func readFile(_ path: String) throws -> Data {
  try Data(contentsOf: URL(fileURLWithPath: path))
}
