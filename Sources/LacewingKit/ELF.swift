import FoundationEssentials

/// What the dynamic loader reads from an ELF file: its dynamic section and
/// symbol version needs. Parsed from the bytes, never by running the file
/// (ldd can execute what it inspects).
/// Codable: a runtime check records its layer's ELFs this way, and each
/// bundle's check reads them back instead of unpacking the layer again.
public struct ELFFile: Codable, Equatable, Sendable {
  public var needed: [String] = []
  public var soname: String?
  public var rpath: [String] = []
  public var runpath: [String] = []
  /// Version names needed from each library, e.g. "libc.so.6": ["GLIBC_2.34"].
  public var versionNeeds: [String: [String]] = [:]
  /// False for a static executable (no PT_DYNAMIC).
  public var isDynamic = false
  public var hasInterpreter = false
  /// The program interpreter (PT_INTERP) a program asks the kernel for, its
  /// dynamic loader, e.g. "/lib64/ld-linux-x86-64.so.2"; nil without one.
  public var interpreter: String?

  /// An ELF with no dynamic section, to fill in by hand.
  public init() {}

  public static func isELF(_ data: Data) -> Bool {
    data.count >= 4 && data.prefix(4).elementsEqual([0x7F, 0x45, 0x4C, 0x46])
  }

  /// A 64-bit little-endian ELF for x86-64 (e_machine 62): the code the
  /// pack's branch filter knows.
  public static func isX64(_ data: Data) -> Bool {
    let b = data.startIndex
    return data.count >= 20 && isELF(data) && data[b + 4] == 2 && data[b + 5] == 1 && data[b + 18] == 62
      && data[b + 19] == 0
  }

  /// Where ld.so looks for this file's own DT_NEEDED before the system
  /// paths: DT_RUNPATH, or DT_RPATH when there is no RUNPATH.
  public var searchPath: [String] { runpath.isEmpty ? rpath : runpath }

  /// The DT_RPATH ld.so uses, also for the ELFs this one loads, and theirs:
  /// none when there is a DT_RUNPATH, which makes ld.so ignore the RPATH.
  public var inheritedRPATH: [String] { runpath.isEmpty ? rpath : [] }

  /// `name` is only used in error messages.
  public init(_ data: Data, name: String) throws(LacewingError) {
    let bytes = LittleEndianBytes(data)
    func bad(_ why: String) -> LacewingError { LacewingError(.badInput, "\(name): not a valid ELF file: \(why)") }
    guard bytes.count >= 64, ELFFile.isELF(data) else { throw bad("no ELF header") }
    guard bytes[4] == 2, bytes[5] == 1 else { throw bad("only 64-bit little-endian ELF is supported") }
    let segments = try Segments(bytes, bad: bad)
    hasInterpreter = segments.interpreter != nil
    if let (offset, size) = segments.interpreter {
      guard bytes.contains(offset, length: size) else { throw bad("program interpreter out of range") }
      let path = bytes.slice(offset..<(offset + size)).prefix { $0 != 0 }
      interpreter = String(decoding: path, as: UTF8.self)
    }
    guard let dynamic = segments.dynamic else { return }
    isDynamic = true
    let table = try DynamicTable(bytes, at: dynamic, segments: segments, bad: bad)
    for (tag, value) in table.entries {
      switch tag {
      case 1: needed.append(try table.string(value))
      case 14: soname = try table.string(value)
      case 15: rpath = try table.string(value).split(separator: ":").map(String.init)
      case 29: runpath = try table.string(value).split(separator: ":").map(String.init)
      default: break
      }
    }
    versionNeeds = try table.versionNeeds()
  }

  /// The highest GLIBC_x.y version this file needs, if any.
  public var maxGlibcVersion: GlibcVersion? { maxVersion("GLIBC_") }

  /// The highest `<family>x.y.z` version this file needs, e.g. "GLIBCXX_", "CXXABI_".
  public func maxVersion(_ family: String) -> SymbolVersion? {
    versionNeeds.values.joined().compactMap { SymbolVersion($0, family: family) }.max()
  }
}

/// A symbol version such as GLIBC_2.34 or GLIBCXX_3.4.30, ordered numerically.
public struct SymbolVersion: Comparable, CustomStringConvertible, Sendable {
  public var family: String
  public var parts: [Int]

  public init?(_ symbolVersion: String, family: String) {
    guard symbolVersion.hasPrefix(family) else { return nil }
    let rest = symbolVersion.dropFirst(family.count).split(separator: ".").map { Int($0) }
    guard !rest.isEmpty, !rest.contains(nil) else { return nil }
    self.family = family
    parts = rest.map { $0! }
  }

  public init?(symbolVersion: String) {
    self.init(symbolVersion, family: "GLIBC_")
  }

  /// A floor as an option gives it ("2.31" to `option` --max-glibc, with
  /// `family` "GLIBC_"), or an error naming the option: a floor that does
  /// not parse must not turn the check off.
  public init(floor: String, family: String, option: String) throws(LacewingError) {
    guard let version = SymbolVersion(family + floor, family: family) else {
      throw LacewingError(.badInput, "\(option) '\(floor)' is not a version: give numbers and dots, e.g. 2.31")
    }
    self = version
  }

