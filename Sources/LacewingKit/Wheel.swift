import CLibzip
import FoundationEssentials

/// A third-party package as a wheel (PEP 427): what it is built for, and
/// where each of its files lands when installed. Pure-Python wheels join the
/// test's .pyz; wheels with native code are laid out in the bundle's site/
/// directory, as pip would install them, so auditwheel's `$ORIGIN` RUNPATHs
/// into `<pkg>.libs/` keep working unchanged.
public struct Wheel {
  public struct File {
    /// The member's name in the wheel.
    public var member: String
    /// Where it lands, relative to site-packages.
    public var path: String
  }

  public let path: String
  public let name: String
  public let pythonTags: [String]
  public let abiTags: [String]
  public let platformTags: [String]
  /// Installed files; .data/ scripts and headers are left out.
  public let files: [File]
  /// No ELF, and the wheel says its root is purelib.
  public let isPure: Bool

  public init(_ path: String) throws(LacewingError) {
    self.path = path
    let base = FS.basename(path)
    let parts = base.hasSuffix(".whl") ? base.dropLast(4).split(separator: "-").map(String.init) : []
    guard parts.count == 5 || parts.count == 6 else {
      throw LacewingError(.badInput, "\(path) is not named like a wheel (name-version-python-abi-platform.whl)")
    }
    name = parts[0]
    pythonTags = parts[parts.count - 3].split(separator: ".").map(String.init)
    abiTags = parts[parts.count - 2].split(separator: ".").map(String.init)
    platformTags = parts[parts.count - 1].split(separator: ".").map(String.init)
    guard FS.exists(path) else {
      throw .unreadable(path, "no such wheel; fetch the pinned wheels with build/fetch-wheels.sh")
    }
    let names = try ZipReaderHandle(path: path).names
    var files: [File] = []
    var purelib = false
    for member in names where !member.hasSuffix("/") {
      let components = member.split(separator: "/", omittingEmptySubsequences: false)
      if components.contains("..") || member.hasPrefix("/") {
        throw LacewingError(.badInput, "\(path) holds \(member), which points outside its install directory")
      }
      if let first = components.first, first.hasSuffix(".data") {
        // name.data/purelib/x and name.data/platlib/x install at x.
        guard components.count > 2, components[1] == "purelib" || components[1] == "platlib" else { continue }
        files.append(File(member: member, path: components.dropFirst(2).joined(separator: "/")))
        continue
      }
      files.append(File(member: member, path: member))
      if member.hasSuffix(".dist-info/WHEEL") {
        let text = try Self.read(member, from: path)
        purelib = String(decoding: text, as: UTF8.self).split(separator: "\n").contains {
          $0.lowercased().replacing(" ", with: "") == "root-is-purelib:true"
        }
      }
    }
    self.files = files.sorted { $0.path < $1.path }
    isPure = purelib && !files.contains { Wheel.isSharedObject($0.path) }
  }

  static func isSharedObject(_ path: String) -> Bool {
    let base = FS.basename(path)
    return base.hasSuffix(".so") || base.contains(".so.")
  }

