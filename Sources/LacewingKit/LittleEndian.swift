import FoundationEssentials

/// Little-endian integers in bytes read from a file (zip records, ELF
/// headers). The caller checks offsets against `count` first: the formats
/// say where each field is, and a file that lies must fail as bad input,
/// not trap.
///
/// It reads the Data in place: a copy into an array cost fuse-stub a
/// megabyte of page faults per megabyte of payload, once per look at a
/// payload's zip directory (five per bundle).
struct LittleEndianBytes {
  private let data: Data

  init(_ data: Data) { self.data = data }

  var count: Int { data.count }

  /// Whether `length` bytes at `offset` lie inside. The operands come from
  /// the file (64-bit fields read as Int can be negative or near Int.max),
  /// so the sum the naive check would form may overflow, and trap.
  func contains(_ offset: Int, length: Int) -> Bool {
    offset >= 0 && length >= 0 && offset <= count && length <= count - offset
  }
  subscript(offset: Int) -> UInt8 { data[data.startIndex + offset] }

  /// The bytes in `range`, offsets as for the subscript.
  func slice(_ range: Range<Int>) -> Data {
    data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)]
  }

  func u16(_ o: Int) -> Int { Int(self[o]) | Int(self[o + 1]) << 8 }
  func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
  func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
}

extension Data {
  /// Writes `value`'s low 16 (32) bits at `offset`, little-endian.
  mutating func put16(_ offset: Int, _ value: Int) {
    self[startIndex + offset] = UInt8(value & 0xFF)
    self[startIndex + offset + 1] = UInt8(value >> 8 & 0xFF)
  }

  mutating func put32(_ offset: Int, _ value: Int) {
    put16(offset, value & 0xFFFF)
    put16(offset + 2, value >> 16 & 0xFFFF)
  }
}
