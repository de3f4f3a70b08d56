import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// The pinned wheels, fetched from PyPI by the repo's own script (once per
/// test run; `build/test.sh` has usually fetched them already). When PyPI
/// cannot be reached, the tests that need wheels are skipped and say so.
enum WheelCache {
  static let dir = Repo.root + "/out/wheels"

  static let fetched: Result<String, TestSetupError> = {
    guard
      let r = try? run(
        "/usr/bin/python3.11", [Repo.root + "/build/fetch_wheels.py", "--dest", dir], directory: Repo.root)
    else { return .failure(TestSetupError("cannot run build/fetch_wheels.py")) }
    if r.status == 3 { return .failure(TestSetupError("PyPI is unreachable: the wheel tests did not run")) }
    guard r.status == 0 else { return .failure(TestSetupError("fetching the pinned wheels failed:\n\(r.output)")) }
    return .success(dir)
  }()

  /// Skips, with the reason printed, only when PyPI is unreachable; any
  /// other fetch failure fails the test.
  static var reachable: Bool {
    if case .failure(let e) = fetched, e.description.hasPrefix("PyPI is unreachable") { return false }
    return true
  }

  static func require() throws -> String { try fetched.get() }
}

extension E2E {
  /// Third-party packages from wheels, native code and vendored libraries
  /// included, built by real GN/Ninja and run where there is no Python.
  @Suite(.enabled(if: WheelCache.reachable, "PyPI is unreachable: no wheels to bundle"))
  struct WheelTests {
    let build: E2EBuild

    init() throws {
      _ = try WheelCache.require()
      build = try E2EBuild.get()
    }

    var bundle: String { build.out + "/numpy_test" }

