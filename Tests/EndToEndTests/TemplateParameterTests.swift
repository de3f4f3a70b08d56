import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// Every documented template parameter, set to a non-default value in
  /// testdata/parameters (loaded by every `gn gen`, so the E2E build's own
  /// gen already proves GN accepts them), built and run: each does what its
  /// documentation says.
  @Suite struct TemplateParameterTests {
    /// The probe prints Python's snake_case names.
    static var snakeCase: JSONDecoder {
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      return decoder
    }

    /// A bundle's entries as LACEWING_LIST prints them, by name.
    static func entries(_ bundle: String) throws -> [String: [Substring]] {
      let text = try run(bundle, [], environment: environment(["LACEWING_LIST": "1"])).stdout
      var entries: [String: [Substring]] = [:]
      for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 4, Int(fields[0]) != nil { entries[String(fields[3])] = fields }
      }
      return entries
    }

    @Test func everyDocumentedParameterWorks() throws {
      let build = try E2EBuild.get()
      let r = try build.ninja(["parameter_cases"])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let out = build.out
      let root = try PythonlessRoot(bundles: [
        "parameter_probe_bundle": out + "/parameter_probe_bundle",
        "parameter_suite_bundle": out + "/parameter_suite_bundle",
        "parameter_python_bundle": out + "/parameter_python_bundle",
      ])
      defer { root.remove() }
      let env = ["LACEWING_CACHE_DIR": "/cache"]

      struct Report: Decodable, Equatable {
        var xoptions: [String]
        var dontWriteBytecode: Int
        var data: String
        var xmlrpc: Bool
        var sqlite3: Bool
        var fidlCodec: Bool
        var stdlibSource: Bool
        var library: String
      }
      // interpreter_args, env, data_sources and data_dir, stdlib_exclude,
      // exclude_modules, stdlib_sources, c_extensions, sources, libraries
      // (library_name, source_root), output_name; shared_runtime = false.
      func expected(_ xoption: String) -> Report {
        Report(
          xoptions: [xoption], dontWriteBytecode: 1, data: "hello from the data", xmlrpc: false, sqlite3: false,
          fidlCodec: true, stdlibSource: true, library: "from parameter_lib")
      }
      let probe = try root.run("parameter_probe_bundle", [], env: env)
      #expect(probe.status == 0, "\(probe.output)")
      #expect(try Self.snakeCase.decode(Report.self, from: Data(probe.stdout.utf8)) == expected("parameter_probe"))
      let suite = try root.run("parameter_suite_bundle", ["parameter_probe_bundle"], env: env)
      #expect(suite.status == 0, "\(suite.output)")
      #expect(try Self.snakeCase.decode(Report.self, from: Data(suite.stdout.utf8)) == expected("parameter_suite"))
      let python = try root.run(
        "parameter_python_bundle",
        [
          "-c",
          "import os, sys, fidl_codec; print(' '.join(sorted(sys._xoptions)), open(os.environ['PARAMETER_DATA'] + '/greeting.txt').read().strip())",
        ],
        env: env)
      #expect(python.status == 0 && python.stdout == "parameter_python hello from the data\n", "\(python.output)")
      // shared_runtime = false: no runtime entry of its own, one per bundle.
      let cacheEntries = try FileManager.default.contentsOfDirectory(atPath: root.path + "/cache")
      #expect(
        cacheEntries.count == 3 && !cacheEntries.contains { $0.hasPrefix(BundleLayout.runtimeCacheKeyPrefix) },
        "\(cacheEntries)")

      // pack = false: the runtime is stored file by file; compression_level
      // = 0 stores the bundle's own files; strip_debug = false keeps what
      // strip takes out of the extension's library (rtc_test's is stripped).
      func list(_ bundle: String) throws -> [String: [Substring]] { try Self.entries(out + "/" + bundle) }
      let entries = try list("parameter_probe_bundle")
      #expect(
        entries["python/bin/python3.11"] != nil && entries["python.pack"] == nil, "\(entries.keys.sorted().prefix(20))")
      // stdlib_zip = false: a file per module, no python311.zip.
      #expect(
        entries["python/lib/python3.11/json/decoder.py"] != nil && entries["python/lib/python311.zip"] == nil,
        "\(entries.keys.sorted().prefix(20))")
      let ext = entries["ext/fidl_codec.so"]
      #expect(ext != nil && ext?[0] == ext?[1], "stored: \(String(describing: ext))")
      let library = "lib/libfuchsia_controller_internal.so"
      let unstripped = Int(entries[library]?[0] ?? "") ?? 0
      let stripped = Int(try list("rtc_test")[library]?[0] ?? "") ?? 0
      #expect(unstripped > stripped && stripped > 0, "\(unstripped) vs \(stripped)")
      // allowlist, max_glibc and stem reached the check.
      let rules = readText(out + "/toolchain.ninja").split(separator: "\n")
      let rule = rules.firstIndex { $0.hasPrefix("rule __testdata_parameters_parameter_probe_check__") }
      let check = rule.map { String(rules[$0 + 1]) } ?? ""
      #expect(check.contains("--allowlist ../src/testdata/parameters/allowlist.txt"), "\(check)")
      #expect(check.contains("--max-glibc 2.40") && check.contains("--stem ../tools/lacewing-stem"), "\(check)")
      // fidl_ir_env reached the fuse, main_module the pyz.
      func command(_ name: String) -> String {
        rules.firstIndex { $0.hasPrefix("rule __testdata_parameters_\(name)__") }.map { String(rules[$0 + 1]) } ?? ""
      }
      #expect(command("parameter_probe").contains("--env PARAMETER_FIDL_IR=fidl_ir"), "\(command("parameter_probe"))")
      #expect(command("parameter_probe_pyz").contains("--main parameter_probe "), "\(command("parameter_probe_pyz"))")
      // timeout_secs and environments, as each bundle registers its tests.
      for target in ["parameter_probe", "parameter_suite"] {
        let meta = try run(
          "gn",
          [
            "meta", out, "//testdata/parameters:" + target, "--data=tests", "--root=" + build.src,
            "--args=" + build.args,
          ])
        #expect(meta.status == 0, "\(meta.output)")
        #expect(
          meta.stdout.contains("timeout_secs = 30") && meta.stdout.contains("pool = \"parameters\""),
          "\(target): \(meta.stdout)")
      }
    }
  }
}
