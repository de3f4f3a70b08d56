import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// python_mobly_test: the testbed config, params and extra_args from GN,
  /// the FIDL IR from deps, in bundles run where there is no Python.
  @Suite(.enabled(if: WheelCache.reachable, "PyPI is unreachable: no Mobly wheel to bundle"))
  struct MoblyTests {
    let build: E2EBuild

    init() throws {
      _ = try WheelCache.require()
      build = try E2EBuild.get()
    }

    /// What a test printed as "<prefix>: JSON" before its tests.
    struct Given: Decodable {
      var argv: [String]
      var testbed: String
      var userParams: [String: JSONValue]
      var fidlIr: [String]
    }

    enum JSONValue: Decodable, Equatable {
      case int(Int)
      case string(String)
      case list([JSONValue])

      init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
          self = .int(i)
        } else if let s = try? c.decode(String.self) {
          self = .string(s)
        } else {
          self = .list(try c.decode([JSONValue].self))
        }
      }
    }

    static func given(_ output: String, prefix: String) throws -> Given {
      let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(prefix + ": ") }, "\(output)")
      return try E2E.TemplateParameterTests.snakeCase.decode(
        Given.self, from: Data(line.dropFirst(prefix.count + 2).utf8))
    }

    @Test func configParamsAndIRComeFromGN() throws {
      let r = try build.ninja(["testdata/mobly_rtc_test"])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: ["mobly_rtc_test": build.out + "/mobly_rtc_test"])
      defer { root.remove() }
      #expect(root.pythons().isEmpty)
      let env = ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"]

      // No -c: local_config_source's testbed, with GN's params.
      let pass = try root.run("mobly_rtc_test", [], env: env)
      #expect(pass.status == 0, "\(pass.output.suffix(3000))")
      #expect(pass.output.contains("Error 0, Executed 5, Failed 0, Passed 5"), "\(pass.output.suffix(3000))")
      let given = try Self.given(pass.stdout, prefix: "mobly_rtc_test setup")
      #expect(given.testbed == "SimulatedRtc")
      #expect(given.userParams == ["expected_year": .int(2024), "greeting": .string("params from GN")])
      // extra_args, before what the caller passed.
      #expect(given.argv.last == "--from-gn", "\(given.argv)")
      // Both IR files, though the test names neither: rtc's through the
      // controller's library, io's through rtc's.
      #expect(given.fidlIr == ["fuchsia.hardware.rtc.fidl.json", "fuchsia.io.fidl.json"])
      let entries = try E2E.TemplateParameterTests.entries(build.out + "/mobly_rtc_test").keys
      #expect(entries.filter { $0.hasPrefix("fidl_ir/") }.sorted() == given.fidlIr.map { "fidl_ir/" + $0 })
      #expect(!readText(build.src + "/testdata/mobly_rtc_test/BUILD.gn").contains("data_sources"))

      // -c wins over local_config_source; GN's params stay under the
      // config's own TestParams.
      try writeText(
        """
        TestBeds:
          - Name: CallerBed
            Controllers:
              RtcDevice:
                - name: rtc9
                  initial_year: 2028
            TestParams:
              expected_year: 2028
        MoblyParams:
          LogPath: /tmp/caller-logs
        """, to: root.path + "/caller.yaml")
      let caller = try root.run("mobly_rtc_test", ["-c", "/caller.yaml", "--force-failure"], env: env)
      #expect(caller.status == 1, "\(caller.output.suffix(3000))")
      #expect(caller.output.contains("Error 0, Executed 5, Failed 1, Passed 4"), "\(caller.output.suffix(3000))")
      let overridden = try Self.given(caller.stdout, prefix: "mobly_rtc_test setup")
      #expect(overridden.testbed == "CallerBed")
      #expect(overridden.userParams == ["expected_year": .int(2028), "greeting": .string("params from GN")])
      #expect(overridden.argv.first == "--from-gn" && overridden.argv.contains("--force-failure"), "\(overridden.argv)")
      #expect(FileManager.default.fileExists(atPath: root.path + "/tmp/caller-logs/CallerBed"))
    }

    /// In a multi-test bundle: the test's launcher, config and params in its
    /// own .pyz, its IR through the suite's walk of the tests' deps.
    @Test func aMoblyTestInAMultiTestBundle() throws {
      let r = try build.ninja(["testdata/suite:mobly_suite"])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: ["mobly_suite": build.out + "/mobly_suite"])
      defer { root.remove() }
      let env = ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"]
      let ran = try root.run("mobly_suite", ["mobly_rtc_test"], env: env)
      #expect(ran.status == 0 && ran.output.contains("Executed 5, Failed 0, Passed 5"), "\(ran.output.suffix(3000))")
      let given = try Self.given(ran.stdout, prefix: "mobly_rtc_test setup")
      #expect(given.testbed == "SimulatedRtc" && given.userParams["expected_year"] == .int(2024))
      #expect(given.fidlIr == ["fuchsia.hardware.rtc.fidl.json", "fuchsia.io.fidl.json"])
      let probe = try root.run("mobly_suite", ["stem_probe", "exit", "4"], env: env)
      #expect(probe.status == 4, "\(probe.output)")
    }

    /// Every parameter of python_mobly_test, as testdata/parameters sets it,
    /// and params_source in place of params.
    @Test func everyMoblyParameterWorks() throws {
      let r = try build.ninja([
        "testdata/parameters:parameter_mobly", "testdata/parameters:parameter_mobly_params_source",
      ])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try PythonlessRoot(bundles: [
        "parameter_mobly_bundle": build.out + "/parameter_mobly_bundle",
        "parameter_mobly_params_source": build.out + "/parameter_mobly_params_source",
      ])
      defer { root.remove() }
      let env = ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"]
      let scope = try root.run("parameter_mobly_bundle", [], env: env)
      #expect(
        scope.status == 0 && scope.output.contains("Executed 1, Failed 0, Passed 1"), "\(scope.output.suffix(3000))")
      let given = try Self.given(scope.stdout, prefix: "parameter_mobly")
      #expect(given.testbed == "ParameterBed")
      #expect(given.userParams == ["source": .string("params"), "numbers": .list([.int(1), .int(2)])])
      #expect(given.argv.last == "--parameter-extra", "\(given.argv)")
      // test_data_deps' IR (and what it depends on) under fidl_ir_env.
      #expect(given.fidlIr == ["fuchsia.io.fidl.json", "parameter.fidl.json"])
      #expect(scope.stdout.contains("\"xoptions\": [\"parameter_mobly\"]"), "\(scope.stdout)")
      #expect(scope.stdout.contains("\"data\": \"hello from the data\""), "\(scope.stdout)")
      #expect(scope.stdout.contains("\"fidl_codec\": true") && scope.stdout.contains("from parameter_lib"))
      let file = try root.run("parameter_mobly_params_source", [], env: env)
      #expect(file.status == 0, "\(file.output.suffix(3000))")
      #expect(try Self.given(file.stdout, prefix: "parameter_mobly").userParams == ["source": .string("params_source")])

      // timeout_secs and environments, as the target registers itself.
      let meta = try run(
        "gn",
        [
          "meta", build.out, "//testdata/parameters:parameter_mobly", "--data=tests", "--root=" + build.src,
          "--args=" + build.args,
        ])
      #expect(meta.status == 0, "\(meta.output)")
      #expect(
        meta.stdout.contains("timeout_secs = 30") && meta.stdout.contains("pool = \"parameters\""), "\(meta.stdout)")
      #expect(meta.stdout.contains("path = \"parameter_mobly_bundle\""), "\(meta.stdout)")
    }

    /// The demo's Mobly test through the runner, in the Python-less root.
    @Test func theRunnerRunsTheMoblyTest() throws {
      let r = try build.ninja(["testdata/mobly_rtc_test"])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let root = try RunnerRoot(build: build, bundles: ["mobly_rtc_test"])
      defer { root.remove() }
      let ran = try root.run(["--tests", "/out/tests.json", "--junit", "/out/junit.xml", "mobly_rtc_test"])
      #expect(ran.status == 0, "\(ran.output)")
      #expect(ran.stdout.contains("[1/1] PASS    mobly_rtc_test ("), "\(ran.stdout)")
      #expect(root.read("/out/test_logs/mobly_rtc_test.log").contains("Executed 5, Failed 0, Passed 5"))
      #expect(try root.junit("/out/junit.xml") == ["mobly_rtc_test": ""])
    }
  }
}
