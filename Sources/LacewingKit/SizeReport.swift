import FoundationEssentials
import LacewingFormat

/// What a bundle is made of, by category, with its largest entries: written
/// next to every bundle as JSON (for tools) and as a table (for people).
/// Files inside a packed runtime count in their categories by extracted size;
/// their compressed bytes are the pack's, which is a category of its own.
public struct SizeReport: Codable, Equatable, Sendable {
  public struct Category: Codable, Equatable, Sendable {
    public var name: String
    public var files: Int
    /// As stored in the bundle (compressed); 0 for files in the pack.
    public var bytes: Int
    public var uncompressedBytes: Int
    /// Some of its files are inside the runtime pack.
    public var inPack: Bool = false
  }

  public struct Item: Codable, Equatable, Sendable {
    public var path: String
    public var category: String
    /// nil for a file inside the runtime pack.
    public var bytes: Int?
    public var uncompressedBytes: Int
  }

  /// What the bundle needs of the host it runs on (its config's "loader",
  /// "glibc" and "glibc_library"), which the stem checks at every start.
  public struct HostNeeds: Codable, Equatable, Sendable {
    public var loader: String?
    /// "2.34": GLIBC_2.34 or newer.
    public var glibc: String?
    /// Where the stem looks for that version: "libc.so.6".
    public var glibcLibrary: String?

    public init(loader: String?, glibc: String?, glibcLibrary: String?) {
      self.loader = loader
      self.glibc = glibc
      self.glibcLibrary = glibcLibrary
    }

    /// One line for the table.
    var text: String {
      var parts: [String] = []
      if let glibc {
        parts.append("glibc \(glibc) or newer (GLIBC_\(glibc)" + (glibcLibrary.map { " in " + $0 } ?? "") + ")")
      }
      if let loader { parts.append("the loader " + loader) }
      return "needs " + parts.joined(separator: " and ")
    }
  }

  public var bundle: String
  public var totalBytes: Int
  /// nil: a bundle whose interpreter needs nothing checked (static, a script).
  public var host: HostNeeds?
  public var categories: [Category]
  public var largest: [Item]

  static let pack = "runtime pack (zstd)"
  static let overhead = "zip directory, config, trailer"

  /// In the order the table lists them.
  public static let categoryNames = [
    "stem", pack, "interpreter", "stdlib", "lib-dynload", "shared libraries", "extensions", "third-party packages",
    "test code", "data", overhead,
  ]

  /// The category of a payload path, from the bundle layout (see lacewing_format.h).
  public static func category(of path: String) -> String {
    if path == BundleLayout.runtimePack { return pack }
    if path.hasPrefix(BundleLayout.runtimeBinDir + "/") { return "interpreter" }
    if path.hasPrefix(BundleLayout.runtimeLibDir + "/") {
      // python/lib/<library>, python/lib/python3.X/lib-dynload/<module>.
      let rest = path.dropFirst(BundleLayout.runtimeLibDir.count + 1).split(separator: "/")
      if rest.count == 1 { return "shared libraries" }
      if rest.count > 2 && rest[1] == BundleLayout.dynloadDir { return "lib-dynload" }
      return "stdlib"
    }
    if path.hasPrefix(BundleLayout.runtimePrefix) { return "stdlib" }
    let top = path.prefix { $0 != "/" }
    if top + "/" == BundleLayout.testDir { return "test code" }
    switch top {
    case BundleLayout.libDir: return "shared libraries"
    case BundleLayout.extDir: return "extensions"
    case BundleLayout.siteDir: return "third-party packages"
    default: return "data"
    }
  }

