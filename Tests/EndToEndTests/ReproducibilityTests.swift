import Foundation
import LacewingTestSupport
import Testing

extension E2E {
  /// Two checkouts at different absolute paths, built at different times with
  /// and without SOURCE_DATE_EPOCH, give byte-identical .pyz, payload and
  /// bundle, and no output records the checkout's path.
  @Suite struct ReproducibilityTests {
    static let outputs = [
      "rtc_test.pyz",
      "obj/testdata/rtc_test/rtc_test_embed.payload.zip",
      "rtc_test",
      "fidl_codec.so",
      "libfuchsia_controller_internal.so",
    ]

    func checkout(_ path: String) throws {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
      for item in [".gn", "BUILD.gn", "build", "gn_templates", "testdata", "third_party"] {
        try FileManager.default.copyItem(atPath: Repo.root + "/" + item, toPath: path + "/" + item)
      }
    }

    func build(_ src: String, env: [String: String?]) throws -> String {
      let out = src + "/out/repro"
      let args = "lacewing_tools_dir=\"\(Repo.toolsDir)\""
      let gen = try run("gn", ["gen", out, "--root=" + src, "--args=" + args])
      #expect(gen.status == 0, "\(gen.output)")
      let r = try run("ninja", ["-C", out, "testdata/rtc_test"], environment: environment(env))
      #expect(r.status == 0, "\(r.output)")
      return out
    }

    @Test func twoCheckoutsBuildTheSameBytes() throws {
      let dir = try makeTemporaryDirectory("repro")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let a = dir + "/a", b = dir + "/second/checkout/elsewhere"
      try checkout(a)
      try checkout(b)
      let outA = try build(a, env: ["SOURCE_DATE_EPOCH": nil])
      sleep(1)
      let outB = try build(b, env: ["SOURCE_DATE_EPOCH": "1700000000"])
      for file in Self.outputs {
        let bytesA = try readFile(outA + "/" + file), bytesB = try readFile(outB + "/" + file)
        #expect(bytesA == bytesB, "\(file) differs between checkouts")
        for root in [a, b, dir] {
          #expect(bytesA.range(of: Data(root.utf8)) == nil, "\(file) records the path \(root)")
        }
      }
    }
  }
}

private func readFile(_ path: String) throws -> Data {
  try Data(contentsOf: URL(fileURLWithPath: path))
}
