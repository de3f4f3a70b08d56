import StemSupport

/// Writes every entry of a payload below `root`, a fresh directory private to
/// this process. Files are created with O_EXCL | O_NOFOLLOW and the
/// extractor never creates a symlink (the stem makes the launchers' fixed
/// links only after it), so nothing can be written outside `root`, and a
/// duplicate name is an error instead of a silent overwrite.
struct Extractor {
  /// Which entries to write (lacewing_format.h: the runtime layer is python/).
  enum Layer {
    case all, runtime, test
  }

  let zip: ZipReader
  let root: CPath
  /// Refuses archives that would expand past this many bytes (zip bombs).
  let sizeLimit: Int
  var layer = Layer.all

  /// Returns how many files it wrote.
  @discardableResult
  func extractAll() throws(StemFailure) -> Int {
    // Checked before writing anything: a zip bomb costs no disk.
    guard zip.totalSize <= sizeLimit else {
      throw .corrupt(
        "payload expands past the limit of \(sizeLimit) bytes (set LACEWING_MAX_EXTRACT_BYTES to raise it)")
    }
    guard let inflater = lw_inflater_new() else { throw .cannotRun("out of memory") }
    defer { lw_inflater_free(inflater) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
    defer { buffer.deallocate() }
    var parentMade: [UInt8] = []
    var written = 0
    let pack = Array(LW_RUNTIME_PACK.utf8)
    for entry in zip.entries {
      let name = zip.name(of: entry)
      if layer != .all && zip.isRuntime(entry) != (layer == .runtime) { continue }
      if name.elementsEqual(pack) {
        written += try unpack(entry)
        continue
      }
      try makeParents(of: name, under: root, memo: &parentMade)
      let path = root.appending(bytes: name)
      if entry.isDirectory {
        let rc = path.withCString { mkdir($0, 0o700) }
        if rc != 0 && lw_errno() != EEXIST { throw .system("cannot create directory", path) }
        continue
      }
      guard entry.method != UInt16(LW_ZIP_METHOD_ZSTD) else {
        throw .corrupt("entry \(quoted(name)) is zstd but not the packed runtime")
      }
      try writeFile(entry, to: path, inflater: inflater, buffer: buffer)
      written += 1
    }
    return written
  }

  /// A packed runtime layer: one zstd frame holding a zip of files under
  /// python/, extracted as it is decoded (PackExtractor).
  private func unpack(_ entry: ZipEntry) throws(StemFailure) -> Int {
    guard entry.method == UInt16(LW_ZIP_METHOD_ZSTD) else { throw .corrupt("the packed runtime is not a zstd entry") }
    guard entry.size <= sizeLimit else {
      throw .corrupt(
        "the packed runtime expands past the limit of \(sizeLimit) bytes (set LACEWING_MAX_EXTRACT_BYTES to raise it)")
    }
    return try PackExtractor(root: root).extract(zip.compressedData(of: entry), declaredSize: entry.size)
  }

  private func writeFile(
    _ entry: ZipEntry, to path: CPath, inflater: OpaquePointer, buffer: UnsafeMutableRawBufferPointer
  ) throws(StemFailure) {
    let data = try zip.compressedData(of: entry)
    let name = quoted(zip.name(of: entry))
    let fd = try createNewFile(path, mode: permissions(entry.unixMode), duplicate: "entry \(name) appears twice")
    defer { close(fd) }
    var crc: uLong = 0
    var written = 0
    if entry.method == 0 {
      guard data.count == entry.size else { throw .corrupt("stored entry \(name) has mismatched sizes") }
      crc = crc32(0, data.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(data.count))
      guard writeAll(fd, data) else { throw .system("cannot write", path) }
      written = data.count
    } else {
      var offset = 0
      var reset: Int32 = 1
      while true {
        var consumed = 0
        var produced = 0
        let rc = lw_inflate(
          inflater, data.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + offset }, data.count - offset,
          &consumed, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), buffer.count, &produced, reset)
        reset = 0
        offset += consumed
        if produced > 0 {
          written += produced
          guard written <= entry.size else { throw .corrupt("entry \(name) inflates past its declared size") }
          let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<produced])
          crc = crc32(crc, chunk.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(produced))
          guard writeAll(fd, chunk) else { throw .system("cannot write", path) }
        }
        if rc == Z_STREAM_END { break }
        guard rc == Z_OK, consumed > 0 || produced > 0 else {
          throw .corrupt("entry \(name) has a damaged deflate stream")
        }
      }
    }
    guard written == entry.size else {
      throw .corrupt("entry \(name) holds \(written) bytes but declares \(entry.size)")
    }
    guard UInt32(truncatingIfNeeded: crc) == entry.crc else { throw .corrupt("entry \(name) fails its CRC-32 check") }
  }
}

/// Creates the directories above `name` under `root`. Archives list a
/// directory's files together, so remembering the last parent in `memo`
/// skips almost every mkdir.
func makeParents(of name: UnsafeRawBufferPointer, under root: CPath, memo: inout [UInt8]) throws(StemFailure) {
  guard let slash = name.lastIndex(of: 0x2F) else { return }
  let parent = UnsafeRawBufferPointer(rebasing: name[0..<slash])
  if parent.elementsEqual(memo) { return }
  var path = root
  var start = 0
  for i in 0...slash where name[i] == 0x2F {
    path.append(component: UnsafeRawBufferPointer(rebasing: name[start..<i]))
    start = i + 1
    let rc = path.withCString { mkdir($0, 0o700) }
    if rc != 0 && lw_errno() != EEXIST { throw .system("cannot create directory", path) }
  }
  memo = Array(parent)
}

/// What a zip entry's Unix mode becomes on disk: group and other never get
/// write access; owner always reads and writes.
func permissions(_ unixMode: UInt32) -> mode_t {
  unixMode == 0 ? 0o644 : (mode_t(unixMode) & 0o755) | 0o600
}

/// A file that did not exist, opened for writing, never through a symlink:
/// an existing one is a duplicate entry (`duplicate` says which).
func createNewFile(_ path: CPath, mode: mode_t, duplicate: @autoclosure () -> String) throws(StemFailure) -> Int32 {
  let fd = path.withCString { lw_open($0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
  if fd < 0 {
    if lw_errno() == EEXIST { throw .corrupt(duplicate()) }
    throw .system("cannot create", path)
  }
  return fd
}
