import StemSupport

/// Whether this host can run the bundled interpreter at all, checked before
/// anything is extracted (docs/design.md, "The host check"). Without it, a
/// host with no glibc, an older glibc than the bundle was built against, or
/// no /proc fails in the loader with a line about some library and a status
/// the test could have given (1, 127). Here it is one line naming what the
/// bundle needs and what the host has, and LW_EXIT_CANNOT_RUN.
///
/// What it costs every start, warm or cold (a cache entry may be shared by
/// hosts over NFS): a `stat` of the loader (2 us), and `open`, `fstat`,
/// four `pread`s and `close` of the one host library the glibc floor names
/// (6.5 us; see VersionDefinitions). The /proc check costs nothing unless
/// /proc/self/exe could not be opened.
enum HostCheck {
  /// Where ld.so looks for a library by default (ld.so.cache aside):
  /// Debian's multiarch directories, then RHEL's, then Arch's. The first
  /// file of the name that reads as a 64-bit x86-64 library is checked.
  static let libraryDirs = [
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/usr/lib", "/lib",
  ]
  /// Alpine's loader, named when the bundle's is missing.
  static let muslLoader = "/lib/ld-musl-x86_64.so.1"

  static func run(_ bundle: BundleImage) throws(StemFailure) {
    let config = bundle.config
    if let loader = config.loader { try checkLoader(loader) }
    if let version = config.glibc, let library = config.glibcLibrary { try checkGlibc(version, in: library) }
    // $ORIGIN matters only to a dynamic interpreter, which has a loader.
    if config.loader != nil, !bundle.throughProc, !procMounted() {
      throw .cannotRun(
        "this bundle's interpreter finds its libraries through $ORIGIN, which the loader resolves by reading "
          + "/proc/self/exe, and /proc is not mounted on this host; mount it (mount -t proc proc /proc)")
    }
  }

  static func checkLoader(_ loader: String) throws(StemFailure) {
    var st = stat()
    guard CPath(loader).withCString({ stat($0, &st) }) != 0 else { return }
    let err = lw_errno()
    guard err == ENOENT || err == ENOTDIR else {
      throw .cannotRun(concat(["cannot reach the bundled interpreter's loader ", loader, ": ", errnoText(err)]))
    }
    let musl = CPath(muslLoader).withCString { stat($0, &st) } == 0
    throw .cannotRun(
      concat([
        "this bundle needs glibc (its interpreter's loader ", loader, "); this host has none",
        musl ? " (it has musl's, " + muslLoader + ")" : " (a musl or other non-glibc system?)",
      ]))
  }

  /// The host's `library` must define the version node GLIBC_`version`, as
  /// ld.so will check. A host without that library in the usual places, or
  /// whose library cannot be read as one, is not judged: ld.so will be.
  static func checkGlibc(_ version: String, in library: String) throws(StemFailure) {
    let node = "GLIBC_" + version
    for dir in libraryDirs {
      let path = CPath(dir).appending(library)
      guard let found = VersionDefinitions.read(path, node: node) else { continue }
      if found.defines { return }
      let host = hostGlibc(in: CPath(dir), alsoDefined: found.highestGlibc)
      // A host glibc that is not older (a library built without some
      // symbols) would contradict the line: name the file instead.
      var floor = version
      let older = host > 0 && host < floor.withUTF8 { VersionDefinitions.number(UnsafeRawBufferPointer($0)) }
      throw .cannotRun(
        concat([
          "this bundle needs glibc ", version, " or newer (", node, " in ", library, "); ",
          older
            ? "this host has glibc " + VersionDefinitions.text(host)
            : "this host's " + path.string + " does not define it",
        ]))
    }
  }

  /// The host's glibc version, for the message only: the name libc.so.6
  /// links to up to glibc 2.33 ("libc-2.31.so"), else the highest GLIBC_
  /// node libc.so.6 or the checked library defines (`alsoDefined`).
  static func hostGlibc(in dir: CPath, alsoDefined: Int) -> Int {
    let libc = dir.appending("libc.so.6")
    var target = [UInt8](repeating: 0, count: 256)
    let n = libc.withCString { path in
      target.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }
    }
    // "libc-2.31.so", or a path ending so.
    var start = 0
    for i in 0..<max(n, 0) where target[i] == 0x2F { start = i + 1 }
    let number = target.withUnsafeBytes { name in
      guard n - start > 8, memcmp(name.baseAddress! + start, "libc-", 5) == 0,
        memcmp(name.baseAddress! + (n - 3), ".so", 3) == 0
      else { return 0 }
      return VersionDefinitions.number(UnsafeRawBufferPointer(rebasing: name[(start + 5)..<(n - 3)]))
    }
    if number > 0 { return number }
    return max(alsoDefined, VersionDefinitions.read(libc, node: "")?.highestGlibc ?? 0)
  }

  /// Whether the loader can read /proc/self/exe, as it does to expand
  /// $ORIGIN in the main program's RUNPATH.
  static func procMounted() -> Bool {
    var buffer = [CChar](repeating: 0, count: 16)
    return buffer.withUnsafeMutableBufferPointer { readlink("/proc/self/exe", $0.baseAddress!, $0.count) } >= 0
  }
}

