import FoundationEssentials

/// What goes into a payload, written by collect-artifacts and read by
/// make-archive and the size report. Paths inside the archive use "/".
public struct BundleManifest: Codable, Equatable, Sendable {
  public enum Kind: String, Codable, Sendable {
    case interpreter, stdlib, dynload
    case sharedLibrary = "shared_library"
    case `extension`, data, config
    /// A file of a third-party wheel with native code, installed in site/.
    case site
  }

  public struct Entry: Codable, Equatable, Sendable {
    /// Where the file lands, relative to the extraction root.
    public var path: String
    public var kind: Kind
    /// The file to copy, relative to root_build_dir or absolute; nil when `content` is given.
    public var source: String?
    /// Inline text for generated files (e.g. the interpreter's ._pth).
    public var content: String?
    /// 0o755 for executables and shared objects, 0o644 otherwise.
    public var mode: Int
    /// An ELF's search path, which make-archive sets as its DT_RPATH
    /// (always "$ORIGIN"-relative; the field keeps the name it had when it
    /// was set as DT_RUNPATH).
    public var runpath: String?
    /// When `source` is a zip (a wheel): the member to copy.
    public var member: String?
    /// Libraries make-archive adds to the ELF's DT_NEEDED, so that the
    /// loader maps them at start: the interpreter preloads what glibc only
    /// ever dlopens by name (libgcc_s.so.1), which then finds it loaded.
    public var preload: [String]?

    public init(
      path: String, kind: Kind, source: String? = nil, content: String? = nil, mode: Int = 0o644,
      runpath: String? = nil, member: String? = nil
    ) {
      self.path = path
      self.kind = kind
      self.source = source
      self.content = content
      self.mode = mode
      self.runpath = runpath
      self.member = member
    }
  }

  public struct Exclusion: Codable, Equatable, Sendable {
    public var path: String
    public var reason: String
  }

  /// The manifest format the tools write and read: bumped when a field
  /// is added, dropped or changes meaning, so a manifest left by another
  /// collect-artifacts is refused by name rather than misread.
  public static let currentFormatVersion = 2
  public var formatVersion = BundleManifest.currentFormatVersion
  /// The bundle path of the interpreter and of the test, for fuse-stub.
  public var interpreter: String
  /// Runtime whose python compiles the bytecode (the original, unpatched file).
  public var compiler: String?
  /// The runtime interpreter's sys.path, as directories inside the bundle
  /// (its ._pth, rebased): the launchers' ._pth files name them too.
  public var modulePath: [String]
  /// The zip the stdlib's modules go in (collect-artifacts --stdlib-zip),
  /// a bundle path; entries under `stdlibZip/` are its members, which
  /// make-archive compiles and writes into it.
  public var stdlibZip: String?
  public var entries: [Entry]
  public var excluded: [Exclusion] = []

  public init(
    interpreter: String, compiler: String?, modulePath: [String] = [], stdlibZip: String? = nil, entries: [Entry],
    excluded: [Exclusion] = []
  ) {
    self.interpreter = interpreter
    self.compiler = compiler
    self.modulePath = modulePath
    self.stdlibZip = stdlibZip
    self.entries = entries
    self.excluded = excluded
  }

  /// One line per excluded path: where it would have landed, and the rule
  /// that left it out (change stdlib_exclude / exclude_modules to keep it).
  public var exclusionReport: String {
    "# left out of the bundle; see stdlib_exclude and exclude_modules\n"
      + excluded.map { "\($0.path)\t\($0.reason)\n" }.joined()
  }

  public func encoded() -> Data { JSONFile.encode(self) }

  public static func read(_ path: String) throws(LacewingError) -> BundleManifest {
    let data = try JSONFile.contents(
      path, what: "bundle manifest", missing: "is the collect-artifacts action a dependency?")
    // The version alone first: a manifest of another format need not
    // decode as this one, and the error should say which it is.
    struct Version: Decodable { var formatVersion: Int? }
    let version = try JSONFile.decode(Version.self, data, path, what: "bundle manifest").formatVersion
    guard version == currentFormatVersion else {
      throw LacewingError(
        .badInput,
        "\(path) is a bundle manifest of format \(version.map(String.init) ?? "none"), not "
          + "\(currentFormatVersion), the one these tools read: it was written by another collect-artifacts. "
          + "Rebuild it with this one "
          + "(ninja reruns collect-artifacts when the tool changes; a manifest written by hand needs formatVersion "
          + "\(currentFormatVersion) and this version's fields)")
    }
    return try JSONFile.decode(BundleManifest.self, data, path, what: "bundle manifest")
  }
}

/// One module source of the test's pyz, as GN metadata lists it.
public struct PythonSource: Codable, Equatable, Sendable {
  /// Relative to root_build_dir.
  public var source: String
  /// The module path inside the pyz, e.g. "lacewing_utils/fidl_ir.py".
  public var dest: String

  public init(source: String, dest: String) {
    self.source = source
    self.dest = dest
  }
}

enum JSONFile {
  /// Pretty, keys sorted, slashes as they are: the same value gives the
  /// same bytes, and a person can read and diff them. The tools encode
  /// plain structs of strings and numbers, which cannot fail.
  static func encode<T: Encodable>(_ value: T, snakeCaseKeys: Bool = false) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if snakeCaseKeys { encoder.keyEncodingStrategy = .convertToSnakeCase }
    return (try? encoder.encode(value)) ?? Data()
  }

  static func read<T: Decodable>(_ type: T.Type, _ path: String, what: String) throws(LacewingError) -> T {
    try decode(T.self, contents(path, what: what), path, what: what)
  }

  /// The file's bytes; `missing` says what to check when there is none.
  static func contents(_ path: String, what: String, missing: String? = nil) throws(LacewingError) -> Data {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(path, "no such file" + (missing.map { "; " + $0 } ?? " (\(what))"))
    }
    return data
  }

  static func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ path: String, what: String) throws(LacewingError)
    -> T
  {
    do {
      return try JSONDecoder().decode(T.self, from: data)
    } catch {
      throw LacewingError(.badInput, "\(path) is not a valid \(what): \(error)")
    }
  }
}

extension PythonSource {
  public static func readList(_ path: String) throws(LacewingError) -> [PythonSource] {
    try JSONFile.read([PythonSource].self, path, what: "list of python sources")
  }
}
