import FoundationEssentials

/// A zip's central directory, read from the bytes: what each entry costs as
/// stored and where it lies. No zip64 (a payload never needs it).
public enum ZipIndex {
  public struct Entry: Equatable, Sendable {
    public var name: String
    public var crc32: UInt32
    public var compressedSize: Int
    public var size: Int
    /// Offset of the entry's local header.
    public var localOffset: Int
    /// Offset just past its compressed data.
    public var dataEnd: Int
    /// The entry's central directory record, as stored.
    var record: Range<Int>

    /// The entry's compressed bytes in `zip`.
    func data(in zip: Data) -> Data {
      zip[(zip.startIndex + dataEnd - compressedSize)..<(zip.startIndex + dataEnd)]
    }
  }

  public static func entries(_ zip: Data) throws(LacewingError) -> [Entry] {
    let bytes = LittleEndianBytes(zip)
    var p = try centralDirectoryOffset(zip)
    var out: [Entry] = []
    while p + 46 <= bytes.count, bytes.u32(p) == 0x0201_4B50 {
      let nameLength = bytes.u16(p + 28)
      let extra = bytes.u16(p + 30)
      let comment = bytes.u16(p + 32)
      let local = bytes.u32(p + 42)
      guard p + 46 + nameLength <= bytes.count, local + 30 <= bytes.count, bytes.u32(local) == 0x0403_4B50 else {
        break
      }
      let name = String(decoding: bytes.slice((p + 46)..<(p + 46 + nameLength)), as: UTF8.self)
      let compressed = bytes.u32(p + 20)
      let dataEnd = local + 30 + bytes.u16(local + 26) + bytes.u16(local + 28) + compressed
      guard dataEnd <= bytes.count else { break }
      let end = p + 46 + nameLength + extra + comment
      out.append(
        Entry(
          name: name, crc32: UInt32(bytes.u32(p + 16)), compressedSize: compressed, size: bytes.u32(p + 24),
          localOffset: local, dataEnd: dataEnd,
          record: p..<end))
      p = end
    }
    guard p + 4 <= bytes.count, bytes.u32(p) == 0x0605_4B50 else {
      throw LacewingError(.badInput, "the payload's zip directory is damaged; rebuild it")
    }
    return out
  }

  /// Where the central directory starts, read from the zip's end record
  /// (searched backwards: a zip comment may follow it).
  static func centralDirectoryOffset(_ zip: Data) throws(LacewingError) -> Int {
    let bytes = LittleEndianBytes(zip.suffix(22 + 0xFFFF))
    let base = zip.count - bytes.count
    var p = bytes.count - 22
    while p >= 0 {
      if bytes[p] == 0x50, bytes[p + 1] == 0x4B, bytes[p + 2] == 5, bytes[p + 3] == 6,
        p + 22 + bytes.u16(p + 20) == bytes.count
      {
        let offset = bytes.u32(p + 16)
        guard offset <= base + p else { break }
        return offset
      }
      p -= 1
    }
    throw LacewingError(.badInput, "the payload is not a zip archive (no end-of-central-directory record)")
  }
}
