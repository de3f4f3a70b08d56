import Foundation
import LacewingKit
import Testing

/// ELF headers whose 64-bit fields, read as Int, overflow the reader's
/// arithmetic (found by fuzz/run.sh --harness elf): each must be refused as
/// bad input naming the file, not trap.
@Suite struct HostileELFTests {
  struct Segment {
    var type: Int
    var offset = 0
    var vaddr = 0
    var filesz = 0
  }

  /// A 64-bit little-endian x86-64 ELF: header, program headers at `phoff`
  /// (64 unless a test lies about it), then `tail` at offset 64 + 56 * n.
  static func elf(_ segments: [Segment], phoff: Int = 64, tail: Data = Data()) -> Data {
    var d = Data(count: 64)
    d.replaceSubrange(0..<8, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])
    d[16] = 3
    d[18] = 62
    put(&d, 32, phoff, 8)
    put(&d, 54, 56, 2)
    put(&d, 56, segments.count, 2)
    for s in segments {
      var p = Data(count: 56)
      put(&p, 0, s.type, 4)
      put(&p, 8, s.offset, 8)
      put(&p, 16, s.vaddr, 8)
      put(&p, 32, s.filesz, 8)
      d += p
    }
    return d + tail
  }

  static func put(_ d: inout Data, _ offset: Int, _ value: Int, _ width: Int) {
    for i in 0..<width { d[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
  }

  /// A dynamic section of (tag, value) pairs, DT_NULL-terminated.
  static func dynamic(_ entries: [(Int, Int)]) -> Data {
    var d = Data(count: 16 * (entries.count + 1))
    for (i, (tag, value)) in entries.enumerated() {
      put(&d, 16 * i, tag, 8)
      put(&d, 16 * i + 8, value, 8)
    }
    return d
  }

  /// One PT_LOAD mapping the whole file at vaddr 0 and a PT_DYNAMIC over
  /// `entries`, with a string table "\0libc.so.6\0" after it.
  static func dynamicELF(_ entries: [(Int, Int)], load: Segment? = nil) -> Data {
    let start = 64 + 2 * 56
    let table = dynamic(entries)
    let strings = Data("\0libc.so.6\0".utf8)
    let size = start + table.count + strings.count
    return elf(
      [
        load ?? Segment(type: 1, offset: 0, vaddr: 0, filesz: size),
        Segment(type: 2, offset: start, filesz: table.count),
      ],
      tail: table + strings)
  }

  static var stringsAt: Int { 64 + 2 * 56 }

  static let cases: [(String, Data)] = [
    ("program headers near Int.max", elf([Segment(type: 1)], phoff: Int.max - 8)),
    ("dynamic section near Int.max", elf([Segment(type: 2, offset: Int.max - 8, filesz: 64)])),
    (
      "load segment whose end overflows",
      dynamicELF([(5, Int.max - 0x800)], load: Segment(type: 1, offset: 0, vaddr: Int.max - 0xFFF, filesz: 0x10000))
    ),
    ("load segment at a negative offset", dynamicELF([(5, 0)], load: Segment(type: 1, offset: -1, filesz: 0x1000))),
    ("string index near Int.max", dynamicELF([(5, stringsAt + 16 * 3), (1, Int.max - 8)])),
    ("negative count of version needs", dynamicELF([(5, stringsAt + 16 * 4), (0x6fff_fffe, 0), (0x6fff_ffff, -1)])),
    ("program interpreter near Int.max", elf([Segment(type: 3, offset: Int.max - 8, filesz: 64)])),
    ("program interpreter past the end", elf([Segment(type: 3, offset: 100, filesz: 64)])),
  ]

  @Test(arguments: cases.map(\.0))
  func isRefusedNamingTheFile(_ name: String) {
    let data = Self.cases.first { $0.0 == name }!.1
    #expect {
      _ = try ELFFile(data, name: "hostile.so")
    } throws: { error in
      let e = error as? LacewingError
      return e?.code == .badInput && e?.message.hasPrefix("hostile.so: not a valid ELF file") == true
    }
  }

  /// The builder makes files the reader accepts, so the cases above fail
  /// for the one field each of them lies about.
  @Test func anHonestFileOfTheSameShapeIsRead() throws {
    let elf = try ELFFile(Self.dynamicELF([(5, Self.stringsAt + 16 * 3), (1, 1)]), name: "honest.so")
    #expect(elf.needed == ["libc.so.6"])
    let path = Data("/lib/ld.so\0".utf8)
    let program = try ELFFile(Self.elf([Segment(type: 3, offset: 120, filesz: path.count)], tail: path), name: "p")
    #expect(program.interpreter == "/lib/ld.so" && program.hasInterpreter)
  }
}
