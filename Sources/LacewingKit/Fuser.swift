import FoundationEssentials
import LacewingFormat

/// fuse-stub: [stem][payload][config][trailer], the layout in lacewing_format.h.
public enum Fuser {
  /// fuse-stub's arguments.
  public struct Options: Sendable {
    /// The prebuilt stem.
    public var stem: String
    /// The payload zip from make-archive.
    public var payload: String
    /// The manifest the payload was built from: names the interpreter and
    /// its module path.
    public var manifest: String
    /// Given to the interpreter before the test, e.g. "-B".
    public var interpreterArgs: [String] = []
    /// Tests' .pyz files, stored at test/<file name> in the payload.
    public var pyzs: [String] = []
    /// The test's .pyz in the bundle, e.g. "test/rtc_test.pyz". nil: the
    /// one `pyzs` entry's place when there is exactly one and no tests,
    /// else none (a runtime-only bundle, which runs what argv names).
    public var main: String?
    /// "NAME=PATH": a test of a multi-test bundle and its .pyz in the bundle.
    public var tests: [String] = []
    /// JSON arrays of tests (name, pyz, data, env) of a multi-test bundle.
    public var testLists: [String] = []
    /// Give the runtime layer a cache entry of its own.
    public var sharedRuntime = false
    /// Where to write the size report as JSON, and as a table.
    public var sizeReport: String?
    public var sizeTable: String?
    /// What a packed runtime layer holds (make-archive --pack-index).
    public var runtimeIndex: String?
    /// "NAME=relative/path" set for the test.
    public var env: [String] = []
    /// Inputs that must exist first (the allowlist check's stamp), for the
    /// depfile.
    public var after: [String] = []
    /// What the bundle needs of its host (ldd-allowlist-check --host-needs):
    /// the interpreter's loader and the glibc floor go into the config.
    public var hostNeeds: String?

    public init(stem: String, payload: String, manifest: String) {
      self.stem = stem
      self.payload = payload
      self.manifest = manifest
    }

    /// `main`, or the place of the one .pyz of a bundle of one test.
    var resolvedMain: String? {
      guard main == nil, pyzs.count == 1, tests.isEmpty, testLists.isEmpty else { return main }
      return BundleLayout.pyzPath(pyzs[0])
    }
  }

  /// Fuses the bundle and writes it (executable), the size reports and the
  /// depfile.
  public static func run(_ options: Options, output: ActionOutput) throws(LacewingError) {
    let manifest = try BundleManifest.read(options.manifest)
    var (config, pyzs) = try config(options, interpreter: manifest.interpreter)
    if let path = options.hostNeeds { config.require(try AllowlistCheck.HostNeeds.read(path)) }
    // The config's own mistakes first: they need no file read.
    try validate(config, against: nil)
    let stem = try FS.read(options.stem, what: "stem")
    let payload = try payload(options, config: config, pyzs: pyzs, modulePath: manifest.modulePath)
    if options.sharedRuntime { config.runtime = try runtimeDigest(payload) }
    let packed =
      try options.runtimeIndex.map { path throws(LacewingError) in
        try PayloadArchive.PackedFile.readList(path)
      } ?? []
    var names = Set(try ZipIndex.entries(payload).map(\.name))
    if names.contains(LW_RUNTIME_PACK) {
      // The index lists the pack's files; without it, unpack to see them.
      names.formUnion(
        packed.isEmpty ? try PayloadContents(payload, label: options.payload).names() : packed.map(\.path))
    }
    try validate(config, against: names)
    let bundle = try fuse(stem: stem, payload: payload, config: config)
    try output.write(bundle, mode: 0o755)
    if options.sizeReport != nil || options.sizeTable != nil {
      let report = try SizeReport(
        bundle: FS.basename(output.path), stemBytes: stem.count, payload: payload,
        configBytes: config.encoded.count, trailerBytes: Int(LW_TRAILER_SIZE), totalBytes: bundle.count,
        packed: packed, host: config.hostNeeds)
      if let path = options.sizeReport { try OutputFile.write(report.json, to: path) }
      if let path = options.sizeTable { try OutputFile.write(Data(report.table.utf8), to: path) }
    }
    try output.writeDepfile(
      inputs: [options.stem, options.payload, options.manifest] + options.testLists + pyzs
        + (options.runtimeIndex.map { [$0] } ?? []) + options.after + (options.hostNeeds.map { [$0] } ?? []))
  }

  /// The bundle's config from the options and the test lists, and every
  /// .pyz the payload gains.
  static func config(_ options: Options, interpreter: String) throws(LacewingError) -> (Config, pyzs: [String]) {
    var config = Config(
      interpreter: interpreter, arguments: options.interpreterArgs, main: options.resolvedMain, env: options.env)
    for test in options.tests {
      guard let eq = test.firstIndex(of: "=") else {
        throw LacewingError(.badInput, "--test '\(test)' is not NAME=PATH")
      }
      config.tests.append((String(test[..<eq]), String(test[test.index(after: eq)...])))
    }
    var pyzs = options.pyzs
    for list in options.testLists {
      for test in try Collector.TestEntry.readList(list) {
        config.tests.append((test.name, BundleLayout.pyzPath(test.pyz)))
        config.env += test.env.filter { !config.env.contains($0) }
        pyzs.append(test.pyz)
      }
    }
    return (config, pyzs)
  }

