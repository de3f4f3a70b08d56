import Foundation

/// Little-endian integers in bytes read from a file (zip records, ELF
/// headers). The caller checks offsets against `count` first: the formats
/// say where each field is, and a file that lies must fail as bad input,
/// not trap.
struct LittleEndianBytes {
  let bytes: [UInt8]

  init(_ data: Data) { bytes = [UInt8](data) }

  var count: Int { bytes.count }
  subscript(offset: Int) -> UInt8 { bytes[offset] }

  func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
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
