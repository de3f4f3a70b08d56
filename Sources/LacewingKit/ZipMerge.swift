import Foundation
import LacewingFormat

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
    // APPNOTE: version 6.3 is needed to extract an XZ entry, 2.0 otherwise.
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
