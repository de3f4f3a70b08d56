import LacewingKit
import Testing

@Suite struct BundleLayoutTests {
  /// lacewing_format.h spells the runtime layer's directories out (Swift
  /// imports no pasted macro); they must stay under its prefix.
  @Test func theRuntimesDirectoriesAreUnderItsPrefix() {
    #expect(BundleLayout.runtimeBinDir == BundleLayout.runtimePrefix + "bin")
    #expect(BundleLayout.runtimeLibDir == BundleLayout.runtimePrefix + "lib")
  }

  static let places: [(path: String, category: String)] = [
    (BundleLayout.runtimeBinDir + "/python3.12", "interpreter"),
    (BundleLayout.runtimeLibDir + "/libpython3.12.so.1.0", "shared libraries"),
    (BundleLayout.runtimeLibDir + "/python3.12/json/__init__.pyc", "stdlib"),
    ("\(BundleLayout.runtimeLibDir)/python3.12/\(BundleLayout.dynloadDir)/_json.so", "lib-dynload"),
    (BundleLayout.libDir + "/libz.so.1", "shared libraries"),
    (BundleLayout.extDir + "/x.so", "extensions"),
    (BundleLayout.siteDir + "/yaml/__init__.py", "third-party packages"),
    (BundleLayout.pyzPath("t.pyz"), "test code"),
    ("testdata/x.json", "data"),
  ]

  /// Every place of the layout has its size category, read from the layout.
  @Test func sizeCategories() {
    for (path, category) in Self.places {
      #expect(SizeReport.category(of: path) == category, "\(path)")
    }
  }
}
