import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// The RFC's distribution modes, built by the real GN templates and run in
  /// the root that has no Python: a runtime-only bundle running a separate
  /// .pyz, one bundle of several tests, and bundles sharing their runtime's
  /// cache entry. And the size report every bundle gets.
  @Suite struct DistributionModeTests {
    let build: E2EBuild

    init() throws {
      build = try E2EBuild.get()
      _ = try build.ninja()
    }

    @Test func aRuntimeOnlyBundleRunsTestsShippedAsPyzFiles() throws {
      let root = try PythonlessRoot(bundles: [
        "lacewing_python": build.out + "/lacewing_python", "rtc_test.pyz": build.out + "/rtc_test.pyz",
        "stem_probe.pyz": build.out + "/stem_probe.pyz",
      ])
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      let env = ["LACEWING_CACHE_DIR": "/cache"]

      // The runtime bundle carries rtc_test's extension and FIDL IR.
      let pass = try root.run("lacewing_python", ["/rtc_test.pyz"], env: env)
      #expect(pass.status == 0, "\(pass.output)")
      #expect(pass.stderr.contains("OK"))
      let fail = try root.run("lacewing_python", ["/rtc_test.pyz", "--force-failure"], env: env)
      #expect(fail.status == 1 && fail.stderr.contains("FAILED"), "\(fail.output)")
      let probe = try root.run("lacewing_python", ["/stem_probe.pyz", "exit", "9"], env: env)
      #expect(probe.status == 9, "\(probe.output)")

      // Its arguments are the interpreter's, as for python3; still isolated.
      let code = try root.run(
        "lacewing_python", ["-c", "import sys, fidl_codec; print(sys.flags.isolated, sys.argv[1:])", "x y"], env: env)
      #expect(code.status == 0 && code.stdout == "1 ['x y']\n", "\(code.output)")
    }

    @Test func aMultiTestBundleRunsTheTestItIsNamedFor() throws {
      let root = try PythonlessRoot(bundles: ["e2e_suite": build.out + "/e2e_suite"])
      defer { root.remove() }
      // BusyBox style: a link named after the test.
      try FileManager.default.createSymbolicLink(atPath: root.path + "/rtc_test", withDestinationPath: "e2e_suite")
      try FileManager.default.createSymbolicLink(atPath: root.path + "/stem_probe", withDestinationPath: "/e2e_suite")
      let env = ["LACEWING_CACHE_DIR": "/cache"]

      let list = try root.run("e2e_suite", ["--list"], env: env)
      #expect(list.status == 0 && list.stdout == "rtc_test\nstem_probe\n", "\(list.output)")

      let byArgument = try root.run("e2e_suite", ["rtc_test"], env: env)
      #expect(byArgument.status == 0 && byArgument.stderr.contains("OK"), "\(byArgument.output)")
      let failing = try root.run("e2e_suite", ["rtc_test", "--force-failure"], env: env)
      #expect(failing.status == 1 && failing.stderr.contains("FAILED"), "\(failing.output)")
      let byLink = try root.run("rtc_test", ["--echo-argv", "a b"], env: env)
      #expect(byLink.status == 0, "\(byLink.output)")
      #expect(try JSONDecoder().decode([String].self, from: Data(byLink.stdout.utf8)) == ["--echo-argv", "a b"])
      let probe = try root.run("stem_probe", ["exit", "4"], env: env)
      #expect(probe.status == 4, "\(probe.output)")
      let probeByArgument = try root.run("e2e_suite", ["stem_probe", "exit", "5"], env: env)
      #expect(probeByArgument.status == 5, "\(probeByArgument.output)")

      // Not told which test: a usage error that lists them, running nothing.
      for args in [[], ["no_such_test"]] {
        let r = try root.run("e2e_suite", args, env: env)
        #expect(r.status == 2, "\(args): \(r.output)")
        #expect(r.stderr.contains("Tests: rtc_test stem_probe") && r.stderr.contains("--list"), "\(r.stderr)")
      }
    }

    @Test func bundlesOnOneRuntimeShareItsCacheEntry() throws {
      let dir = try makeTemporaryDirectory("shared-runtime")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let log = dir + "/extractions.log"
      let env = environment(["LACEWING_CACHE_DIR": dir + "/cache", "LACEWING_TIMINGS_FILE": log])

      func runtimeKey(_ bundle: String) throws -> String {
        let list = try run(build.out + "/" + bundle, [], environment: environment(["LACEWING_LIST": "1"]))
        return String(list.stdout.split(separator: "\n").first { $0.hasPrefix("runtime ") }?.dropFirst(8) ?? "")
      }
      let key = try runtimeKey("rtc_test")
      #expect(key.count == 64)
      for bundle in ["stem_probe", "e2e_suite", "lacewing_python"] {
        #expect(try runtimeKey(bundle) == key, "\(bundle)")
      }

      #expect(try run(build.bundle, [], environment: env).status == 0)
      let first = readText(log).split(separator: "\n")
      // The runtime (dozens of files: the stdlib's modules are one zip)
      // and the test's own layer.
      #expect(first.count == 2, "\(first)")
      #expect(first.contains { Int($0.split(separator: " ")[1].dropFirst("entries=".count)) ?? 0 > 40 }, "\(first)")

      let probe = try run(build.out + "/stem_probe", ["exit", "3"], environment: env)
      #expect(probe.status == 3, "\(probe.output)")
      let second = readText(log).split(separator: "\n").dropFirst(first.count)
      // A second test on the same runtime extracts only its own .pyz and
      // its launcher's ._pth and pyvenv.cfg.
      #expect(second.count == 1 && second.first?.contains(" entries=3 ") == true, "\(second)")
      let entries = try FileManager.default.contentsOfDirectory(atPath: dir + "/cache").sorted()
      #expect(
        entries.filter { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) } == [
          BundleLayout.runtimeCacheKeyPrefix + key.prefix(32)
        ], "\(entries)")
      #expect(entries.count == 3, "\(entries)")
    }

    @Test func everyBundleHasASizeReportThatAddsUp() throws {
      for bundle in ["rtc_test", "stem_probe", "e2e_suite", "lacewing_python"] {
        let size = try readFile(build.out + "/" + bundle).count
        struct Report: Decodable {
          struct Category: Decodable {
            var name: String
            var files: Int
            var bytes: Int
          }
          var totalBytes: Int
          var categories: [Category]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let report = try decoder.decode(Report.self, from: try readFile(build.out + "/" + bundle + ".size.json"))
        #expect(report.totalBytes == size, "\(bundle)")
        #expect(report.categories.reduce(0) { $0 + $1.bytes } == size, "\(bundle): the categories add up to the file")
        let names = Set(report.categories.map(\.name))
        #expect(
          names.isSuperset(of: [
            "stem", "runtime pack (zstd)", "interpreter", "stdlib", "lib-dynload", "shared libraries",
          ]), "\(bundle): \(names)")
        let table = readText(build.out + "/" + bundle + ".size.txt")
        #expect(table.hasPrefix("\(bundle): \(size) bytes"), "\(table)")
        #expect(table.contains("largest entries"))
      }
      let rtc = readText(build.out + "/rtc_test.size.txt")
      for category in ["extensions", "test code", "data"] {
        #expect(rtc.contains("\n" + category + " "), "\(category)")
      }
    }
  }
}
