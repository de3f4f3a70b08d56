import CLiblzma
import Foundation
import LacewingFormat

/// A zip's central directory, read from the bytes: what each entry costs as
/// stored and where it lies. No zip64 (a payload never needs it).
public enum ZipIndex {
  public struct Entry: Equatable, Sendable {
    public var name: String
    public var compressedSize: Int
    public var size: Int
    /// Offset of the entry's local header.
    public var localOffset: Int
    /// Offset just past its compressed data.
    public var dataEnd: Int
    /// The entry's central directory record, as stored.
    var record: Range<Int>
  }

  public static func entries(_ zip: Data) throws(LacewingError) -> [Entry] {
    let bytes = [UInt8](zip)
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    var p = try Fuser.centralDirectoryOffset(zip)
    var out: [Entry] = []
    while p + 46 <= bytes.count, u32(p) == 0x0201_4B50 {
      let nameLength = u16(p + 28), extra = u16(p + 30), comment = u16(p + 32)
      let local = u32(p + 42)
      guard p + 46 + nameLength <= bytes.count, local + 30 <= bytes.count, u32(local) == 0x0403_4B50 else { break }
      let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
      let compressed = u32(p + 20)
      let dataEnd = local + 30 + u16(local + 26) + u16(local + 28) + compressed
      guard dataEnd <= bytes.count else { break }
      let end = p + 46 + nameLength + extra + comment
      out.append(
        Entry(
          name: name, compressedSize: compressed, size: u32(p + 24), localOffset: local, dataEnd: dataEnd,
          record: p..<end))
      p = end
    }
    guard p + 4 <= bytes.count, u32(p) == 0x0605_4B50 else {
      throw LacewingError(.badInput, "the payload's zip directory is damaged; rebuild it")
    }
    return out
  }
}

/// Joins zips entry by entry as they are stored: no entry is inflated or
/// compressed again, so adding a test to a 10 MB runtime layer costs a copy.
public enum ZipMerge {
  /// A file to add: stored as it is (a .pyz is a zip already), or packed
  /// into one xz stream (method 95).
  public struct StoredFile {
    public var path: String
    public var mode: Int
    var method: Int
    var crc: Int
    var size: Int
    var bytes: Data

    public init(path: String, data: Data, mode: Int = 0o644) {
      self.path = path
      self.mode = mode
      method = 0
      crc = Int(CRC32.checksum(data))
      size = data.count
      bytes = data
    }

    /// xz preset 0-9, as `xz -N`.
    public init(path: String, xz data: Data, preset: Int, mode: Int = 0o644) throws(LacewingError) {
      self.path = path
      self.mode = mode
      method = Int(LW_ZIP_METHOD_XZ)
      crc = Int(CRC32.checksum(data))
      size = data.count
      bytes = try XZ.compress(data, preset: preset)
    }
  }

  /// Entries come out sorted by name, as make-archive writes them; a name
  /// in two inputs is an error naming both.
  public static func merge(_ zips: [(label: String, data: Data)], adding files: [StoredFile] = [])
    throws(LacewingError) -> Data
  {
    var items: [(name: String, local: Data, record: Data)] = []
    var origin: [String: String] = [:]
    for zip in zips {
      let base = zip.data.startIndex
      for e in try ZipIndex.entries(zip.data) {
        if let other = origin[e.name] {
          throw LacewingError(.badInput, "\(e.name) is in both \(other) and \(zip.label); rename one")
        }
        origin[e.name] = zip.label
        items.append(
          (e.name, zip.data[(base + e.localOffset)..<(base + e.dataEnd)],
           zip.data[(base + e.record.lowerBound)..<(base + e.record.upperBound)]))
      }
    }
    for f in files {
      if let other = origin[f.path] {
        throw LacewingError(.badInput, "\(f.path) is in both \(other) and the files added; rename one")
      }
      origin[f.path] = "the files added"
      let (local, record) = storedEntry(f)
      items.append((f.path, local, record))
    }
    items.sort { $0.name < $1.name }
    var out = Data()
    out.reserveCapacity(items.reduce(0) { $0 + $1.local.count + $1.record.count } + 22)
    var offsets: [Int] = []
    for item in items {
      offsets.append(out.count)
      out.append(item.local)
    }
    let directory = out.count
    for (item, offset) in zip(items, offsets) {
      var record = Data(item.record)
      put32(&record, 42, offset)
      out.append(record)
    }
    guard items.count < 0xFFFF, out.count < 0xFFFF_FFFF else {
      throw LacewingError(.badInput, "the payload needs zip64 (\(items.count) entries, \(out.count) bytes); bundle less")
    }
    var end = Data(count: 22)
    put32(&end, 0, 0x0605_4B50)
    put16(&end, 8, items.count)
    put16(&end, 10, items.count)
    put32(&end, 12, out.count - directory)
    put32(&end, 16, directory)
    out.append(end)
    return out
  }