  /// The payload with the tests' code added, stored as it is (editing a
  /// test reruns only its .pyz and this step), and the launchers' files.
  static func payload(_ options: Options, config: Config, pyzs: [String], modulePath: [String])
    throws(LacewingError) -> Data
  {
    var added: [ZipMerge.StoredFile] = []
    for pyz in pyzs {
      added.append(.init(path: BundleLayout.pyzPath(pyz), data: try FS.read(pyz, what: "test's .pyz")))
    }
    let payload = try FS.read(options.payload, what: "payload")
    added += try launcherFiles(config, modulePath: modulePath, names: Set(try ZipIndex.entries(payload).map(\.name)))
    return try ZipMerge.merge([(options.payload, payload)], adding: added)
  }

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
    /// The interpreter's PT_INTERP, which the host must have.
    public var loader: String?
    /// The highest GLIBC_ version needed from a host library ("2.34") and
    /// that library ("libc.so.6"), which the stem finds on the host.
    public var glibc: (version: String, library: String)?

    public init(
      interpreter: String, arguments: [String] = [], main: String?, env: [String] = [],
      tests: [(name: String, path: String)] = [], runtime: String? = nil, loader: String? = nil,
      glibc: (version: String, library: String)? = nil
    ) {
      self.interpreter = interpreter
      self.arguments = arguments
      self.main = main
      self.env = env
      self.tests = tests
      self.runtime = runtime
      self.loader = loader
      self.glibc = glibc
    }

    /// Takes the interpreter's loader and the glibc floor from what the
    /// allowlist check found.
    mutating func require(_ needs: AllowlistCheck.HostNeeds) {
      loader = needs.loaders[interpreter]
      glibc = needs.glibc.map { ($0.version, $0.library) }
    }

    /// The config's host needs, for the size report.
    var hostNeeds: SizeReport.HostNeeds? {
      guard loader != nil || glibc != nil else { return nil }
      return SizeReport.HostNeeds(loader: loader, glibc: glibc?.version, glibcLibrary: glibc?.library)
    }

    public static func == (a: Config, b: Config) -> Bool { a.encoded == b.encoded }

    var encoded: Data {
      var pairs = [(LW_CONFIG_INTERPRETER, interpreter)] + arguments.map { (LW_CONFIG_ARG, $0) }
      if let main { pairs.append((LW_CONFIG_MAIN, main)) }
      pairs += env.map { (LW_CONFIG_ENV, $0) }
      pairs += tests.map { (LW_CONFIG_TEST, $0.name + "=" + $0.path) }
      if let runtime { pairs.append((LW_CONFIG_RUNTIME, runtime)) }
      if let loader { pairs.append((LW_CONFIG_LOADER, loader)) }
      if let glibc { pairs += [(LW_CONFIG_GLIBC, glibc.version), (LW_CONFIG_GLIBC_LIBRARY, glibc.library)] }
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
        throw LacewingError(
          .badInput, "test name '\(test.name)' cannot name a link to the bundle; use letters, digits, '_' and '.'")
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
        throw LacewingError(
          .badInput, "env entries '\(other)' and '\(entry)' set one variable two ways; tests of one bundle share env")
      }
      envNames[entry[..<eq]] = entry
    }
    if let loader = config.loader, !loader.hasPrefix("/") || loader.contains("\0") {
      throw LacewingError(.badInput, "the interpreter's loader '\(loader)' is not an absolute path")
    }
    if let glibc = config.glibc {
      let parts = glibc.version.split(separator: ".", omittingEmptySubsequences: false)
      let digits = parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { ("0"..."9").contains($0) } }
      guard parts.count >= 2, parts.count <= 3, digits else {
        throw LacewingError(.badInput, "the glibc version '\(glibc.version)' is not x.y or x.y.z")
      }
      guard !glibc.library.isEmpty, !glibc.library.contains("/"), !glibc.library.contains("\0"),
        glibc.library != ".", glibc.library != ".."
      else { throw LacewingError(.badInput, "the glibc library '\(glibc.library)' is not a file name") }
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
      files.append(
        .init(
          path: FS.dirname(launcher) + "/" + BundleLayout.launcherVenv, data: Data(BundleLayout.launcherVenvText.utf8)))
    }
    return files
  }

  /// The runtime layer's key: SHA-256 over each runtime entry exactly as
  /// stored (local header, name and compressed bytes, then its directory
  /// record, which holds the mode, without the local header's offset, which
  /// depends on the entries before it), in directory order. Bundles that
  /// copied the same runtime layer get the same key; any difference in a
  /// byte of it gives another. The stem computes it again before it makes
  /// the layer a shared cache entry. nil: no runtime entries.
  public static func runtimeDigest(_ payload: Data) throws(LacewingError) -> String? {
    var digest = SHA256()
    var any = false
    let base = payload.startIndex
    for entry in try ZipIndex.entries(payload)
    where entry.name.hasPrefix(LW_RUNTIME_PREFIX) || entry.name == LW_RUNTIME_PACK {
      digest.update(payload[(base + entry.localOffset)..<(base + entry.dataEnd)])
      digest.update(payload[(base + entry.record.lowerBound)..<(base + entry.record.lowerBound + 42)])
      digest.update(payload[(base + entry.record.lowerBound + 46)..<(base + entry.record.upperBound)])
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
