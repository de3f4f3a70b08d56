import CLibzip
import FoundationEssentials
import Glibc

/// Writes a deterministic zip with libzip: entries in the order given, one
/// fixed timestamp, Unix modes, nothing taken from the build host's clock.
final class ZipWriter {
  /// 1980-01-01 00:00:00, the DOS epoch, in UTC (see CLibraries).
  static let fixedTime: time_t = 315_532_800

  private var archive: OpaquePointer?
  let path: String

  init(path: String) throws(LacewingError) {
    _ = CLibraries.configured
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
      zip_file_set_external_attributes(
        archive, idx, 0, zip_uint8_t(ZIP_OPSYS_UNIX), zip_uint32_t((0o100000 | mode) << 16))
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
