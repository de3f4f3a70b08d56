import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

extension E2E {
  /// python_runtime's trim_to_imports_of: a runtime holds the stdlib its
  /// apps' files import (CPython's modulefinder over them), what
  /// keep_modules names, and nothing else; what it left out is in the
  /// exclusion report, saying how to keep it.
  @Suite struct TrimmedRuntimeTests {
    @Test func aTrimmedRuntimeShipsWhatItsAppsImport() throws {
      let build = try E2EBuild.get()
      let r = try build.ninja(["trimmed_cases"])
      try #require(r.status == 0, "\(r.output.suffix(3000))")
      let out = build.out
      let root = try PythonlessRoot(bundles: [
        "hello_trimmed": out + "/hello_trimmed", "stem_probe_trimmed": out + "/stem_probe_trimmed",
      ])
      defer { root.remove() }
      let env = ["LACEWING_CACHE_DIR": "/cache"]

      let hello = try root.run("hello_trimmed", ["a", "b"], env: env)
      #expect(hello.status == 0 && hello.stdout == "[\"a\", \"b\"]\n", "\(hello.output)")
      // Everything stem_probe.py imports, a child included.
      let imports = try root.run("stem_probe_trimmed", ["imports"], env: env)
      #expect(imports.status == 0, "\(imports.output)")
      // colorsys is imported by name only, and kept by keep_modules; wave
      // is imported by nothing.
      let children = try root.run("stem_probe_trimmed", ["children", "colorsys", "wave", "json"], env: env)
      #expect(
        childStatuses(children) == [
          "-c import colorsys": 0, "-c import wave": 1, "-c import json": 0, "-m stem_probe": 7,
        ],
        "\(children.output)")
      let report = readText(out + "/gen/testdata/stem_probe/trimmed_runtime.excluded.txt")
      #expect(
        report.contains(
          "python/lib/python3.11/wave.py\tnot imported by trim_to_imports_of's files; name it in keep_modules"),
        "\(report.prefix(2000))")
      // Smaller than the same probe on the whole stdlib.
      let size = { (name: String) in
        (try? FileManager.default.attributesOfItem(atPath: out + "/" + name)[.size] as? Int) ?? 0
      }
      #expect(size("stem_probe_trimmed") < size("stem_probe") && size("hello_trimmed") < size("stem_probe_trimmed"))
    }

    /// A keep_modules name that is no module of the stdlib fails the
    /// runtime's build, naming it.
    @Test func keepingAModuleTheStdlibLacksFailsTheBuild() throws {
      let dir = try makeTemporaryDirectory("trim")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try writeText("import json\n", to: dir + "/app.py")
      var options = Collector.Options(layer: .runtime, python: "/usr/bin/python3.11")
      options.trimToImportsOf = [dir + "/app.py"]
      options.keepModules = ["colorsys", "no_such_module"]
      options.workDir = dir + "/work"
      do {
        _ = try Collector.collect(options)
        Issue.record("a runtime kept a module the stdlib lacks")
      } catch {
        #expect(error.message.contains("keep_modules names no_such_module"), "\(error.message)")
      }
    }
  }
}