  /// Refuses a wheel built for another Python, ABI or platform than
  /// `runtime` (the interpreter's versioned name, e.g. "python3.12") on
  /// x86-64 glibc Linux, or, given `maxGlibc` (the build's glibc floor,
  /// e.g. "2.31"), one whose every platform tag needs a newer glibc. The
  /// tags follow the runtime: cp312 for 3.12, and a cp3X-abi3 wheel for any
  /// X up to the runtime's minor version.
  public func check(runtime: String, maxGlibc: String? = nil) throws(LacewingError) {
    let parts = runtime.hasPrefix("python3.") ? runtime.dropFirst("python3.".count) : ""
    guard let minor = Int(parts), minor >= 0 else {
      throw LacewingError(
        .badInput,
        "cannot tell which CPython \(runtime) is, to check \(FS.basename(path)) against it; name a versioned "
          + "interpreter such as python3.11")
    }
    let version = "3\(minor)"
    let cp = "cp" + version
    let fix =
      "pin a wheel for \(cp) manylinux x86_64 in third_party/python/requirements.lock and run build/fetch-wheels.sh"
    // cp3X-abi3 needs CPython 3.X or newer.
    func stableABI(_ tag: String) -> Bool {
      tag.hasPrefix("cp3") && abiTags == ["abi3"] && (Int(tag.dropFirst(3)) ?? Int.max) <= minor
    }
    guard pythonTags.contains(where: { $0 == cp || $0 == "py3" || $0 == "py" + version || stableABI($0) }) else {
      throw LacewingError(
        .badInput,
        "\(FS.basename(path)) is built for \(pythonTags.joined(separator: ".")), not the bundled \(runtime) "
          + "(\(cp)); \(fix)")
    }
    guard abiTags.contains(where: { $0 == "none" || $0 == "abi3" || $0 == cp }) else {
      throw LacewingError(
        .badInput,
        "\(FS.basename(path)) needs the \(abiTags.joined(separator: ".")) ABI, not \(runtime)'s \(cp); \(fix)")
    }
    guard platformTags.contains(where: Wheel.runsOnGlibcX86)
    else {
      throw LacewingError(
        .badInput,
        "\(FS.basename(path)) is built for \(platformTags.joined(separator: ".")), not x86-64 glibc Linux; \(fix)")
    }
    if let maxGlibc { try checkGlibc(floor: maxGlibc) }
  }

  /// Whether a platform tag is for x86-64 glibc Linux (or any platform).
  static func runsOnGlibcX86(_ tag: String) -> Bool {
    tag == "any" || tag == "linux_x86_64" || (tag.hasPrefix("manylinux") && tag.hasSuffix("_x86_64"))
  }

  /// The oldest glibc a platform tag says the wheel runs on: manylinux_X_Y
  /// (PEP 600) and the aliases before it, manylinux1 (2.5, PEP 513),
  /// manylinux2010 (2.12, PEP 571) and manylinux2014 (2.17, PEP 599). nil
  /// for a tag that names none: `any` needs no glibc, and `linux_x86_64`
  /// (a wheel built locally, never on PyPI) promises nothing, so its ELFs
  /// are held to the floor by the allowlist check's symbol versions alone.
  static func glibcNeeded(byTag tag: String) -> GlibcVersion? {
    switch tag {
    case "manylinux1_x86_64": return GlibcVersion(symbolVersion: "GLIBC_2.5")
    case "manylinux2010_x86_64": return GlibcVersion(symbolVersion: "GLIBC_2.12")
    case "manylinux2014_x86_64": return GlibcVersion(symbolVersion: "GLIBC_2.17")
    default:
      guard tag.hasPrefix("manylinux_"), tag.hasSuffix("_x86_64") else { return nil }
      let numbers = tag.dropFirst("manylinux_".count).dropLast("_x86_64".count).split(separator: "_")
      guard numbers.count == 2 else { return nil }
      return GlibcVersion(symbolVersion: "GLIBC_" + numbers.joined(separator: "."))
    }
  }

  /// A wheel fits the floor when any of its x86-64 glibc platform tags
  /// does: pip installs a wheel through any one of its tags.
  private func checkGlibc(floor: String) throws(LacewingError) {
    let limit = try GlibcVersion(floor: floor, family: "GLIBC_", option: "--max-glibc")
    let tags = platformTags.filter(Wheel.runsOnGlibcX86)
    var lowest: (tag: String, version: GlibcVersion)?
    for tag in tags {
      guard let needed = Wheel.glibcNeeded(byTag: tag), limit < needed else { return }
      if lowest.map({ needed < $0.version }) ?? true { lowest = (tag, needed) }
    }
    guard let lowest else { return }
    let version = lowest.version.parts.map(String.init)
    throw LacewingError(
      .badInput,
      "\(FS.basename(path)) needs glibc \(version.joined(separator: ".")) (\(lowest.tag)), above this build's glibc "
        + "floor \(floor) (lacewing_max_glibc); pin a wheel built for manylinux_"
        + "\(limit.parts.map(String.init).joined(separator: "_")) or older")
  }

