import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// collect-artifacts finds what a runtime needs from the interpreter alone:
/// a shared CPython build's libpython comes from its own prefix/lib, with no
/// --lib-dir naming it.
@Suite struct RuntimeDiscoveryTests {
  @Test func aSharedLibpythonIsBundledFromTheInterpretersPrefix() throws {
    let dir = try makeTemporaryDirectory("shared-python")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let python = try TestRuntimes.makeSharedPython311(at: dir + "/prefix")
    let ownCopy = resolvedPath(dir + "/prefix/lib/libpython3.11.so.1.0")

    // Debian's multiarch dir has a libpython3.11.so.1.0 too; the one bundled
    // is the copy the interpreter runs with (its RUNPATH names prefix/lib).
    let r = try run(
      try Repo.tool("collect-artifacts"),
      [
        "--layer", "runtime", "--python", python, "--lib-dir", "/lib/x86_64-linux-gnu", "--lib-dir",
        "/usr/lib/x86_64-linux-gnu", "--allowlist", Repo.root + "/gn_templates/default_allowlist.txt", "--output",
        "rt.json", "--depfile", "rt.json.d",
      ], directory: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let manifest = try BundleManifest.read(dir + "/rt.json")
    let libpython = manifest.entries.first { $0.path == "python/lib/libpython3.11.so.1.0" }
    #expect(libpython?.source == ownCopy, "\(String(describing: libpython))")
    #expect(libpython?.runpath == "$ORIGIN")
    #expect(manifest.entries.first { $0.path == "python/bin/python3.11" }?.runpath == "$ORIGIN/../lib")
    #expect(readText(dir + "/rt.json.d").contains(ownCopy), "libpython is a depfile input")
    // libpython's own needs come from the declared dirs as before.
    #expect(manifest.entries.contains { $0.path == "python/lib/libexpat.so.1" })

    // No --lib-dir at all: libpython is still found, from the prefix.
    let bare = try run(
      try Repo.tool("collect-artifacts"),
      [
        "--layer", "runtime", "--python", python, "--allowlist", Repo.root + "/gn_templates/default_allowlist.txt",
        "--output", "bare.json",
      ], directory: dir)
    #expect(bare.status == 0, "\(bare.stderr)")
    let bareLibpython = try BundleManifest.read(dir + "/bare.json").entries.first {
      $0.path == "python/lib/libpython3.11.so.1.0"
    }
    #expect(bareLibpython?.source == ownCopy)
  }
}
