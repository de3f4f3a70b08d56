import LacewingFormat

/// The places inside a bundle, as the tools see them. Every name comes from
/// lacewing_format.h, which the stem reads too, so writer and reader cannot
/// drift; nothing else in the tools spells one of these paths.
public enum BundleLayout {
  /// The runtime layer: interpreter, stdlib, lib-dynload, their libraries.
  public static let runtimePrefix = LW_RUNTIME_PREFIX
  public static let runtimePack = LW_RUNTIME_PACK
  /// The runtime layer's interpreter and shared libraries (the stdlib is
  /// `runtimeLibDir/python3.X`), and CPython's lib-dynload in the stdlib.
  public static let runtimeBinDir = LW_RUNTIME_BIN_DIR
  public static let runtimeLibDir = LW_RUNTIME_LIB_DIR
  public static let dynloadDir = LW_RUNTIME_DYNLOAD_DIR
  public static let testDir = LW_TEST_DIR
  public static let extDir = LW_EXT_DIR
  public static let libDir = LW_LIB_DIR
  public static let siteDir = LW_SITE_DIR
  public static let launcherDir = LW_LAUNCHER_DIR
  public static let runtimeLink = LW_RUNTIME_LINK
  /// Where the stdlib's modules go with `stdlib_zip`: CPython's own name
  /// for it (`prefix/lib/python311.zip`), which every CPython puts on its
  /// default sys.path and 3.11's getpath takes as the prefix's landmark.
  public static func stdlibZip(interpreter name: String) -> String {
    "\(runtimeLibDir)/\(name.filter { $0 != "." }).zip"
  }

  /// Cache entries: the prefix of a bundle's, and of a runtime layer's.
  public static let cacheKeyPrefix = "v\(LW_FORMAT_VERSION)-"
  public static let runtimeCacheKeyPrefix = cacheKeyPrefix + LW_CACHE_RUNTIME_TAG

  /// Where a test's .pyz lands: test/<file name>.
  public static func pyzPath(_ file: String) -> String { testDir + FS.basename(file) }

  /// True for paths only the stem and fuse-stub may create in the test
  /// layer (the launchers and the runtime link).
  public static func isReserved(_ path: String) -> Bool {
    path == runtimeLink || path.hasPrefix(runtimeLink + "/") || path.hasPrefix(launcherDir)
      || path + "/" == launcherDir
  }

  /// The launcher of the test whose .pyz is at `pyz` (nil: a bundle with no
  /// test): its path in the test layer and its symlink's target.
  public static func launcher(interpreter: String, pyz: String?) throws(LacewingError) -> (path: String, target: String)
  {
    var path = [CChar](repeating: 0, count: 4096)
    var target = [CChar](repeating: 0, count: 4096)
    let rc = interpreter.withCString { i in
      withOptionalCString(pyz) { p in lw_launcher(i, p, &path, path.count, &target, target.count) }
    }
    guard rc == 0 else {
      throw LacewingError(
        .badInput, "\(pyz ?? interpreter) cannot have a launcher; a test's .pyz must be \(testDir)NAME.pyz")
    }
    func text(_ chars: [CChar]) -> String {
      String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return (text(path), text(target))
  }

  /// Next to each launcher: a ._pth turns on isolated mode but, unlike -I,
  /// leaves the user site (~/.local/lib/python3.X) on; site.py turns it off
  /// for an interpreter whose pyvenv.cfg says so (and CPython's getpath
  /// ignores a pyvenv.cfg without `home`).
  public static let launcherVenv = "pyvenv.cfg"
  public static let launcherVenvText = "include-system-site-packages = false\n"

  /// The ._pth next to a launcher: sys.path of the test and of every child
  /// started with its sys.executable. `modulePath` is the runtime's own
  /// (bundle paths); `ext` and `site` say whether the test layer has them.
  public static func launcherPth(
    launcher: String, pyz: String?, modulePath: [String], ext: Bool, site: Bool
  ) -> String {
    let up = String(repeating: "../", count: launcher.split(separator: "/").count - 1)
    var lines: [String] = []
    if let pyz { lines.append(up + pyz) }
    lines += modulePath.map { up + runtimeLink + "/" + $0 }
    if ext { lines.append(up + extDir) }
    if site { lines.append(up + siteDir) }
    lines.append("import site")
    return lines.map { $0 + "\n" }.joined()
  }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
  guard let s else { return body(nil) }
  return s.withCString { body($0) }
}
