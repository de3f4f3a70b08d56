import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

@Suite struct ManifestVersionTests {
  /// A manifest of another format is refused by name, saying what to do,
  /// before its fields are read (they need not decode as this format's).
  @Test(arguments: [
    (#"{"formatVersion": 1, "interpreter": 7}"#, "of format 1, not 2"),
    (#"{"interpreter": "python/bin/python3.11", "entries": []}"#, "of format none, not 2"),
  ])
  func anotherFormatIsRefused(json: String, says: String) throws {
    let dir = try makeTemporaryDirectory("manifest-version")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText(json, to: dir + "/m.json")
    do {
      _ = try BundleManifest.read(dir + "/m.json")
      Issue.record("read a manifest of another format")
    } catch {
      #expect(error.code == .badInput)
      #expect(error.message.contains(says) && error.message.contains("Rebuild it"), "\(error.message)")
    }
  }

  @Test func theCurrentFormatRoundTrips() throws {
    let dir = try makeTemporaryDirectory("manifest-version")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let manifest = BundleManifest(interpreter: "python/bin/python3.11", compiler: nil, entries: [])
    try manifest.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    #expect(try BundleManifest.read(dir + "/m.json") == manifest)
  }
}
