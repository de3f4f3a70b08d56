import Foundation
import LacewingFormat

/// fuse-stub: [stem][payload][config][trailer], the layout in lacewing_format.h.
public enum Fuser {
  public struct Config: Equatable {
    public var interpreter: String
    /// Given to the interpreter before `main`, e.g. "-B".
    public var arguments: [String]
    /// nil: a runtime-only bundle, which runs whatever argv names.
    public var main: String?
    /// "NAME=path" with the path relative to the extraction root.
    public var env: [String]
    /// A multi-test bundle's tests: name and path of its .pyz.
    public var tests: [(name: String, path: String)]
    /// The runtime layer's key (hex SHA-256), when it is extracted apart.
    public var runtime: String?

    public init(
      interpreter: String, arguments: [String] = [], main: String?, env: [String] = [],
      tests: [(name: String, path: String)] = [], runtime: String? = nil
    ) {
      self.interpreter = interpreter
      self.arguments = arguments
      self.main = main
      self.env = env
      self.tests = tests
      self.runtime = runtime
    }

    public static func == (a: Config, b: Config) -> Bool { a.encoded == b.encoded }

    var encoded: Data {
      var pairs = [(LW_CONFIG_INTERPRETER, interpreter)] + arguments.map { (LW_CONFIG_ARG, $0) }
      if let main { pairs.append((LW_CONFIG_MAIN, main)) }
      pairs += env.map { (LW_CONFIG_ENV, $0) }
      pairs += tests.map { (LW_CONFIG_TEST, $0.name + "=" + $0.path) }
      if let runtime { pairs.append((LW_CONFIG_RUNTIME, runtime)) }
      var data = Data()
      for (key, value) in pairs {
        data.append(contentsOf: Array(key.utf8) + [0] + Array(value.utf8) + [0])
      }
      return data
    }
  }