  public static func read(_ member: String, from wheel: String) throws(LacewingError) -> Data {
    let zip = try ZipReaderHandle(path: wheel)
    return try zip.read(member)
  }

  /// The wheel's (name, version), normalized as pins are (PEP 503 names).
  public var pinKey: String {
    let parts = FS.basename(path).split(separator: "-")
    return Wheel.normalize(name) + "==" + (parts.count > 1 ? String(parts[1]) : "")
  }

  static func normalize(_ name: String) -> String {
    name.lowercased().replacing("_", with: "-").replacing(".", with: "-")
  }

  /// Pins ("name==version" -> sha256) read from a requirements lock.
  public static func readPins(_ lock: String) throws(LacewingError) -> [String: String] {
    let text = String(decoding: try FS.read(lock, what: "wheel lock"), as: UTF8.self)
    var pins: [String: String] = [:]
    for line in text.split(separator: "\n") {
      let bare = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let fields = bare.split(separator: " ").map(String.init)
      guard let spec = fields.first, let eq = spec.firstRange(of: "=="),
        let hash = fields.first(where: { $0.hasPrefix("--hash=sha256:") })
      else { continue }
      pins[normalize(String(spec[..<eq.lowerBound])) + "==" + spec[eq.upperBound...]] = String(
        hash.dropFirst("--hash=sha256:".count))
    }
    return pins
  }

  /// The build trusts a wheel only if its bytes are the ones pinned.
  public func verify(against pins: [String: String], lock: String) throws(LacewingError) {
    guard let pinned = pins[pinKey] else {
      throw LacewingError(
        .badInput,
        "\(FS.basename(path)) is not pinned in \(lock); add '\(pinKey) --hash=sha256:...' there and run "
          + "build/fetch-wheels.sh")
    }
    let actual = hexString(SHA256.hash(try FS.read(path, what: "wheel")))
    guard actual == pinned else {
      throw LacewingError(
        .badInput,
        "\(path) has sha256 \(actual), not the \(pinned) pinned for \(pinKey) in \(lock); run "
          + "build/fetch-wheels.sh to fetch the pinned wheel again")
    }
  }

  /// The wheels the JSON `lists` name, each checked against the `runtime`
  /// it will run on (the interpreter's versioned name; nil: not checked)
  /// and the glibc floor `maxGlibc` (nil: none), and against its pin in
  /// `lock`, without which wheels are refused.
  /// Returns them with every file read, for the depfile; the lock is read
  /// only when there are wheels, so a bundle without any does not depend
  /// on it.
  public static func checked(lists: [String], runtime: String?, lock: String?, maxGlibc: String? = nil)
    throws(LacewingError) -> (wheels: [Wheel], inputs: [String])
  {
    let paths = try readLists(lists)
    guard !paths.isEmpty else { return ([], lists) }
    // The templates always pass the lock; a tool run by hand or by another
    // build must not be the way around the pins.
    guard let lock else {
      throw LacewingError(
        .badInput,
        "\(paths.map(FS.basename).joined(separator: ", ")) cannot be checked against a pin: no --wheel-lock was "
          + "given; pass --wheel-lock with the requirements lock that pins every wheel (the templates pass "
          + "lacewing_wheel_lock, third_party/python/requirements.lock by default)")
    }
    let pins = try readPins(lock)
    var wheels: [Wheel] = []
    for path in paths {
      let wheel = try Wheel(path)
      if let runtime { try wheel.check(runtime: runtime, maxGlibc: maxGlibc) }
      try wheel.verify(against: pins, lock: lock)
      wheels.append(wheel)
    }
    return (wheels, lists + [lock] + paths)
  }

  /// Wheel paths from JSON lists written by GN metadata (lacewing_wheels).
  public static func readLists(_ paths: [String]) throws(LacewingError) -> [String] {
    var out: [String] = []
    for list in paths { out += try JSONFile.read([String].self, list, what: "list of wheels") }
    return Array(Set(out)).sorted()
  }
}