/// The strings joined: one call, where a chain of `+` and interpolations is
/// inlined code at every message (Embedded Swift).
@inline(never)
func concat(_ parts: [String]) -> String {
  var out = ""
  for part in parts { out += part }
  return out
}

/// What the version definitions (.gnu.version_d) of a host library say,
/// found as ld.so finds them: the dynamic section's DT_VERDEF and
/// DT_VERDEFNUM, the names in DT_STRTAB. The file is the host's, not ours:
/// every offset and count read from it is bounded before use, and a file
/// that is not a 64-bit little-endian x86-64 ELF, or whose tables do not fit
/// in it (or in the buffer below), is refused (nil), never read out of
/// bounds. A library without version definitions is refused too: ld.so
/// only warns about those.
///
/// Only what is needed is read, with `pread` into one buffer on the stack:
/// the headers, the dynamic section, the definitions, and the span of the
/// string table holding their names (about 5.5 KB of libc.so.6, in four
/// reads: 6.5 us). Mapping the file cost about 25 us a start in page faults and the
/// unmap, and so did heap buffers: musl maps and unmaps a fresh page for
/// each allocation of a few KB.
struct VersionDefinitions {
  /// Whether the node asked about is defined.
  var defines = false
  /// The highest GLIBC_x.y[.z] defined, as `number` gives it; 0: none.
  var highestGlibc = 0

  /// Reads the definitions of the library at `path`, looking for `node`;
  /// nil when it is not a regular file we can open and read as a library.
  static func read(_ path: CPath, node: String) -> VersionDefinitions? {
    // O_NONBLOCK: a FIFO planted at a library's name must not hang the
    // stem. No O_CLOEXEC (musl adds an fcntl for it): closed before any exec.
    let fd = path.withCString { lw_open($0, O_RDONLY | O_NONBLOCK, 0) }
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & 0o170000 == 0o100000 else { return nil }
    return VersionDefinitions(fd, size: Int(st.st_size), node: node)
  }