    @Test func numpyWithItsVendoredBlasRunsWhereThereIsNoPython() throws {
      let r = try build.ninja(["testdata/numpy_test"])
      #expect(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: ["numpy_test": bundle])
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      let env = ["LACEWING_CACHE_DIR": "/cache"]
      let pass = try root.run("numpy_test", [], env: env)
      #expect(pass.status == 0, "\(pass.output)")
      struct Result: Decodable {
        var solve: [Double]
        var yaml: [String: [Int]]
        var numpy: String
        var yamlC: Bool
        var portpicker: String
      }
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      let result = try decoder.decode(Result.self, from: Data(pass.stdout.utf8))
      #expect(result.solve == [2.0, 3.0] && result.yaml == ["answer": [2, 3]] && result.yamlC)
      // Native wheels are installed in the test layer's site/, pure ones ride in the pyz.
      #expect(result.numpy.contains("/site/numpy/"), "\(result.numpy)")
      #expect(result.portpicker.contains("numpy_test.pyz/portpicker"), "\(result.portpicker)")
      let fail = try root.run("numpy_test", ["--force-failure"], env: env)
      #expect(fail.status == 1, "\(fail.output)")

      // The check saw numpy's vendored libraries and resolved them in the bundle.
      let stamp = readText(build.out + "/gen/testdata/numpy_test/numpy_test.hermeticity.txt")
      #expect(stamp.contains("=> site/numpy.libs/libopenblas64_p-r0-"), "\(stamp.prefix(2000))")
      #expect(stamp.contains("=> site/numpy.libs/libgfortran-"), "\(stamp.prefix(2000))")
      // OpenBLAS finds libgfortran through the RPATH of the numpy extension
      // that loads it, as ld.so does; the check models that chain.
      #expect(
        stamp.contains(
          "libopenblas64_p-r0-0cf96a72.3.23.dev.so: libgfortran-040039e1.so.5.0.0 => site/numpy.libs/libgfortran-040039e1.so.5.0.0 (RPATH of site/numpy/"
        ), "\(stamp.prefix(3000))")
      // libgcc_s, which manylinux lets wheels take from the host, is bundled
      // (it is not on the allowlist) and reached through an RPATH we append.
      #expect(
        stamp.contains(
          "site/numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so: libgcc_s.so.1 => lib/libgcc_s.so.1"))
      let size = readText(bundle + ".size.txt")
      #expect(size.contains("\nthird-party packages "), "\(size)")
    }

    @Test func aMoblyTestRunsWhereThereIsNoPython() throws {
      let r = try build.ninja(["testdata/mobly_rtc_test"])
      #expect(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: ["mobly_rtc_test": build.out + "/mobly_rtc_test"])
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      let env = ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"]
      // Mobly's own summary, and its exit status.
      let pass = try root.run("mobly_rtc_test", [], env: env)
      #expect(pass.status == 0, "\(pass.output.suffix(3000))")
      #expect(pass.output.contains("Error 0, Executed 5, Failed 0, Passed 5"), "\(pass.output.suffix(3000))")
      let fail = try root.run("mobly_rtc_test", ["--force-failure"], env: env)
      #expect(fail.status == 1, "\(fail.output.suffix(3000))")
      #expect(fail.output.contains("Error 0, Executed 5, Failed 1, Passed 4"), "\(fail.output.suffix(3000))")
      #expect(fail.output.contains("failure forced by --force-failure"), "\(fail.output.suffix(3000))")
      // Mobly and portpicker are pure (in the pyz); PyYAML and psutil are
      // native, installed in site/ with their extension modules.
      let entries = try E2E.TemplateParameterTests.entries(build.out + "/mobly_rtc_test").keys
      let site = entries.filter { $0.hasPrefix("site/") }.sorted()
      #expect(site.contains { $0.hasPrefix("site/psutil/_psutil_linux.") && $0.hasSuffix(".so") }, "\(site)")
      #expect(site.contains { $0.hasPrefix("site/yaml/_yaml.") && $0.hasSuffix(".so") }, "\(site)")
      let names = try ZipContents.read(build.out + "/mobly_rtc_test.pyz").map(\.name)
      #expect(names.contains("mobly/base_test.pyc") && names.contains("portpicker.pyc"), "\(names.prefix(40))")
      #expect(!names.contains { $0.hasPrefix("yaml/") || $0.hasPrefix("psutil/") })

      // Unbundled, as documented: the native wheels installed in a venv, the
      // C extension on PYTHONPATH, the FIDL IR in the build's fidl_ir/.
      let venv = build.dir + "/mobly-venv"
      try? FileManager.default.removeItem(atPath: venv)
      #expect(try run("/usr/bin/python3.11", ["-m", "venv", venv]).status == 0)
      let wheels = try WheelCache.require()
      let native = try FileManager.default.contentsOfDirectory(atPath: wheels)
        .filter { $0.hasPrefix("pyyaml-") || $0.hasPrefix("psutil-") }.map { wheels + "/" + $0 }
      let install = try run(venv + "/bin/pip", ["install", "-q", "--no-index", "--no-deps"] + native)
      #expect(install.status == 0, "\(install.output)")
      let unbundled = try run(
        venv + "/bin/python", [build.out + "/mobly_rtc_test.pyz"],
        environment: environment(["PYTHONPATH": build.out, "FIDL_IR_PATH": build.out + "/fidl_ir"]))
      #expect(
        unbundled.status == 0 && unbundled.output.contains("Failed 0, Passed 5"), "\(unbundled.output.suffix(2000))")
    }

    /// A child started with sys.executable imports the test's native wheels
    /// (PyYAML, from site/), pure ones (portpicker, in the .pyz) and the
    /// test's own modules, in both extraction modes, alone and in a
    /// multi-test bundle, with no environment variable set for it.
    @Test func childrenImportTheTestsWheels() throws {
      let r = try build.ninja(["testdata/stem_probe:wheel_probe", "testdata/suite:wheel_suite"])
      #expect(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: [
        "wheel_probe": build.out + "/wheel_probe", "wheel_suite": build.out + "/wheel_suite",
      ])
      defer { root.remove() }
      let expected = [
        "-c import yaml": 0, "-c import _yaml": 0, "-c import portpicker": 0, "-c import psutil": 0,
        "-c import stem_probe": 0, "-m stem_probe": 7,
      ]
      let modules = ["yaml", "_yaml", "portpicker", "psutil", "stem_probe"]
      for mode in ["cache", "temp"] {
        let env = ["LACEWING_CACHE_DIR": "/cache", "LACEWING_EXTRACT": mode, "TMPDIR": "/tmp"]
        let single = try root.run("wheel_probe", ["children"] + modules, env: env)
        #expect(childStatuses(single) == expected, "\(mode): \(single.output)")
        let multi = try root.run("wheel_suite", ["wheel_probe", "children"] + modules, env: env)
        #expect(childStatuses(multi) == expected, "\(mode): \(multi.output)")
      }
    }

    /// Mobly leaves threads behind at exit; on a host without libgcc_s that
    /// aborted the run after Mobly's summary, more often on a busy machine.
    /// With every core kept busy, every run passes.
    @Test func aMoblyTestPassesEveryTimeBesideACPUHog() throws {
      let r = try build.ninja(["testdata/mobly_rtc_test"])
      #expect(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: ["mobly_rtc_test": build.out + "/mobly_rtc_test"])
      defer { root.remove() }
      let hogs = try (0..<max(2, ProcessInfo.processInfo.activeProcessorCount)).map { _ in
        try Spawned("/bin/sh", ["-c", "while :; do :; done"], stdout: .null)
      }
      defer {
        for hog in hogs {
          hog.signal(SIGKILL)
          _ = hog.wait()
        }
      }
      for trial in 1...10 {
        let run = try root.run("mobly_rtc_test", [], env: ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"])
        #expect(run.status == 0 && run.signal == nil, "run \(trial): \(run.output.suffix(2000))")
        #expect(
          run.output.contains("Error 0, Executed 5, Failed 0, Passed 5"), "run \(trial): \(run.output.suffix(2000))")
      }
    }

    @Test func editingAWheelPinRerunsExactlyItsDependents() throws {
      #expect(try build.ninja(["testdata/numpy_test"]).status == 0)
      #expect(try build.ninja().stdout.contains("ninja: no work to do."))
      // A new pin is a new wheel file; the same bytes under a build tag
      // keep the test quick and the wheel valid.
      let original = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
      let repinned = "numpy-1.26.4-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
      let wheels = try WheelCache.require()
      try? FileManager.default.removeItem(atPath: wheels + "/" + repinned)
      try FileManager.default.copyItem(atPath: wheels + "/" + original, toPath: wheels + "/" + repinned)
      let buildFile = build.src + "/third_party/python/BUILD.gn"
      let text = readText(buildFile)
      try writeText(text.replacingOccurrences(of: original, with: repinned), to: buildFile)
      defer {
        try? writeText(text, to: buildFile)
        _ = try? build.ninja(["testdata/numpy_test"])
        try? FileManager.default.removeItem(atPath: wheels + "/" + repinned)
      }
      let r = try build.ninja(["testdata/numpy_test"])
      #expect(r.status == 0, "\(r.output.suffix(2000))")
      let t = "//testdata/numpy_test:numpy_test"
      // The pyz reads the wheel list (numpy is not pure: the pyz stays the
      // same); collect and merge read the wheel, and the manifest names the
      // new file, so the check and fuse rerun too. No other bundle does.
      #expect(
        E2EBuild.actions(r) == [t + "_pyz", t + "_embed_collect", t + "_embed_archive", t + "_check", t], "\(r.stdout)")
      #expect(try build.ninja(["testdata/numpy_test"]).stdout.contains("ninja: no work to do."))
    }

    @Test func aWheelThatIsNotThePinnedBytesFailsTheBuild() throws {
      #expect(try build.ninja(["testdata/numpy_test"]).status == 0)
      let lock = build.src + "/third_party/python/requirements.lock"
      let text = readText(lock)
      let pin = "666dbfb6ec68962c033a450943ded891bed2d54e6755e35e5835d63f4f6931d5"
      #expect(text.contains(pin), "the numpy pin moved; update this test")
      try writeText(text.replacingOccurrences(of: pin, with: String(repeating: "1", count: 64)), to: lock)
      try bumpMtime(lock)
      defer {
        try? writeText(text, to: lock)
        try? bumpMtime(lock)
        _ = try? build.ninja(["testdata/numpy_test"])
      }
      let r = try build.ninja(["testdata/numpy_test"])
      #expect(r.status != 0)
      #expect(
        r.output.contains("has sha256 \(pin), not the \(String(repeating: "1", count: 64)) pinned for numpy==1.26.4"),
        "\(r.output.suffix(2000))")
      #expect(r.output.contains("run build/fetch-wheels.sh"))
      // Restored: only the actions that read the lock rerun, and change nothing.
      try writeText(text, to: lock)
      try bumpMtime(lock)
      let again = try build.ninja(["testdata/numpy_test"])
      let t = "//testdata/numpy_test:numpy_test"
      #expect(again.status == 0 && E2EBuild.actions(again) == [t + "_pyz", t + "_embed_collect"], "\(again.stdout)")
      // Bundles without wheels never read the lock.
      #expect(!readText(build.out + "/gen/testdata/rtc_test/rtc_test_pyz.d").contains("requirements.lock"))
    }

    @Test func aWrongHashIsRefusedNamingThePackage() throws {
      let dir = try makeTemporaryDirectory("badpin")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let lock = readText(Repo.root + "/third_party/python/requirements.lock")
      let pin = "b2787a41404cf7edbe29b07b9e0ed863b09f2665dcc01c1eb0c2261c1e7d0755"
      #expect(lock.contains(pin), "the portpicker pin moved; update this test")
      try writeText(lock.replacingOccurrences(of: pin, with: String(repeating: "0", count: 64)), to: dir + "/lock")
      let r = try run(
        "/usr/bin/python3.11",
        [Repo.root + "/build/fetch_wheels.py", "--lock", dir + "/lock", "--dest", dir + "/wheels"])
      #expect(r.status == 1, "\(r.output)")
      #expect(
        r.stderr.contains("fetch-wheels: portpicker: the wheel PyPI served has sha256 \(pin), not the pinned 000"),
        "\(r.stderr)")
    }
  }
}
