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
    /// What a change to the rtc_test's own .pyz reruns.
    static let pyzChain: Set = [rtc + "_pyz", rtc + "_embed_collect", rtc + "_embed_archive", rtc + "_check", rtc]
    static let payloadChain: Set = [rtc + "_embed_collect", rtc + "_embed_archive", rtc + "_check", rtc]

    /// Applies `edit`, checks the actions a build runs, checks the next build
    /// has nothing to do, then restores the file and builds again.
    func expectRebuild(_ file: String, _ expected: Set<String>, edit: (String) -> String) throws {
      _ = try build.ninja()
      let original = readText(file)
      try writeText(edit(original), to: file)
      try bumpMtime(file)
      defer {
        try? writeText(original, to: file)
        try? bumpMtime(file)
        _ = try? build.ninja()
      }
      let r = try build.ninja()
      #expect(r.status == 0, "\(r.output)")
      #expect(E2EBuild.actions(r) == expected, "editing \(file)")
      let again = try build.ninja()
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
      try expectRebuild(build.src + "/testdata/fidl_ir/fuchsia.io.fidl.json", Self.payloadChain, edit: { $0 + " " })
    }

    @Test func theAllowlist() throws {
      // Both bundles collect and check against it; their outputs do not change.
      try expectRebuild(
        build.src + "/gn_templates/default_allowlist.txt",
        [Self.rtc + "_embed_collect", Self.rtc + "_check", Self.probe + "_embed_collect", Self.probe + "_check"],
        edit: appendLine("# a comment changes no decision"))
    }

    @Test func aToolBinary() throws {
      _ = try build.ninja()
      try bumpMtime(build.tools + "/collect-artifacts")
      let r = try build.ninja()
      #expect(E2EBuild.actions(r) == [Self.rtc + "_embed_collect", Self.probe + "_embed_collect"], "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func theStem() throws {
      _ = try build.ninja()
      try bumpMtime(build.tools + "/lacewing-stem")
      let r = try build.ninja()
      #expect(E2EBuild.actions(r) == [Self.rtc + "_check", Self.rtc, Self.probe + "_check", Self.probe], "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }

    @Test func aGNArg() throws {
      _ = try build.ninja()
      defer {
        _ = try? run("gn", ["gen", build.out, "--root=" + build.src, "--args=" + build.args])
        _ = try? build.ninja()
      }
      let gen = try run("gn", ["gen", build.out, "--root=" + build.src, "--args=" + build.args.replacingOccurrences(of: "lacewing_compression_level=1", with: "lacewing_compression_level=6")])
      #expect(gen.status == 0, "\(gen.output)")
      let r = try build.ninja()
      #expect(
        E2EBuild.actions(r) == [
          Self.rtc + "_embed_archive", Self.rtc + "_check", Self.rtc, Self.probe + "_embed_archive", Self.probe + "_check",
          Self.probe,
        ], "\(r.stdout)")
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
    }
  }
}
