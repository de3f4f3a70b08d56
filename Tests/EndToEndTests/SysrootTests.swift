import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// The sysroot the portable-bundle tests build against and the CPython
/// built in it, from the repo's own scripts (build/sysroot.sh,
/// build/portable-python.sh): made the first time, found cached per
/// machine after (build/test.sh makes them before the tests, so their
/// progress shows).
enum TestSysroot {
  static let made: Result<(sysroot: String, python: String), TestSetupError> = {
    do {
      return .success((try lastLine(of: "sysroot.sh"), try lastLine(of: "portable-python.sh")))
    } catch let error as TestSetupError {
      return .failure(error)
    } catch {
      return .failure(TestSetupError("\(error)"))
    }
  }()

  static var path: String { get throws { try made.get().sysroot } }
  static var python: String { get throws { try made.get().python } }

  /// The last line a script printed on stdout: the path it made or found.
  static func lastLine(of script: String) throws -> String {
    let r = try run(Repo.root + "/build/" + script)
    guard r.status == 0, let line = r.stdout.split(separator: "\n").last else {
      throw TestSetupError("build/\(script) failed:\n\(r.output.suffix(3000))")
    }
    return String(line)
  }

  /// Every GLIBC_ version `file`'s dynamic symbols need, as objdump -T
  /// prints them.
  static func glibcVersions(_ file: String) throws -> [GlibcVersion] {
    let r = try run("objdump", ["-T", file])
    guard r.status == 0 else { throw TestSetupError("objdump -T \(file): \(r.stderr)") }
    var versions: [GlibcVersion] = []
    for word in r.stdout.split(whereSeparator: { " \t\n()".contains($0) }) where word.hasPrefix("GLIBC_") {
      if let v = GlibcVersion(symbolVersion: String(word)) { versions.append(v) }
    }
    return versions
  }
}

extension E2E {
  /// Portable bundles: with lacewing_sysroot, what the toolchain compiles
  /// is built against the sysroot's glibc and every bundle is held to it.
  /// A real `gn gen` + `ninja` of the repo, rooted at the checkout, with the
  /// release tools (no shared E2E build).
  @Suite struct SysrootTests {
    static let floor = GlibcVersion(symbolVersion: "GLIBC_2.31")!

    @Test func everythingTheToolchainBuildsIsHeldToTheSysrootsGlibc() throws {
      let sysroot = try TestSysroot.path
      let dir = try makeTemporaryDirectory("sysroot")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let tools = (try Repo.tool("make-archive") as NSString).deletingLastPathComponent
      let common =
        "lacewing_tools_dir=\"\(tools)\" lacewing_compression_level=1 lacewing_runtime_pack_level=3 "
        + "lacewing_wheel_dir=\"\(Repo.root)/out/wheels\""
      func gen(_ out: String, _ args: String) throws {
        let r = try run("gn", ["gen", out, "--root=" + Repo.root, "--args=" + common + " " + args])
        try #require(r.status == 0, "\(r.output)")
      }
      let out = dir + "/out"
      try gen(out, "lacewing_sysroot=\"\(sysroot)\" lacewing_python=\"\(try TestSysroot.python)\"")

      // C extensions and GN shared libraries are compiled and linked
      // against the sysroot: no symbol version above its glibc. The
      // control library needs GLIBC_2.33 (stat) when built against this
      // host, as a build without the sysroot shows.
      let libraries = ["fidl_codec.so", "libfuchsia_controller_internal.so", "libmoved_symbols.so"]
      let built = try run("ninja", ["-C", out, "testdata/fuchsia_controller:fidl_codec", "moved_symbols"])
      try #require(built.status == 0, "\(built.output.suffix(3000))")
      for library in libraries {
        let versions = try TestSysroot.glibcVersions(out + "/" + library)
        #expect(versions.allSatisfy { !(Self.floor < $0) }, "\(library): \(versions)")
      }
      let hostOut = dir + "/out-host"
      try gen(hostOut, "")
      let hostBuilt = try run("ninja", ["-C", hostOut, "moved_symbols"])
      try #require(hostBuilt.status == 0, "\(hostBuilt.output.suffix(3000))")
      #expect(
        try TestSysroot.glibcVersions(hostOut + "/libmoved_symbols.so").contains {
          $0 == GlibcVersion(symbolVersion: "GLIBC_2.33")
        })

      // An extension built without the sysroot fails its bundle's check,
      // named with the version it needs.
      let negative = try run("ninja", ["-C", out, "testdata/negative:newer_glibc_bundle"])
      #expect(negative.status != 0)
      #expect(
        negative.output.contains(
          "//testdata/negative:newer_glibc_bundle: ext/newer_glibc_ext.so needs GLIBC_2.36, above the glibc floor "
            + "GLIBC_2.31"), "\(negative.output.suffix(3000))")
      #expect(!FileManager.default.fileExists(atPath: out + "/newer_glibc_bundle"))

      // The runtime is held to the floor too, and a bundle's stamp says
      // which floor it was checked against.
      let stampPath = out + "/gen/testdata/rtc_test/rtc_test.hermeticity.txt"
      let bundle = try run("ninja", ["-C", out, "testdata/rtc_test"])
      try #require(bundle.status == 0, "\(bundle.output.suffix(3000))")
      let stamp = readText(stampPath)
      #expect(stamp.contains("\nglibc floor: GLIBC_2.31\n"), "\(stamp.prefix(1500))")
      let highest = stamp.split(separator: "\n").first { $0.hasPrefix("highest symbol version: GLIBC_") }
      let version = highest.flatMap { GlibcVersion(symbolVersion: String($0.split(separator: " ")[3])) }
      #expect(version.map { !(Self.floor < $0) } == true, "\(highest ?? "")")
    }
  }
}