  public static func < (a: SymbolVersion, b: SymbolVersion) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
  public var description: String { family + parts.map(String.init).joined(separator: ".") }
}

public typealias GlibcVersion = SymbolVersion

/// The program headers: what is loaded where, the dynamic section, and
/// the PT_INTERP.
private struct Segments {
  struct Load {
    var vaddr: Int
    var offset: Int
    var filesz: Int
  }

  var loads: [Load] = []
  var dynamic: (offset: Int, size: Int)?
  /// PT_INTERP: where the loader's path is, NUL-terminated.
  var interpreter: (offset: Int, size: Int)?

  init(_ bytes: LittleEndianBytes, bad: (String) -> LacewingError) throws(LacewingError) {
    let phoff = bytes.u64(32)
    let phentsize = bytes.u16(54)
    let phnum = bytes.u16(56)
    guard phentsize >= 56, bytes.contains(phoff, length: phnum * phentsize) else {
      throw bad("program headers out of range")
    }
    for i in 0..<phnum {
      let p = phoff + i * phentsize
      let offset = bytes.u64(p + 8)
      let vaddr = bytes.u64(p + 16)
      let filesz = bytes.u64(p + 32)
      switch bytes.u32(p) {
      case 1:
        // Fields at or above 2^63 read as negative; no loadable file has them.
        guard vaddr >= 0, offset >= 0, filesz >= 0, filesz <= Int.max - vaddr else {
          throw bad("loadable segment out of range")
        }
        loads.append(Load(vaddr: vaddr, offset: offset, filesz: filesz))
      case 2: dynamic = (offset, filesz)
      case 3: interpreter = (offset, filesz)
      default: break
      }
    }
    if let dynamic, !bytes.contains(dynamic.offset, length: dynamic.size) {
      throw bad("dynamic section out of range")
    }
  }

  /// Where the byte loaded at `vaddr` is in the file; nil also where that
  /// offset would not fit an Int (it is past any file then).
  func fileOffset(_ vaddr: Int) -> Int? {
    guard let load = loads.first(where: { vaddr >= $0.vaddr && vaddr - $0.vaddr < $0.filesz }) else { return nil }
    let (offset, overflow) = (vaddr - load.vaddr).addingReportingOverflow(load.offset)
    return overflow ? nil : offset
  }
}

/// The dynamic section's (tag, value) entries and the strings and version
/// needs they point at.
private struct DynamicTable {
  let bytes: LittleEndianBytes
  let segments: Segments
  let bad: (String) -> LacewingError
  var entries: [(tag: Int, value: Int)] = []
  let strtab: Int
  let strsz: Int

  init(
    _ bytes: LittleEndianBytes, at dynamic: (offset: Int, size: Int), segments: Segments,
    bad: @escaping (String) -> LacewingError
  ) throws(LacewingError) {
    self.bytes = bytes
    self.segments = segments
    self.bad = bad
    var p = dynamic.offset
    while p + 16 <= dynamic.offset + dynamic.size, bytes.u64(p) != 0 {
      entries.append((bytes.u64(p), bytes.u64(p + 8)))
      p += 16
    }
    guard let address = entries.first(where: { $0.tag == 5 })?.value, let strtab = segments.fileOffset(address) else {
      throw bad("dynamic section has no string table")
    }
    self.strtab = strtab
    strsz = entries.first(where: { $0.tag == 10 })?.value ?? (bytes.count - strtab)
  }

  func string(_ index: Int) throws(LacewingError) -> String {
    guard index >= 0, index < strsz, bytes.contains(strtab, length: index + 1) else {
      throw bad("string index out of range")
    }
    var end = strtab + index
    while end < bytes.count && bytes[end] != 0 { end += 1 }
    return String(decoding: bytes.slice((strtab + index)..<end), as: UTF8.self)
  }

  /// DT_VERNEED (0x6ffffffe), DT_VERNEEDNUM (0x6fffffff): version names
  /// needed from each library.
  func versionNeeds() throws(LacewingError) -> [String: [String]] {
    guard let address = entries.first(where: { $0.tag == 0x6fff_fffe })?.value,
      let count = entries.first(where: { $0.tag == 0x6fff_ffff })?.value, var vn = segments.fileOffset(address)
    else { return [:] }
    guard count >= 0 else { throw bad("negative count of version needs") }
    var needs: [String: [String]] = [:]
    for _ in 0..<count {
      guard bytes.contains(vn, length: 16) else { throw bad("version needs out of range") }
      let file = try string(bytes.u32(vn + 4))
      var aux = vn + bytes.u32(vn + 8)
      var names: [String] = []
      for _ in 0..<bytes.u16(vn + 2) {
        guard aux + 16 <= bytes.count else { throw bad("version needs out of range") }
        names.append(try string(bytes.u32(aux + 8)))
        let next = bytes.u32(aux + 12)
        if next == 0 { break }
        aux += next
      }
      needs[file, default: []] += names
      let next = bytes.u32(vn + 12)
      if next == 0 { break }
      vn += next
    }
    return needs
  }
}