  /// Reads the library open at `fd`, `size` bytes long.
  init?(_ fd: Int32, size: Int, node: String) {
    // Headers (program headers must follow the ELF header, as they always
    // do), then the dynamic section and the definitions, then the names.
    var buffer = InlineArray<8192, UInt8>(repeating: 0)
    var span = buffer.mutableSpan
    var node = node
    let found = span.withUnsafeMutableBytes { buffer in
      node.withUTF8 { node in
        Self.parse(
          fd, size: size, node: UnsafeRawBufferPointer(node),
          head: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<2048]),
          tables: UnsafeMutableRawBufferPointer(rebasing: buffer[2048..<6144]),
          names: UnsafeMutableRawBufferPointer(rebasing: buffer[6144..<8192]))
      }
    }
    guard let found else { return nil }
    (defines, highestGlibc) = found
  }

  private static func parse(
    _ fd: Int32, size: Int, node: UnsafeRawBufferPointer, head: UnsafeMutableRawBufferPointer,
    tables: UnsafeMutableRawBufferPointer, names: UnsafeMutableRawBufferPointer
  ) -> (Bool, Int)? {
    // `count` bytes at `offset` of the file into `region`, when they lie
    // inside both. No sum below overflows: every value read from the file
    // is under 2^62 (or -1, which fails).
    func read(_ region: UnsafeMutableRawBufferPointer, _ offset: Int, _ count: Int) -> UnsafeRawBufferPointer? {
      guard offset >= 0, count > 0, count <= region.count, offset <= size, count <= size - offset,
        pread(fd, region.baseAddress!, count, off_t(offset)) == count
      else { return nil }
      return UnsafeRawBufferPointer(start: region.baseAddress!, count: count)
    }
    guard let head = read(head, 0, min(size, head.count)), head.count >= 64, u32(head, 0) == 0x464C_457F,
      u16(head, 4) == 0x0102, u16(head, 18) == 62
    else { return nil }
    let phoff = u64(head, 32)
    let phentsize = u16(head, 54)
    let phnum = u16(head, 56)
    guard phentsize >= 56, phoff >= 0, phoff <= head.count, phnum * phentsize <= head.count - phoff else { return nil }
    // Addresses become offsets through the loadable segment holding them.
    func fileOffset(_ vaddr: Int) -> Int? {
      for p in stride(from: phoff, to: phoff + phnum * phentsize, by: phentsize) {
        let (offset, start, size) = (u64(head, p + 8), u64(head, p + 16), u64(head, p + 32))
        if u32(head, p) == 1, offset >= 0, start >= 0, vaddr >= start, vaddr - start < size {
          return offset + vaddr - start
        }
      }
      return nil
    }
    var dynamic: UnsafeRawBufferPointer?
    for p in stride(from: phoff, to: phoff + phnum * phentsize, by: phentsize) where u32(head, p) == 2 {
      dynamic = read(tables, u64(head, p + 8), min(u64(head, p + 32), tables.count) & ~15)
    }
    guard let dynamic else { return nil }
    var (strtab, strsz, verdef, verdefnum) = (-1, -1, -1, -1)
    var p = 0
    while p + 16 <= dynamic.count, u64(dynamic, p) != 0 {
      switch u64(dynamic, p) {
      case 5: strtab = u64(dynamic, p + 8)
      case 10: strsz = u64(dynamic, p + 8)
      case 0x6fff_fffc: verdef = u64(dynamic, p + 8)
      case 0x6fff_fffd: verdefnum = u64(dynamic, p + 8)
      default: break
      }
      p += 16
    }
    guard verdefnum > 0, strsz > 0, strtab >= 0, verdef >= 0, let strings = fileOffset(strtab),
      let definitionsAt = fileOffset(verdef)
    else { return nil }
    // The definitions: an Elf64_Verdef (vd_flags at 2, vd_aux at 12,
    // vd_next at 16; 20 bytes) and its Verdaux records (vda_name at 0; 8
    // bytes), the first of which names it; glibc's take 20 + 8 or 20 + 16.
    let count = min(verdefnum, 256)
    guard let definitions = read(tables, definitionsAt, min(count * 64, tables.count, size - definitionsAt)) else {
      return nil
    }
    // Each version's name offset (VER_FLG_BASE marks the file's own name,
    // which is skipped); false when the definitions do not fit.
    func forEachVersion(_ body: (Int) -> Void) -> Bool {
      var d = 0
      for _ in 0..<count {
        guard d + 20 <= definitions.count else { return false }
        let aux = d + u32(definitions, d + 12)
        guard aux + 8 <= definitions.count, u32(definitions, aux) < strsz else { return false }
        if u16(definitions, d + 2) & 1 == 0 { body(u32(definitions, aux)) }
        let next = u32(definitions, d + 16)
        if next == 0 { break }
        d += next
      }
      return true
    }
    var (low, high) = (strsz, -1)
    guard forEachVersion({ (low, high) = (min(low, $0), max(high, $0)) }) else { return nil }
    guard high >= 0 else { return (false, 0) }
    // One read for the names: they lie together in the string table.
    guard let text = read(names, strings + low, min(strsz, high + 64) - low) else { return nil }
    var (defines, highest, damaged) = (false, 0, false)
    _ = forEachVersion { offset in
      // Version names are short: one without its NUL in 64 bytes is damage.
      let start = offset - low
      var end = start
      while end < text.count && end - start < 64 && text[end] != 0 { end += 1 }
      guard end < text.count, text[end] == 0 else {
        damaged = true
        return
      }
      let name = UnsafeRawBufferPointer(rebasing: text[start..<end])
      if name.count == node.count, memcmp(name.baseAddress!, node.baseAddress!, node.count) == 0 { defines = true }
      if name.count > 6, memcmp(name.baseAddress!, "GLIBC_", 6) == 0 {
        highest = max(highest, number(UnsafeRawBufferPointer(rebasing: name[6...])))
      }
    }
    return damaged ? nil : (defines, highest)
  }

  /// "2.31" as 2_031_000, "2.2.5" as 2_002_005: ordered as the versions
  /// are. 0 unless two or three numbers under 1000 with single dots.
  static func number(_ text: UnsafeRawBufferPointer) -> Int {
    var (value, part, parts) = (0, -1, 0)
    for c in text {
      if c == 0x2E && part >= 0 && parts < 2 {
        (value, part, parts) = (value * 1000 + part, -1, parts + 1)
      } else if c >= 0x30 && c <= 0x39 && part < 100 {
        part = max(part, 0) * 10 + Int(c - 0x30)
      } else {
        return 0
      }
    }
    guard part >= 0, parts >= 1 else { return 0 }
    value = value * 1000 + part
    return parts == 1 ? value * 1000 : value
  }

  /// `number`'s value as text: "2.31", "2.2.5".
  static func text(_ number: Int) -> String {
    var parts = [number / 1_000_000, number / 1000 % 1000]
    if number % 1000 != 0 { parts.append(number % 1000) }
    var out = ""
    for part in parts { out += (out.isEmpty ? "" : ".") + String(part) }
    return out
  }

}

// Little-endian fields of `bytes`, loaded unchecked: every caller checks
// the offset against the count first (and the stem's fuzz harness, built
// with ASan, holds them to it).
private func u16(_ bytes: UnsafeRawBufferPointer, _ o: Int) -> Int {
  Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
}
private func u32(_ bytes: UnsafeRawBufferPointer, _ o: Int) -> Int {
  Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
}
/// A 64-bit field, or -1 at or above 2^62: no offset, size or address of a
/// real library is that large.
private func u64(_ bytes: UnsafeRawBufferPointer, _ o: Int) -> Int {
  let value = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self))
  return value >= 1 << 62 ? -1 : Int(value)
}
