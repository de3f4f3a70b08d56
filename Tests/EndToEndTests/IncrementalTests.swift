import Foundation
import LacewingTestSupport
import Testing

extension E2E {
  /// The incremental-correctness matrix: each kind of edit reruns exactly the
  /// actions that depend on it (restat pruning the rest), then the build is
  /// clean. Every edit is undone afterwards, which must rebuild the same way.
  @Suite struct IncrementalTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
    }

    static let rtc = "//testdata/rtc_test:rtc_test"
    static let probe = "//testdata/stem_probe:stem_probe"
    static let suite = "//testdata/suite:e2e_suite"
    static let runtimeBundle = "//testdata/suite:lacewing_python"
    static let all = E2EBuild.bundles
    /// What an edit of rtc_test's code reruns: its .pyz, and the two bundles
    /// that carry it (the test joins last, at fuse time).
    static let pyzChain: Set = [rtc + "_pyz", rtc, suite]
    /// What an edit of rtc_test's extension or data reruns: every bundle
    /// carrying them merges its own layer again, is checked and fused.
    static let payloadChain = Set(
      [rtc, suite, runtimeBundle].flatMap { [$0 + "_embed_collect", $0 + "_embed_archive", $0 + "_check", $0] })

    /// Applies `edit`, checks the actions a build runs, checks the next build
    /// has nothing to do, then restores the file and builds again.
    func expectRebuild(
      _ file: String, _ expected: Set<String>, targets: [String] = [], edit: (String) -> String
    ) throws {
      _ = try build.ninja(targets)
      let original = readText(file)
      try writeText(edit(original), to: file)
      try bumpMtime(file)
      defer {
        try? writeText(original, to: file)
        try? bumpMtime(file)
        _ = try? build.ninja(targets)
      }
      let r = try build.ninja(targets)
      #expect(r.status == 0, "\(r.output)")
      #expect(E2EBuild.actions(r) == expected, "editing \(file)")
      let again = try build.ninja(targets)
      #expect(again.stdout.contains("ninja: no work to do."), "after editing \(file): \(again.stdout)")
    }

    func appendLine(_ line: String) -> (String) -> String { { $0 + line + "\n" } }

    @Test func theTestsMainSource() throws {
      try expectRebuild(build.src + "/testdata/rtc_test/rtc_test.py", Self.pyzChain, edit: appendLine("# edit"))
    }

    @Test func aHelperModule() throws {
      try expectRebuild(build.src + "/testdata/rtc_test/rtc_helpers.py", Self.pyzChain, edit: appendLine("# edit"))
    }

    @Test func aLibraryModule() throws {
      try expectRebuild(build.src + "/testdata/lacewing_utils/fidl_ir.py", Self.pyzChain, edit: appendLine("# edit"))
    }

    @Test func theCExtensionSource() throws {
      try expectRebuild(
        build.src + "/testdata/fuchsia_controller/fidl_codec.c", Self.payloadChain,
        edit: appendLine("static const char lacewing_edit[] __attribute__((used)) = \"edit\";"))
    }

    @Test func aDataFile() throws {
      // The multi-test bundle learns its data from a list, so only its
      // merge reads the file; the others declare it to collect as well.
      try expectRebuild(
        build.src + "/testdata/fidl_ir/fuchsia.io.fidl.json",
        Self.payloadChain.subtracting([Self.suite + "_embed_collect"]),
        edit: { $0 + " " })
    }

    /// FIDL IR a bundle reaches through metadata (fidl_ir targets, two
    /// levels below the test): only the merge reads the file, through its
    /// depfile; the list naming it stays the same.
    @Test(.enabled(if: WheelCache.reachable, "PyPI is unreachable: no Mobly wheel to bundle"))
    func aFidlIRFileReachedThroughDeps() throws {
      _ = try WheelCache.require()
      let mobly = "//testdata/mobly_rtc_test:mobly_rtc_test"
      try expectRebuild(
        build.src + "/testdata/fidl_ir/fuchsia.hardware.rtc.fidl.json",
        [mobly + "_embed_archive", mobly + "_check", mobly], targets: ["testdata/mobly_rtc_test"],
        edit: { $0 + " " })
    }

    @Test func theAllowlist() throws {
      // The runtime (collect and its own check) and every bundle (collect
      // and check) read it; their outputs do not change.
      let bundles: [String] = Self.all.flatMap { [$0 + "_embed_collect", $0 + "_check"] }
      try expectRebuild(
        build.src + "/gn_templates/default_allowlist.txt",
        Set([E2EBuild.runtime + "_collect", E2EBuild.runtime + "_check"] + bundles),
        edit: appendLine("# a comment changes no decision"))
    }

    @Test func aToolBinary() throws {
      _ = try build.ninja()
      try bumpMtime(build.tools + "/collect-artifacts")
      let r = try build.ninja()
      let expected = Set([E2EBuild.runtime + "_collect"] + Self.all.map { $0 + "_embed_collect" })
      #expect(E2EBuild.actions(r) == expected, "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func theStem() throws {
      _ = try build.ninja()
      try bumpMtime(build.tools + "/lacewing-stem")
      let r = try build.ninja()
      let expected = Set(Self.all.flatMap { [$0 + "_check", $0] })
      #expect(E2EBuild.actions(r) == expected, "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func aGNArg() throws {
      _ = try build.ninja()
      defer {
        _ = try? run("gn", ["gen", build.out, "--root=" + build.src, "--args=" + build.args])
        _ = try? build.ninja()
      }
      let gen = try run(
        "gn",
        [
          "gen", build.out, "--root=" + build.src,
          "--args="
            + build.args.replacingOccurrences(
              of: "lacewing_runtime_pack_level=3", with: "lacewing_runtime_pack_level=4"),
        ])
      #expect(gen.status == 0, "\(gen.output)")
      let r = try build.ninja()
      // The runtime is packed again at the new zstd level and checked once
      // (its record names the new pack), so every bundle is merged and
      // checked again; the actions with the runtime as a GN dep (the pyz
      // compilers, the collects) rerun and change nothing.
      let everyBundle: [String] = Self.all.flatMap {
        [$0 + "_embed_collect", $0 + "_embed_archive", $0 + "_check", $0]
      }
      let pyzs = [Self.rtc + "_pyz", Self.probe + "_pyz"]
      let expected = Set([E2EBuild.runtime + "_archive", E2EBuild.runtime + "_check"] + pyzs + everyBundle)
      #expect(E2EBuild.actions(r) == expected, "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }
  }
}
