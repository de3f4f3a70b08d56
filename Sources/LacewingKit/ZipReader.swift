import CLibzip
import FoundationEssentials
import Glibc
import LacewingFormat

/// A zip opened read-only through libzip.
final class ZipReaderHandle {
  let archive: OpaquePointer
  let path: String

  private var buffer: UnsafeMutableRawPointer?

  init(path: String) throws(LacewingError) {
    _ = CLibraries.configured
    var error: Int32 = 0
    guard let archive = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &error) else {
      throw LacewingError(.badInput, "\(path) is not a readable zip archive (libzip error \(error)); rebuild it")
    }
    self.archive = archive
    self.path = path
  }

  /// A zip in memory (e.g. an unpacked runtime layer); `label` names it in errors.
  init(data: Data, label: String) throws(LacewingError) {
    _ = CLibraries.configured
    let copy = malloc(max(data.count, 1))!
    data.withUnsafeBytes { if let base = $0.baseAddress { memcpy(copy, base, data.count) } }
    var error = zip_error_t()
    zip_error_init(&error)
    guard let source = zip_source_buffer_create(copy, zip_uint64_t(data.count), 0, &error) else {
      free(copy)
      throw LacewingError(.badInput, "\(label) cannot be read as a zip archive")
    }
    guard let archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error) else {
      zip_source_free(source)
      free(copy)
      throw LacewingError(.badInput, "\(label) is not a readable zip archive; rebuild it")
    }
    self.archive = archive
    self.path = label
    buffer = copy
  }

  deinit {
    zip_discard(archive)
    free(buffer)
  }

  /// One member, inflated.
  func read(_ member: String) throws(LacewingError) -> Data {
    var st = zip_stat_t()
    guard zip_stat(archive, member, 0, &st) == 0, let file = zip_fopen(archive, member, 0) else {
      throw LacewingError(.badInput, "\(path) has no readable \(member)")
    }
    defer { zip_fclose(file) }
    var data = Data()
    guard Self.readRest(of: file, size: st.size, onto: &data) else {
      throw LacewingError(.badInput, "\(path): \(member) is damaged")
    }
    return data
  }

  /// Appends what is left of `file` to `data`, and says whether it came to
  /// the `size` the zip's directory claims for the whole member. The claim
  /// only caps the read: a hostile wheel can claim exabytes (or 2^64 - 1,
  /// which no Int holds) for a few bytes of deflate, so the buffer grows
  /// with what actually inflates, never with what was claimed.
  static func readRest(of file: OpaquePointer, size: zip_uint64_t, onto data: inout Data) -> Bool {
    data.reserveCapacity(Int(min(size, 1 << 26)))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while UInt64(data.count) <= size {
      let n = chunk.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress, zip_uint64_t($0.count)) }
      guard n >= 0 else { return false }
      if n == 0 { break }
      data.append(contentsOf: chunk[..<Int(n)])
    }
    return UInt64(data.count) == size
  }

  var names: [String] {
    (0..<zip_uint64_t(max(zip_get_num_entries(archive, 0), 0))).map { i in
      zip_get_name(archive, i, 0).map { String(cString: $0) } ?? ""
    }
  }
}

/// Reads every entry of a zip through libzip (the tools' reader; the stem has
/// its own). Entries come back in archive order.
public enum ZipContents {
  /// Every entry, or with `onlyELF` only the ELF files (known from their
  /// first four bytes, so the rest of the archive is never inflated).
  public static func read(_ path: String, onlyELF: Bool = false) throws(LacewingError) -> [(name: String, data: Data)] {
    try read(ZipReaderHandle(path: path), onlyELF: onlyELF)
  }

  static func read(_ zip: ZipReaderHandle, onlyELF: Bool, skipping: (String) -> Bool = { _ in false })
    throws(LacewingError) -> [(name: String, data: Data)]
  {
    var out: [(String, Data)] = []
    for i in 0..<zip_uint64_t(max(zip_get_num_entries(zip.archive, 0), 0)) {
      var st = zip_stat_t()
      guard zip_stat_index(zip.archive, i, 0, &st) == 0, let cname = st.name else {
        throw LacewingError(.badInput, "\(zip.path): entry \(i) is unreadable")
      }
      let name = String(cString: cname)
      if skipping(name) { continue }
      guard let file = zip_fopen_index(zip.archive, i, 0) else {
        throw LacewingError(.badInput, "\(zip.path): entry \(name) is unreadable")
      }
      defer { zip_fclose(file) }
      var data = Data(count: 4)
      let n = data.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress, 4) }
      if onlyELF && (n != 4 || !ELFFile.isELF(data)) { continue }
      data.count = max(Int(n), 0)
      guard n >= 0, ZipReaderHandle.readRest(of: file, size: st.size, onto: &data) else {
        throw LacewingError(.badInput, "\(zip.path): entry \(name) is damaged")
      }
      out.append((name, data))
    }
    return out
  }
}

