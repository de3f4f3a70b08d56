import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// Why a test of pyenv's CPython `version` is skipped: fresh CI machines
/// have no pyenv builds.
private func pyenvMissing(_ version: String) -> Comment {
  "no pyenv build of CPython \(version) on this machine ($PYENV_ROOT/versions/\(version).*, PYENV_ROOT defaulting to ~/.pyenv)"
}

extension E2E {
  /// CPythons other than Debian's python3.11, each bundled by a build of its
  /// own whose only runtime argument is `lacewing_python` (no library dir,
  /// no include dir): a shared-libpython interpreter made here, and pyenv's
  /// builds where the machine has them. Their bundles run in the root that
  /// has no Python, with libpython from the bundle.
  @Suite struct OtherRuntimeTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
    }

    /// Builds stem_probe, rtc_test (its C extension against `python`'s own
    /// headers) and the runtime-only bundle on `python`, runs them in the
    /// Python-less root, and returns the runtime manifest's entries.
    @discardableResult
    func buildAndRun(python: String, version: String) throws -> [BundleManifest.Entry] {
      let name = "python" + version
      let out = build.dir + "/out-" + name
      let args =
        "lacewing_tools_dir=\"\(build.tools)\" lacewing_python=\"\(python)\" lacewing_compression_level=1 "
        + "lacewing_wheel_dir=\"\(Repo.root)/out/wheels\""
      let gen = try run("gn", ["gen", out, "--root=" + build.src, "--args=" + args])
      try #require(gen.status == 0, "\(gen.output)")
      let started = Date()
      let ninja = try run(
        "ninja", ["-C", out, "testdata/stem_probe", "testdata/rtc_test", "testdata/suite:lacewing_python"])
      try #require(ninja.status == 0, "\(ninja.output.suffix(3000))")
      print(
        "\(name): built the runtime and three bundles in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
      )

      // The interpreter's libpython comes from the bundle, and it is the
      // one next to that interpreter.
      let libpython = "lib\(name).so.1.0"
      let stamp = readText(out + "/gen/testdata/stem_probe/stem_probe.hermeticity.txt")
      #expect(stamp.contains("python/bin/\(name): \(libpython) => python/lib/\(libpython)\n"), "\(stamp.prefix(1500))")
      let runtime = try BundleManifest.read(out + "/gen/gn_templates/runtime.manifest.json")
      let entry = runtime.entries.first { $0.path == "python/lib/" + libpython }
      let prefix = resolvedPath(((python as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent)
      #expect(
        entry.map { resolvedPath($0.source ?? "") } == prefix + "/lib/" + libpython, "\(String(describing: entry))")
      #expect(entry?.runpath == "$ORIGIN")
      #expect(runtime.entries.first { $0.path == "python/bin/" + name }?.runpath == "$ORIGIN/../lib")

      let root = try PythonlessRoot(bundles: [
        "rtc_test": out + "/rtc_test", "stem_probe": out + "/stem_probe", "lacewing_python": out + "/lacewing_python",
      ])
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      #expect(!FileManager.default.fileExists(atPath: root.path + "/lib/x86_64-linux-gnu/" + libpython))
      let env = ["LACEWING_CACHE_DIR": "/cache", "HOME": "/nonexistent"]
      let pass = try root.run("rtc_test", [], env: env)
      #expect(pass.status == 0 && pass.stderr.contains("\nOK"), "\(pass.output.suffix(3000))")
      let fail = try root.run("rtc_test", ["--force-failure"], env: env)
      #expect(fail.status == 1 && fail.stderr.contains("FAILED"), "\(fail.output.suffix(3000))")
      let probe = try root.run("stem_probe", ["exit", "7"], env: env)
      #expect(probe.status == 7, "\(probe.output)")
      let code = "import sys, fidl_codec; print('%d.%d' % sys.version_info[:2], sys.flags.isolated)"
      let info = try root.run("lacewing_python", ["-c", code], env: env)
      #expect(info.status == 0, "\(info.output)")
      // A ._pth file isolates the interpreter only from 3.11 on (before,
      // POSIX builds ignore it): see docs/design.md.
      let minor = Int(version.split(separator: ".")[1]) ?? 0
      #expect(info.stdout == "\(version) \(minor >= 11 ? 1 : 0)\n", "\(info.output)")

      // Every version: the test's children import its modules, and a module
      // on the caller's PYTHONPATH does not shadow the bundle's (before
      // 3.11 the runtime's sitecustomize reads the launcher's ._pth).
      try writeText("raise SystemExit('the shadow json ran')\n", to: root.path + "/shadow/json/__init__.py")
      let children = try root.run(
        "stem_probe", ["children", "json", "stem_probe"], env: env.merging(["PYTHONPATH": "/shadow"]) { $1 })
      #expect(
        childStatuses(children) == ["-c import json": 0, "-c import stem_probe": 0, "-m stem_probe": 7],
        "\(children.output)")

      // The libpython it ran with is the bundle's.
      let cache = root.path + "/cache"
      let runtimeEntry = try FileManager.default.contentsOfDirectory(atPath: cache).filter {
        $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix)
      }
      #expect(runtimeEntry.count == 1, "\(runtimeEntry)")
      #expect(FileManager.default.fileExists(atPath: "\(cache)/\(runtimeEntry.first ?? "")/python/lib/\(libpython)"))
      return runtime.entries
    }

    /// CPython 3.11 linked against libpython3.11.so (Debian's
    /// libpython3.11-dev), laid out as a prefix with its own copy of the
    /// library: the copy bundled is the prefix's, which its interpreter's
    /// RUNPATH names, not Debian's of the same name in the multiarch dir.
    @Test func aSharedLibpythonInterpreterIsBundledWithItsOwnLibpython() throws {
      let prefix = build.dir + "/shared-python311"
      try? FileManager.default.removeItem(atPath: prefix)
      let python = try TestRuntimes.makeSharedPython311(at: prefix)
      try buildAndRun(python: python, version: "3.11")
    }

    @Test(.enabled(if: TestRuntimes.pyenv("3.12") != nil, pyenvMissing("3.12")))
    func pyenvCPython312() throws {
      try buildAndRun(python: try #require(TestRuntimes.pyenv("3.12")), version: "3.12")
    }

    @Test(.enabled(if: TestRuntimes.pyenv("3.13") != nil, pyenvMissing("3.13")))
    func pyenvCPython313() throws {
      try buildAndRun(python: try #require(TestRuntimes.pyenv("3.13")), version: "3.13")
    }

    /// Builds and runs, sys.path the bundle's; only partly hermetic
    /// (docs/design.md: PYTHONHOME and startup's own imports).
    @Test(.enabled(if: TestRuntimes.pyenv("3.10") != nil, pyenvMissing("3.10")))
    func pyenvCPython310() throws {
      try buildAndRun(python: try #require(TestRuntimes.pyenv("3.10")), version: "3.10")
    }

    /// As for 3.10.
    @Test(.enabled(if: TestRuntimes.pyenv("3.9") != nil, pyenvMissing("3.9")))
    func pyenvCPython39() throws {
      try buildAndRun(python: try #require(TestRuntimes.pyenv("3.9")), version: "3.9")
    }
  }
}
