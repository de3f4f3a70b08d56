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
    // Local and central headers share these fields, in this order.
    func common(_ d: inout Data, at o: Int) {
      put16(&d, o, version)
      put16(&d, o + 4, f.method)
      put16(&d, o + 8, 0x21)
      put32(&d, o + 10, f.crc)
      put32(&d, o + 14, f.bytes.count)
      put32(&d, o + 18, f.size)
      put16(&d, o + 22, name.count)
    }
    var local = Data(count: 30)
    put32(&local, 0, 0x0403_4B50)
    common(&local, at: 4)
    local.append(name)
    local.append(f.bytes)
    var record = Data(count: 46)
    put32(&record, 0, 0x0201_4B50)
    put16(&record, 4, 3 << 8 | version)
    common(&record, at: 6)
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
