import Foundation

/// What the dynamic loader reads from an ELF file: its dynamic section and
/// symbol version needs. Parsed from the bytes, never by running the file
/// (ldd can execute what it inspects).
public struct ELFFile: Equatable, Sendable {
  public var needed: [String] = []
  public var soname: String?
  public var rpath: [String] = []
  public var runpath: [String] = []
  /// Version names needed from each library, e.g. "libc.so.6": ["GLIBC_2.34"].
  public var versionNeeds: [String: [String]] = [:]
  /// False for a static executable (no PT_DYNAMIC).
  public var isDynamic = false
  public var hasInterpreter = false

  /// An ELF with no dynamic section, to fill in by hand.
  public init() {}

  public static func isELF(_ data: Data) -> Bool {
    data.count >= 4 && data.prefix(4).elementsEqual([0x7F, 0x45, 0x4C, 0x46])
  }

  /// `name` is only used in error messages.
  public init(_ data: Data, name: String) throws(LacewingError) {
    let bytes = [UInt8](data)
    func bad(_ why: String) -> LacewingError { LacewingError(.badInput, "\(name): not a valid ELF file: \(why)") }
    guard bytes.count >= 64, ELFFile.isELF(data) else { throw bad("no ELF header") }
    guard bytes[4] == 2, bytes[5] == 1 else { throw bad("only 64-bit little-endian ELF is supported") }
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
    let phoff = u64(32), phentsize = u16(54), phnum = u16(56)
    guard phentsize >= 56, phoff >= 0, phoff + phnum * phentsize <= bytes.count else { throw bad("program headers out of range") }

    struct Load { var vaddr: Int; var offset: Int; var filesz: Int }
    var loads: [Load] = []
    var dynamic: (offset: Int, size: Int)?
    for i in 0..<phnum {
      let p = phoff + i * phentsize
      let type = u32(p)
      let offset = u64(p + 8), vaddr = u64(p + 16), filesz = u64(p + 32)
      switch type {
      case 1: loads.append(Load(vaddr: vaddr, offset: offset, filesz: filesz))
      case 2: dynamic = (offset, filesz)
      case 3: hasInterpreter = true
      default: break
      }
    }
    guard let dyn = dynamic else { return }
    isDynamic = true
    guard dyn.offset >= 0, dyn.size >= 0, dyn.offset + dyn.size <= bytes.count else { throw bad("dynamic section out of range") }

    func fileOffset(_ vaddr: Int) -> Int? {
      for l in loads where vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz { return vaddr - l.vaddr + l.offset }
      return nil
    }
    var entries: [(tag: Int, value: Int)] = []
    var p = dyn.offset
    while p + 16 <= dyn.offset + dyn.size {
      let tag = u64(p)
      if tag == 0 { break }
      entries.append((tag, u64(p + 8)))
      p += 16
    }
    guard let strtabAddr = entries.first(where: { $0.tag == 5 })?.value, let strtab = fileOffset(strtabAddr) else {
      throw bad("dynamic section has no string table")
    }
    let strsz = entries.first(where: { $0.tag == 10 })?.value ?? (bytes.count - strtab)
    func string(_ index: Int) throws(LacewingError) -> String {
      var end = strtab + index
      guard index >= 0, index < strsz, end < bytes.count else { throw bad("string index out of range") }
      while end < bytes.count && bytes[end] != 0 { end += 1 }
      return String(decoding: bytes[(strtab + index)..<end], as: UTF8.self)
    }
    for e in entries {
      switch e.tag {
      case 1: needed.append(try string(e.value))
      case 14: soname = try string(e.value)
      case 15: rpath = try string(e.value).split(separator: ":").map(String.init)
      case 29: runpath = try string(e.value).split(separator: ":").map(String.init)
      default: break
      }
    }
    // DT_VERNEED (0x6ffffffe) and DT_VERNEEDNUM (0x6fffffff).
    if let verneedAddr = entries.first(where: { $0.tag == 0x6fff_fffe })?.value,
      let count = entries.first(where: { $0.tag == 0x6fff_ffff })?.value, var vn = fileOffset(verneedAddr)
    {
      for _ in 0..<count {
        guard vn + 16 <= bytes.count else { throw bad("version needs out of range") }
        let file = try string(u32(vn + 4))
        var aux = vn + u32(vn + 8)
        var names: [String] = []
        for _ in 0..<u16(vn + 2) {
          guard aux + 16 <= bytes.count else { throw bad("version needs out of range") }
          names.append(try string(u32(aux + 8)))
          let next = u32(aux + 12)
          if next == 0 { break }
          aux += next
        }
        versionNeeds[file, default: []] += names
        let next = u32(vn + 12)
        if next == 0 { break }
        vn += next
      }
    }
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

  public static func < (a: SymbolVersion, b: SymbolVersion) -> Bool { a.parts.lexicographicallyPrecedes(b.parts) }
  public var description: String { family + parts.map(String.init).joined(separator: ".") }
}

public typealias GlibcVersion = SymbolVersion