  /// DOS date 1980-01-01 00:00 (as make-archive's entries), Unix mode.
  static func storedEntry(_ f: StoredFile) -> (local: Data, record: Data) {
    let name = Data(f.path.utf8)
    // APPNOTE: version 6.3 is needed to extract an XZ entry, 2.0 otherwise.
    let version = f.method == 0 ? 20 : 63
    var local = Data(count: 30)
    put32(&local, 0, 0x0403_4B50)
    put16(&local, 4, version)
    put16(&local, 8, f.method)
    put16(&local, 12, 0x21)
    put32(&local, 14, f.crc)
    put32(&local, 18, f.bytes.count)
    put32(&local, 22, f.size)
    put16(&local, 26, name.count)
    local.append(name)
    local.append(f.bytes)
    var record = Data(count: 46)
    put32(&record, 0, 0x0201_4B50)
    put16(&record, 4, 3 << 8 | version)
    put16(&record, 6, version)
    put16(&record, 10, f.method)
    put16(&record, 14, 0x21)
    put32(&record, 16, f.crc)
    put32(&record, 20, f.bytes.count)
    put32(&record, 24, f.size)
    put16(&record, 28, name.count)
    put32(&record, 38, (0o100000 | f.mode) << 16)
    record.append(name)
    return (local, record)
  }

  private static func put16(_ d: inout Data, _ o: Int, _ v: Int) {
    d[d.startIndex + o] = UInt8(v & 0xFF)
    d[d.startIndex + o + 1] = UInt8(v >> 8 & 0xFF)
  }