  /// `paths`: every entry of the payload; nil checks the config alone.
  public static func validate(_ config: Config, against paths: Set<String>?) throws(LacewingError) {
    var names = Set<String>()
    for test in config.tests {
      guard !test.name.isEmpty, !test.name.contains("/"), !test.name.contains("="), !test.name.hasPrefix("-") else {
        throw LacewingError(.badInput, "test name '\(test.name)' cannot name a link to the bundle; use letters, digits, '_' and '.'")
      }
      guard names.insert(test.name).inserted else {
        throw LacewingError(.badInput, "two tests are named \(test.name); set output_name on one")
      }
    }
    if config.main != nil && !config.tests.isEmpty {
      throw LacewingError(.badInput, "a bundle has either one main or several tests, not both")
    }
    var envNames: [Substring: String] = [:]
    for entry in config.env {
      guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex,
        entry[..<eq].allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) })
      else { throw LacewingError(.badInput, "env entry '\(entry)' is not NAME=relative/path") }
      let value = entry[entry.index(after: eq)...]
      guard !value.hasPrefix("/"), !value.split(separator: "/").contains("..") else {
        throw LacewingError(.badInput, "env entry '\(entry)': the value must be a path relative to the extraction root")
      }
      if let other = envNames[entry[..<eq]], other != entry {
        throw LacewingError(.badInput, "env entries '\(other)' and '\(entry)' set one variable two ways; tests of one bundle share env")
      }
      envNames[entry[..<eq]] = entry
    }
    guard config.encoded.count <= Int(LW_CONFIG_MAX_SIZE) else {
      throw LacewingError(.badInput, "the bundle config exceeds \(LW_CONFIG_MAX_SIZE) bytes; use fewer env entries")
    }
    guard let paths else { return }
    var required = [("interpreter", config.interpreter)]
    if let main = config.main { required.append(("main", main)) }
    required += config.tests.map { ("test \($0.name)", $0.path) }
    for (what, path) in required where !paths.contains(path) {
      throw LacewingError(.badInput, "the \(what) \(path) is not in the payload; check main_source and the runtime")
    }
  }

  /// The ._pth of every launcher (lacewing_format.h), one per test (one for
  /// a bundle with no test), for a payload holding `names`: the test's
  /// .pyz, the runtime's `modulePath` and the test layer's ext/ and site/
  /// where it has them. The stem makes the launchers themselves.
  public static func launcherFiles(_ config: Config, modulePath: [String], names: Set<String>) throws(LacewingError)
    -> [ZipMerge.StoredFile]
  {
    if let reserved = names.sorted().first(where: BundleLayout.isReserved) {
      throw LacewingError(
        .badInput,
        "\(reserved) is a place of the bundle's own (\(BundleLayout.launcherDir), \(BundleLayout.runtimeLink)); "
          + "give that file another destination")
    }
    let ext = names.contains { $0.hasPrefix(BundleLayout.extDir + "/") }
    let site = names.contains { $0.hasPrefix(BundleLayout.siteDir + "/") }
    let pyzs: [String?] = config.main.map { [$0] } ?? (config.tests.isEmpty ? [nil] : config.tests.map(\.path))
    var files: [ZipMerge.StoredFile] = []
    for pyz in pyzs {
      let launcher = try BundleLayout.launcher(interpreter: config.interpreter, pyz: pyz).path
      let pth = BundleLayout.launcherPth(launcher: launcher, pyz: pyz, modulePath: modulePath, ext: ext, site: site)
      files.append(.init(path: launcher + "._pth", data: Data(pth.utf8)))
      files.append(.init(path: FS.dirname(launcher) + "/" + BundleLayout.launcherVenv, data: Data(BundleLayout.launcherVenvText.utf8)))
    }
    return files
  }

  /// The runtime layer's key: SHA-256 over each runtime entry exactly as
  /// stored (local header, name and compressed bytes), in directory order.
  /// Bundles that copied the same runtime layer get the same key; any
  /// difference in a byte of it gives another. nil: no runtime entries.
  public static func runtimeDigest(_ payload: Data) throws(LacewingError) -> String? {
    var digest = SHA256()
    var any = false
    for entry in try ZipIndex.entries(payload) where entry.name.hasPrefix(LW_RUNTIME_PREFIX) || entry.name == LW_RUNTIME_PACK {
      digest.update(payload[(payload.startIndex + entry.localOffset)..<(payload.startIndex + entry.dataEnd)])
      any = true
    }
    return any ? hexString(digest.finalize()) : nil
  }

  public static func fuse(stem: Data, payload: Data, config: Config) throws(LacewingError) -> Data {
    let indexOffset = try ZipIndex.centralDirectoryOffset(payload)
    let configData = config.encoded
    var digest = SHA256()
    digest.update(payload)
    digest.update(configData)
    var trailer = lw_trailer()
    trailer.payload_offset = UInt64(stem.count)
    trailer.payload_size = UInt64(payload.count)
    trailer.config_offset = UInt64(stem.count + payload.count)
    trailer.config_size = UInt64(configData.count)
    trailer.index_offset = UInt64(indexOffset)
    trailer.index_crc32 = CRC32.checksum(payload[(payload.startIndex + indexOffset)...])
    let hash = digest.finalize()
    withUnsafeMutableBytes(of: &trailer.digest) { $0.copyBytes(from: hash) }
    trailer.format_version = LW_FORMAT_VERSION
    trailer.trailer_size = LW_TRAILER_SIZE
    trailer.config_crc32 = CRC32.checksum(configData)
    withUnsafeMutableBytes(of: &trailer.magic) { $0.copyBytes(from: Array(LW_TRAILER_MAGIC.utf8)) }
    trailer.trailer_crc32 = withUnsafeBytes(of: trailer) { CRC32.checksum($0.prefix(Int(LW_TRAILER_CRC_SPAN))) }
    var out = Data()
    out.reserveCapacity(stem.count + payload.count + configData.count + Int(LW_TRAILER_SIZE))
    out.append(stem)
    out.append(payload)
    out.append(configData)
    withUnsafeBytes(of: trailer) { out.append(contentsOf: $0) }
    return out
  }
}
