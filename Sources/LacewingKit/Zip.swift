import CLibzip
import Foundation
import LacewingFormat

/// Writes a deterministic zip with libzip: entries in the order given, one
/// fixed timestamp, Unix modes, nothing taken from the build host's clock.
final class ZipWriter {
  /// 1980-01-01 00:00:00, the DOS epoch, in UTC (see init).
  static let fixedTime: time_t = 315_532_800

  private var archive: OpaquePointer?
  let path: String

  init(path: String) throws(LacewingError) {
    // libzip converts times with localtime(); pin the zone so the bytes do
    // not depend on the host's TZ.
    setenv("TZ", "UTC", 1)
    tzset()
    self.path = path
    var error: Int32 = 0
    archive = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &error)
    guard archive != nil else {
      throw LacewingError(.io, "cannot create zip \(path) (libzip error \(error))")
    }
  }

  deinit {
    if let archive { zip_discard(archive) }
  }

  func add(_ name: String, _ data: Data, mode: Int, compressionLevel: Int) throws(LacewingError) {
    guard let archive else { return }
    // libzip frees the copy with free() once written (the last argument).
    let copy = malloc(max(data.count, 1))!
    data.withUnsafeBytes { if let base = $0.baseAddress { memcpy(copy, base, data.count) } }
    guard let source = zip_source_buffer(archive, copy, zip_uint64_t(data.count), 1) else {
      free(copy)
      throw libzipError("cannot buffer \(name)")
    }
    let index = zip_file_add(archive, name, source, zip_flags_t(ZIP_FL_ENC_UTF_8))
    guard index >= 0 else {
      zip_source_free(source)
      throw libzipError("cannot add \(name)")
    }
    let idx = zip_uint64_t(index)
    let method = compressionLevel == 0 ? ZIP_CM_STORE : ZIP_CM_DEFLATE
    guard zip_set_file_compression(archive, idx, method, zip_uint32_t(compressionLevel)) == 0,
      zip_file_set_mtime(archive, idx, ZipWriter.fixedTime, 0) == 0,
      zip_file_set_external_attributes(archive, idx, 0, zip_uint8_t(ZIP_OPSYS_UNIX), zip_uint32_t((0o100000 | mode) << 16))
        == 0
    else { throw libzipError("cannot set attributes of \(name)") }
  }

  func close() throws(LacewingError) {
    guard let archive else { return }
    guard zip_close(archive) == 0 else { throw libzipError("cannot write \(path)") }
    self.archive = nil
  }

  private func libzipError(_ what: String) -> LacewingError {
    let text = archive.flatMap { zip_strerror($0) }.map { String(cString: $0) } ?? "unknown error"
    return LacewingError(.io, "\(what): \(text)")
  }
}

/// A zip opened read-only through libzip.
final class ZipReaderHandle {
  let archive: OpaquePointer
  let path: String

  private var buffer: UnsafeMutableRawPointer?

  init(path: String) throws(LacewingError) {
    var error: Int32 = 0
    guard let archive = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &error) else {
      throw LacewingError(.badInput, "\(path) is not a readable zip archive (libzip error \(error)); rebuild it")
    }
    self.archive = archive
    self.path = path
  }

  /// A zip in memory (e.g. an unpacked runtime layer); `label` names it in errors.
  init(data: Data, label: String) throws(LacewingError) {
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

  /// The same for a payload in memory, with a packed runtime layer read
  /// through: its files are listed as if they were entries of the payload.
  public static func read(payload: Data, label: String, onlyELF: Bool = false) throws(LacewingError)
    -> [(name: String, data: Data)]
  {
    var out = try read(ZipReaderHandle(data: payload, label: label), onlyELF: onlyELF, skipping: LW_RUNTIME_PACK)
    if let inner = try unpackedRuntime(payload, label: label) {
      out += try read(ZipReaderHandle(data: inner, label: "\(label):\(LW_RUNTIME_PACK)"), onlyELF: onlyELF)
    }
    return out
  }

  /// Every name in a payload, those inside a packed runtime included.
  public static func names(payload: Data, label: String) throws(LacewingError) -> [String] {
    var names = try ZipIndex.entries(payload).map(\.name).filter { $0 != LW_RUNTIME_PACK }
    if let inner = try unpackedRuntime(payload, label: label) { names += try ZipIndex.entries(inner).map(\.name) }
    return names
  }

  static func unpackedRuntime(_ payload: Data, label: String) throws(LacewingError) -> Data? {
    guard let pack = try ZipIndex.entries(payload).first(where: { $0.name == LW_RUNTIME_PACK }) else { return nil }
    let start = payload.startIndex + pack.dataEnd - pack.compressedSize
    let inner = try XZ.decompress(payload[start..<(payload.startIndex + pack.dataEnd)], size: pack.size)
    return inner
  }

  static func read(_ zip: ZipReaderHandle, onlyELF: Bool, skipping: String? = nil) throws(LacewingError)
    -> [(name: String, data: Data)]
  {
    let path = zip.path
    var out: [(String, Data)] = []
    let count = zip_get_num_entries(zip.archive, 0)
    for i in 0..<zip_uint64_t(max(count, 0)) {
      var st = zip_stat_t()
      if let skipping, zip_stat_index(zip.archive, i, 0, &st) == 0, let cname = st.name, String(cString: cname) == skipping {
        continue
      }
      guard zip_stat_index(zip.archive, i, 0, &st) == 0, let cname = st.name, let file = zip_fopen_index(zip.archive, i, 0)
      else { throw LacewingError(.badInput, "\(path): entry \(i) is unreadable") }
      defer { zip_fclose(file) }
      let name = String(cString: cname)
      var data = Data(count: Int(st.size))
      let head = min(st.size, 4)
      var n = data.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress, head) }
      if onlyELF && (n != 4 || !ELFFile.isELF(data)) { continue }
      if st.size > head {
        n += data.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress! + Int(head), st.size - head) }
      }
      guard n == Int64(st.size) else { throw LacewingError(.badInput, "\(path): entry \(name) is damaged") }
      out.append((name, data))
    }
    return out
  }
}