  private static func put32(_ d: inout Data, _ o: Int, _ v: Int) {
    put16(&d, o, v & 0xFFFF)
    put16(&d, o + 2, v >> 16 & 0xFFFF)
  }
}

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

  public var bundle: String
  public var totalBytes: Int
  public var categories: [Category]
  public var largest: [Item]

  static let pack = "runtime pack (xz)"
  static let overhead = "zip directory, config, trailer"

  /// In the order the table lists them.
  public static let categoryNames = [
    "stem", pack, "interpreter", "stdlib", "lib-dynload", "shared libraries", "extensions", "test code", "data", overhead,
  ]

  /// The category of a payload path, from the bundle layout (see lacewing_format.h).
  public static func category(of path: String) -> String {
    if path == LW_RUNTIME_PACK { return pack }
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    switch parts.first {
    case "python":
      if parts.count > 1 && parts[1] == "bin" { return "interpreter" }
      if parts.count == 3 && parts[1] == "lib" { return "shared libraries" }
      if parts.count > 3 && parts[3] == "lib-dynload" { return "lib-dynload" }
      return "stdlib"
    case "lib": return "shared libraries"
    case "ext": return "extensions"
    case "test": return "test code"
    default: return "data"
    }
  }

  /// `packed`: what the runtime pack holds (make-archive --pack-index).
  public init(
    bundle: String, stemBytes: Int, payload: Data, totalBytes: Int, packed: [Archiver.PackedFile] = [],
    largestCount: Int = 15
  ) throws(LacewingError) {
    let entries = try ZipIndex.entries(payload)
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
    let accounted = sums.values.reduce(0) { $0 + $1.bytes }
    sums[SizeReport.overhead]!.bytes = totalBytes - accounted
    sums[SizeReport.overhead]!.uncompressedBytes = totalBytes - accounted
    self.bundle = bundle
    self.totalBytes = totalBytes
    self.categories = SizeReport.categoryNames.map { sums[$0]! }.filter { $0.files > 0 || $0.bytes > 0 }
    // Packed files rank by what they expand to: the pack has no per-file size.
    self.largest = Array(
      items.sorted { ($0.bytes ?? $0.uncompressedBytes, $1.path) > ($1.bytes ?? $1.uncompressedBytes, $0.path) }
        .prefix(largestCount))
  }

  public var json: Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return (try? encoder.encode(self)) ?? Data()
  }

  public var table: String {
    func mb(_ n: Int) -> String { String(format: "%.2f MB", Double(n) / 1_000_000) }
    func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
      let fill = String(repeating: " ", count: max(0, n - s.count))
      return left ? fill + s : s + fill
    }
    var out = "\(bundle): \(totalBytes) bytes (\(mb(totalBytes)))\n\n"
    out += pad("category", 32) + pad("files", 7, left: true) + pad("in bundle", 12, left: true)
      + pad("extracted", 12, left: true) + pad("share", 8, left: true) + "\n"
    for c in categories {
      let packedOnly = c.inPack && c.bytes == 0
      let share = packedOnly ? "" : String(format: "%.1f%%", totalBytes == 0 ? 0 : Double(c.bytes) * 100 / Double(totalBytes))
      out += pad(c.name, 32) + pad("\(c.files)", 7, left: true) + pad(packedOnly ? "in pack" : mb(c.bytes), 12, left: true)
        + pad(mb(c.uncompressedBytes), 12, left: true) + pad(share, 8, left: true) + "\n"
    }
    out += "\nlargest entries (bytes in bundle, extracted):\n"
    for item in largest {
      out += pad(item.bytes.map { "\($0)" } ?? "in pack", 10, left: true) + pad("\(item.uncompressedBytes)", 11, left: true)
        + "  " + item.path + "  (\(item.category))\n"
    }
    return out
  }
}

/// xz (liblzma), for the packed runtime layer.
public enum XZ {
  public static func compress(_ data: Data, preset: Int) throws(LacewingError) -> Data {
    var out = Data(count: lzma_stream_buffer_bound(data.count))
    var written = 0
    let rc = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        lzma_easy_buffer_encode(
          UInt32(max(0, min(9, preset))), LZMA_CHECK_CRC32, nil, input.baseAddress?.assumingMemoryBound(to: UInt8.self),
          input.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, output.count)
      }
    }
    guard rc == LZMA_OK else { throw LacewingError(.io, "xz compression failed (liblzma error \(rc.rawValue))") }
    return out.prefix(written)
  }

  /// One whole .xz stream that must expand to exactly `size` bytes.
  public static func decompress(_ data: Data, size: Int) throws(LacewingError) -> Data {
    var out = Data(count: size)
    var memlimit: UInt64 = 1 << 30
    var inPos = 0, outPos = 0
    let rc = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        lzma_stream_buffer_decode(
          &memlimit, 0, nil, input.baseAddress?.assumingMemoryBound(to: UInt8.self), &inPos, input.count,
          output.baseAddress?.assumingMemoryBound(to: UInt8.self), &outPos, output.count)
      }
    }
    guard rc == LZMA_OK, inPos == data.count, outPos == size else {
      throw LacewingError(.badInput, "the packed runtime's xz stream is damaged (liblzma error \(rc.rawValue)); rebuild it")
    }
    return out
  }
}