/// A payload in memory with a packed runtime layer read through: the pack's
/// files count as entries of the payload, the pack itself does not. The
/// pack is unpacked once, here, however often the contents are asked for,
/// and its filtered members are restored, so libzip reads it as any zip.
struct PayloadContents {
  let payload: Data
  let label: String
  /// The packed runtime layer's zip, unpacked, every member stored as
  /// extracted; nil without a pack.
  let unpacked: Data?

  /// `label` names the payload in errors. Without `unpackRuntime` the pack
  /// stays packed: only `runtimeLayerEntries` and `ownLayer` may be asked.
  init(_ payload: Data, label: String, unpackRuntime: Bool = true) throws(LacewingError) {
    self.payload = payload
    self.label = label
    if unpackRuntime, let pack = try ZipIndex.entries(payload).first(where: { $0.name == LW_RUNTIME_PACK }) {
      unpacked = try Self.restored(Zstd.decompress(pack.data(in: payload), size: pack.size), label: label)
    } else {
      unpacked = nil
    }
  }

  /// The pack's zip with the x86 filter undone and its members stored.
  private static func restored(_ zip: Data, label: String) throws(LacewingError) -> Data {
    let bytes = LittleEndianBytes(zip)
    var files: [ZipMerge.StoredFile] = []
    for e in try ZipIndex.entries(zip) {
      let record = e.record.lowerBound
      let method = bytes.u16(record + 10)
      guard method == 0 || method == Int(LW_ZIP_METHOD_X86), e.compressedSize == e.size else {
        throw LacewingError(.badInput, "\(label): the pack's \(e.name) uses method \(method); rebuild it")
      }
      var member = ZipMerge.StoredFile(path: e.name, data: e.data(in: zip), mode: bytes.u32(record + 38) >> 16 & 0o7777)
      if method != 0 {
        member.method = method
        member = member.unfiltered()
      }
      guard member.crc == bytes.u32(record + 16) else {
        throw LacewingError(.badInput, "\(label): the pack's \(e.name) fails its CRC-32 check; rebuild it")
      }
      files.append(member)
    }
    return try ZipMerge.archive(inOrder: files)
  }

  /// Every name, nothing inflated.
  func names() throws(LacewingError) -> [String] {
    var names = try ZipIndex.entries(payload).map(\.name).filter { $0 != LW_RUNTIME_PACK }
    if let unpacked { names += try ZipIndex.entries(unpacked).map(\.name) }
    return names
  }

  /// Every entry, or with `onlyELF` only the ELF files.
  func read(onlyELF: Bool = false) throws(LacewingError) -> [(name: String, data: Data)] {
    var out = try ZipContents.read(
      ZipReaderHandle(data: payload, label: label), onlyELF: onlyELF, skipping: { $0 == LW_RUNTIME_PACK })
    if let unpacked {
      out += try ZipContents.read(
        ZipReaderHandle(data: unpacked, label: "\(label):\(LW_RUNTIME_PACK)"), onlyELF: onlyELF)
    }
    return out
  }

  /// Whether a payload entry belongs to the runtime layer: the pack, or a
  /// file stored under the runtime's prefix.
  static func isRuntimeLayer(_ name: String) -> Bool { name == LW_RUNTIME_PACK || name.hasPrefix(LW_RUNTIME_PREFIX) }

  /// The runtime layer's entries as stored (the pack, or its files), nothing read.
  func runtimeLayerEntries() throws(LacewingError) -> [ZipIndex.Entry] {
    try ZipIndex.entries(payload).filter { Self.isRuntimeLayer($0.name) }
  }

  /// The names of the payload's own layer, nothing inflated.
  func ownLayerNames() throws(LacewingError) -> [String] {
    try ZipIndex.entries(payload).map(\.name).filter { !Self.isRuntimeLayer($0) }
  }

  /// The payload's own layer, in archive order, or only its ELF files; the
  /// runtime layer is neither unpacked nor inflated.
  func ownLayer(onlyELF: Bool = false) throws(LacewingError) -> [(name: String, data: Data)] {
    try ZipContents.read(
      ZipReaderHandle(data: payload, label: label), onlyELF: onlyELF, skipping: { Self.isRuntimeLayer($0) })
  }
}
