import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// What a child started with sys.executable reported, per form
/// ("-c import MOD", "-m stem_probe"): its exit status and last stderr line.
typealias ChildReport = [String: [ChildField]]

enum ChildField: Decodable, Equatable {
  case status(Int)
  case lines([String])

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let n = try? c.decode(Int.self) { self = .status(n) } else { self = .lines(try c.decode([String].self)) }
  }
}

/// Runs `stem_probe children MOD...` through `command` and returns each
/// form's exit status.
func childStatuses(_ r: ProcessResult) -> [String: Int] {
  guard let report = try? JSONDecoder().decode(ChildReport.self, from: Data(r.stdout.utf8)) else { return [:] }
  var statuses: [String: Int] = [:]
  for (form, fields) in report {
    if case .status(let n) = fields.first { statuses[form] = n }
  }
  return statuses
}

extension E2E {
  /// The bundle behaves like `python3 test.pyz` where real programs notice
  /// the difference: threads still busy at exit, and children started with
  /// sys.executable, which must import what the test imports.
  @Suite struct FidelityTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
      _ = try build.ninja()
    }

    /// CPython ends daemon threads still running at exit with pthread_exit,
    /// and glibc then dlopens libgcc_s.so.1; a host without it aborted the
    /// process (exit 134) after the test had passed. The root has no
    /// libgcc_s: the bundle's own, loaded at start, is what glibc finds.
    @Test func busyDaemonThreadsAtExitEndCleanlyWhereTheHostHasNoLibgcc() throws {
      let root = try PythonlessRoot(bundles: ["stem_probe": build.out + "/stem_probe"])
      defer { root.remove() }
      #expect(!FileManager.default.fileExists(atPath: root.path + "/lib/x86_64-linux-gnu/libgcc_s.so.1"))
      for mode in ["cache", "temp"] {
        let env = ["LACEWING_CACHE_DIR": "/cache", "LACEWING_EXTRACT": mode, "TMPDIR": "/tmp"]
        for trial in 1...10 {
          let r = try root.run("stem_probe", ["threads"], env: env)
          #expect(r.status == 0 && r.signal == nil, "\(mode) run \(trial): \(r.output)")
        }
      }
      let stamp = readText(build.out + "/gen/testdata/stem_probe/stem_probe.hermeticity.txt")
      #expect(
        stamp.contains(
          "dlopen by libc.so.6: libgcc_s.so.1 (pthread_exit, pthread_cancel, backtrace) => python/lib/libgcc_s.so.1, "
            + "loaded at start by python/bin/python3.11"), "\(stamp)")
      #expect(stamp.contains("dlopen by libc.so.6: NSS modules"), "\(stamp)")
    }

    /// `-c "import MOD"` and `-m MOD` in a child started with sys.executable
    /// see the test's own modules and the bundle's C extensions, in a
    /// single-test, a multi-test and a runtime-only bundle, cache and temp
    /// mode; a multi-test bundle's test does not see another test's code.
    @Test func childrenStartedWithSysExecutableImportWhatTheTestImports() throws {
      let root = try PythonlessRoot(bundles: [
        "stem_probe": build.out + "/stem_probe", "e2e_suite": build.out + "/e2e_suite",
        "lacewing_python": build.out + "/lacewing_python", "stem_probe.pyz": build.out + "/stem_probe.pyz",
      ])
      defer { root.remove() }
      try FileManager.default.createDirectory(atPath: root.path + "/work", withIntermediateDirectories: true)
      try writeText("import helper_lib\nprint(helper_lib.X)\n", to: root.path + "/work/script.py")
      try writeText("X = 'helper next to the script'\n", to: root.path + "/work/helper_lib.py")
      for mode in ["cache", "temp"] {
        let env = ["LACEWING_CACHE_DIR": "/cache", "LACEWING_EXTRACT": mode, "TMPDIR": "/tmp"]

        let single = try root.run("stem_probe", ["children", "stem_probe", "json"], env: env)
        #expect(
          childStatuses(single) == ["-c import stem_probe": 0, "-c import json": 0, "-m stem_probe": 7],
          "\(mode): \(single.output)")

        let multi = try root.run(
          "e2e_suite", ["stem_probe", "children", "stem_probe", "fidl_codec", "lacewing_utils"], env: env)
        #expect(
          childStatuses(multi) == [
            "-c import stem_probe": 0, "-c import fidl_codec": 0, "-c import lacewing_utils": 1, "-m stem_probe": 7,
          ], "\(mode): \(multi.output)")

        // The runtime-only bundle's world is its extensions and data: the
        // .pyz it was given is no more a child's than under python3.
        let runtimeOnly = try root.run("lacewing_python", ["/stem_probe.pyz", "children", "fidl_codec"], env: env)
        #expect(
          childStatuses(runtimeOnly) == ["-c import fidl_codec": 0, "-m stem_probe": 1],
          "\(mode): \(runtimeOnly.output)")

        // A child running a script imports what lies next to it, and one
        // running -c what lies in its working directory, as under python3.
        let code = """
          import subprocess, sys
          subprocess.run([sys.executable, "/work/script.py"], check=True)
          subprocess.run([sys.executable, "-c", "import helper_lib; print('cwd', helper_lib.X)"], check=True, cwd="/work")
          print(subprocess.run([sys.executable, "-P", "-c", "import helper_lib"], cwd="/work").returncode)
          """
        let script = try root.run("lacewing_python", ["-c", code], env: env)
        #expect(
          script.status == 0
            && script.stdout == "helper next to the script\ncwd helper next to the script\n1\n",
          "\(mode): \(script.output)")
      }
    }

    /// sys.executable is the test's own launcher in the test layer, which
    /// links to the runtime's entry; the test's sys.path is what `python3
    /// test.pyz` gives, bundled places aside: the .pyz first, once, and
    /// nothing outside the bundle.
    @Test func theTestRunsThroughItsLauncher() throws {
      let dir = try makeTemporaryDirectory("launcher")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      // A user site whose .pth would leave a mark: neither the test nor a
      // child started with sys.executable may read it.
      let userSite = dir + "/home/.local/lib/python3.11/site-packages"
      try writeText("import os; open('\(dir)/ran', 'w')\n", to: userSite + "/mark.pth")
      let env = environment(["LACEWING_CACHE_DIR": dir + "/cache", "HOME": dir + "/home"])
      let r = try run(build.out + "/stem_probe", ["path"], environment: env)
      #expect(r.status == 0, "\(r.output)")
      let child = try run(
        build.out + "/lacewing_python",
        [
          "-c",
          "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import sys; print(sys.path)'], check=True)",
        ],
        environment: env)
      #expect(child.status == 0 && !child.stdout.contains("/home/"), "\(child.output)")
      #expect(!FileManager.default.fileExists(atPath: dir + "/ran"), "the user site's .pth ran")
      let entries = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache").filter {
        (try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/" + $0 + "/test"))?.contains(
          "stem_probe.pyz") == true
          || $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix)
      }
      let test = try #require(entries.first { !$0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) }, "\(entries)")
      let runtime = try #require(entries.first { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) }, "\(entries)")
      let link = try FileManager.default.destinationOfSymbolicLink(
        atPath: "\(dir)/cache/\(test)/\(BundleLayout.runtimeLink)")
      #expect(link == "../" + runtime)
      let reported = try JSONDecoder().decode([String: [String]].self, from: Data(r.stdout.utf8))
      // The temp dir's name may hold "//"; CPython normalizes its own paths.
      func normal(_ p: String) -> String { p.replacingOccurrences(of: "//", with: "/") }
      let root = normal("\(dir)/cache/\(test)/")
      #expect(reported["executable"] == [root + BundleLayout.launcherDir + "stem_probe/python3.11"], "\(r.stdout)")
      let path = (reported["path"] ?? []).map(normal)
      #expect(path.first == root + BundleLayout.pyzPath("stem_probe.pyz"), "\(path)")
      #expect(path.filter { $0 == path.first }.count == 1, "\(path)")
      #expect(path.allSatisfy { $0.hasPrefix(root) }, "\(path)")
    }

    /// The stdlib's modules come from `python311.zip` (stdlib_zip, the
    /// default) and behave as files do where programs look: each module
    /// is unmarshalled once (CPython's zipimporter does it twice, once for
    /// the file name, gh-141276: the runtime keeps the first), resources
    /// and pkgutil see the zipped packages, tracebacks name the file, and
    /// what code finds through `__file__` (venv's scripts) is still a file.
    @Test func theStdlibImportsFromItsZipAsFromFiles() throws {
      let root = try PythonlessRoot(bundles: ["lacewing_python": build.out + "/lacewing_python"])
      defer { root.remove() }
      let code = """
        import json, os, sys
        unmarshalled = []
        sys.addaudithook(lambda event, args: event == "marshal.loads" and unmarshalled.append(1))
        import colorsys
        colorsys_unmarshalled = len(unmarshalled)
        import email, importlib.resources, pkgutil, traceback, venv
        try:
            json.loads("{")
        except ValueError as e:
            frames = [f.filename for f in traceback.extract_tb(e.__traceback__)]
        print(json.dumps({
            "unmarshalled": colorsys_unmarshalled,
            "json": json.__file__.split("/python/", 1)[-1],
            "zip first": [p for p in sys.path if "/python/lib/" in p][0].endswith("/python311.zip"),
            "files": [os.path.isfile(m.__file__) for m in (email, venv, colorsys)],
            "venv scripts": os.path.isdir(os.path.join(os.path.dirname(venv.__file__), "scripts")),
            "resources": sorted(p.name for p in importlib.resources.files("json").iterdir())[:2],
            "pkgutil": {"colorsys", "json", "email", "_ssl"} <= {m.name for m in pkgutil.iter_modules()},
            "traceback": frames[-1],
        }, sort_keys=True))
        """
      for mode in ["cache", "temp"] {
        let env = ["LACEWING_CACHE_DIR": "/cache", "LACEWING_EXTRACT": mode, "TMPDIR": "/tmp"]
        let r = try root.run("lacewing_python", ["-c", code], env: env)
        #expect(r.status == 0, "\(mode): \(r.output)")
        let expected = """
          {"files": [true, true, false], "json": "lib/python311.zip/json/__init__.pyc", "pkgutil": true, \
          "resources": ["__init__.pyc", "decoder.pyc"], "traceback": "python/lib/python311.zip/json/decoder.py", \
          "unmarshalled": 1, "venv scripts": true, "zip first": true}

          """
        #expect(r.stdout == expected, "\(mode): \(r.output)")
      }
    }
  }
}
