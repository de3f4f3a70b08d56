import FoundationEssentials
import LacewingFormat

/// Joins zips entry by entry as they are stored: no entry is inflated or
/// compressed again, so adding a test to a 10 MB runtime layer costs a copy.
public enum ZipMerge {
  /// A file to add: stored as it is (a .pyz is a zip already), packed into
  /// one zstd frame (method 93), or, inside a pack, through the x86 filter.
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

    /// A runtime pack (lacewing_format.h) at zstd `level`.
    public init(path: String, zstd data: Data, level: Int, mode: Int = 0o644) throws(LacewingError) {
      self.init(path: path, data: data, mode: mode)
      method = Int(LW_ZIP_METHOD_ZSTD)
      bytes = try Zstd.compress(data, level: level)
    }

    /// `compressed`, already encoded by `method`, standing for `data`: for
    /// tests that write what no tool of ours would.
    public init(path: String, method: Int, compressed: Data, of data: Data, mode: Int = 0o644) {
      self.init(path: path, data: data, mode: mode)
      self.method = method
      bytes = compressed
    }

    /// A member of a runtime pack: an x86-64 ELF goes through the branch
    /// filter (lacewing_format.h), anything else is stored.
    public init(packMember path: String, data: Data, mode: Int) {
      self.init(path: path, data: data, mode: mode)
      guard ELFFile.isX64(data) else { return }
      method = Int(LW_ZIP_METHOD_X86)
      bytes = X86Filter.apply(data, encode: true)
    }

    /// Back to the file it was, for readers of an unpacked pack (libzip
    /// knows no filter): stored, the filter undone.
    func unfiltered() -> StoredFile {
      guard method == Int(LW_ZIP_METHOD_X86) else { return self }
      return StoredFile(path: path, data: X86Filter.apply(bytes, encode: false), mode: mode)
    }
  }

  /// The pack's own zip: `files` in the order given (lacewing_format.h:
  /// the layout is part of how small it compresses).
  public static func archive(inOrder files: [StoredFile]) throws(LacewingError) -> Data {
    try write(
      files.map { f in
        let (local, record) = storedEntry(f)
        return (f.path, local, record)
      })
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
          (
            e.name, zip.data[(base + e.localOffset)..<(base + e.dataEnd)],
            zip.data[(base + e.record.lowerBound)..<(base + e.record.upperBound)]
          ))
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
    return try write(items)
  }

  private static func write(_ items: [(name: String, local: Data, record: Data)]) throws(LacewingError) -> Data {
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
      record.put32(42, offset)
      out.append(record)
    }
    guard items.count < 0xFFFF, out.count < 0xFFFF_FFFF else {
      throw LacewingError(
        .badInput, "the payload needs zip64 (\(items.count) entries, \(out.count) bytes); bundle less")
    }
    var end = Data(count: 22)
    end.put32(0, 0x0605_4B50)
    end.put16(8, items.count)
    end.put16(10, items.count)
    end.put32(12, out.count - directory)
    end.put32(16, directory)
    out.append(end)
    return out
  }

  /// DOS date 1980-01-01 00:00 (as make-archive's entries), Unix mode.
  static func storedEntry(_ f: StoredFile) -> (local: Data, record: Data) {
    let name = Data(f.path.utf8)
    // APPNOTE: version 6.3 is needed to extract a Zstandard entry, 2.0 a
    // stored one (and our own filtered members, which no one else reads).
    let version = f.method == 0 ? 20 : 63
    // Local and central headers share these fields, in this order.
    func common(_ d: inout Data, at o: Int) {
      d.put16(o, version)
      d.put16(o + 4, f.method)
      d.put16(o + 8, 0x21)
      d.put32(o + 10, f.crc)
      d.put32(o + 14, f.bytes.count)
      d.put32(o + 18, f.size)
      d.put16(o + 22, name.count)
    }
    var local = Data(count: 30)
    local.put32(0, 0x0403_4B50)
    common(&local, at: 4)
    local.append(name)
    local.append(f.bytes)
    var record = Data(count: 46)
    record.put32(0, 0x0201_4B50)
    record.put16(4, 3 << 8 | version)
    common(&record, at: 6)
    record.put32(38, (0o100000 | f.mode) << 16)
    record.append(name)
    return (local, record)
  }
}