  /// `packed`: what the runtime pack holds (make-archive --pack-index).
  /// `totalBytes` is the bundle file's size, which the categories must add
  /// up to: each is counted from what it is made of, never as a remainder.
  public init(
    bundle: String, stemBytes: Int, payload: Data, configBytes: Int, trailerBytes: Int, totalBytes: Int,
    packed: [PayloadArchive.PackedFile] = [], host: HostNeeds? = nil, largestCount: Int = 15
  ) throws(LacewingError) {
    let entries = try ZipIndex.entries(payload)
    let directoryBytes = payload.count - (try ZipIndex.centralDirectoryOffset(payload))
    var sums: [String: Category] = [:]
    for name in SizeReport.categoryNames { sums[name] = Category(name: name, files: 0, bytes: 0, uncompressedBytes: 0) }
    sums["stem"] = Category(name: "stem", files: 1, bytes: stemBytes, uncompressedBytes: stemBytes)
    var items: [Item] = []
    for e in entries {
      let c = SizeReport.category(of: e.name)
      sums[c]!.files += 1
      sums[c]!.bytes += e.compressedSize
      sums[c]!.uncompressedBytes += e.size
      items.append(Item(path: e.name, category: c, bytes: e.compressedSize, uncompressedBytes: e.size))
    }
    if entries.contains(where: { $0.name == LW_RUNTIME_PACK }) {
      for f in packed {
        let c = SizeReport.category(of: f.path)
        sums[c]!.files += 1
        sums[c]!.uncompressedBytes += f.size
        sums[c]!.inPack = true
        items.append(Item(path: f.path, category: c, bytes: nil, uncompressedBytes: f.size))
      }
    }
    // Each entry's local header (and any data descriptor) is zip structure
    // too; its compressed bytes are its category's.
    let localHeaderBytes = entries.reduce(0) { $0 + ($1.dataEnd - $1.localOffset - $1.compressedSize) }
    let overhead = localHeaderBytes + directoryBytes + configBytes + trailerBytes
    sums[SizeReport.overhead]!.bytes = overhead
    sums[SizeReport.overhead]!.uncompressedBytes = overhead
    let accounted = sums.values.reduce(0) { $0 + $1.bytes }
    // Bytes no category explains (a gap between zip entries, a fuse layout
    // this report does not know) would otherwise vanish into a remainder.
    guard accounted == totalBytes else {
      throw LacewingError(
        .badInput,
        "the size report of \(bundle) does not add up: stem, entries, zip headers and directory, config and "
          + "trailer make \(accounted) bytes, the bundle has \(totalBytes); rebuild the payload with make-archive "
          + "(a zip written by another tool may have bytes between its entries)")
    }
    self.bundle = bundle
    self.totalBytes = totalBytes
    self.host = host
    self.categories = SizeReport.categoryNames.map { sums[$0]! }.filter { $0.files > 0 || $0.bytes > 0 }
    // Packed files rank by what they expand to: the pack has no per-file size.
    self.largest = Array(
      items.sorted { ($0.bytes ?? $0.uncompressedBytes, $1.path) > ($1.bytes ?? $1.uncompressedBytes, $0.path) }
        .prefix(largestCount))
  }

  public var json: Data { JSONFile.encode(self, snakeCaseKeys: true) }

  public var table: String {
    func mb(_ n: Int) -> String { cFormat("%.2f MB", Double(n) / 1_000_000) }
    func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
      let fill = String(repeating: " ", count: max(0, n - s.count))
      return left ? fill + s : s + fill
    }
    var out = "\(bundle): \(totalBytes) bytes (\(mb(totalBytes)))\n"
    if let host { out += host.text + "\n" }
    out += "\n"
    out +=
      pad("category", 32) + pad("files", 7, left: true) + pad("in bundle", 12, left: true)
      + pad("extracted", 12, left: true) + pad("share", 8, left: true) + "\n"
    for c in categories {
      let packedOnly = c.inPack && c.bytes == 0
      let share =
        packedOnly ? "" : cFormat("%.1f%%", totalBytes == 0 ? 0 : Double(c.bytes) * 100 / Double(totalBytes))
      out +=
        pad(c.name, 32) + pad("\(c.files)", 7, left: true) + pad(packedOnly ? "in pack" : mb(c.bytes), 12, left: true)
        + pad(mb(c.uncompressedBytes), 12, left: true) + pad(share, 8, left: true) + "\n"
    }
    out += "\nlargest entries (bytes in bundle, extracted):\n"
    for item in largest {
      out +=
        pad(item.bytes.map { "\($0)" } ?? "in pack", 10, left: true) + pad("\(item.uncompressedBytes)", 11, left: true)
        + "  " + item.path + "  (\(item.category))\n"
    }
    return out
  }
}
