import StemSupport

/// One central-directory entry, by offsets into the payload.
struct ZipEntry {
  var nameOffset: Int
  var nameLength: Int
  var method: UInt16
  var crc: UInt32
  var compressedSize: Int
  var size: Int
  var unixMode: UInt32  // 0 when the archive did not record one
  var localHeaderOffset: Int
  /// The central-directory record, by offset and length in the payload.
  var record: Range<Int> = 0..<0

  var isDirectory: Bool { (unixMode & 0o170000) == 0o040000 }
}

/// A minimal reader for the zips make-archive writes (and Info-ZIP's): stored
/// and deflated entries, no zip64, no encryption. Every offset is checked
/// against the payload before use, so a truncated or hostile archive is an
/// error, never a read out of bounds.
struct ZipReader {
  let data: UnsafeRawBufferPointer
  private(set) var entries: [ZipEntry] = []
  /// Where entry data must end: the start of the central directory.
  private var centralDirectoryStart = 0

  /// `indexOffset` and `indexCRC` come from the bundle trailer: the central
  /// directory must start there and match the CRC, so a damaged name, mode
  /// or offset is caught before anything is written.
  init(_ data: UnsafeRawBufferPointer, indexOffset: Int, indexCRC: UInt32) throws(StemFailure) {
    self.data = data
    guard indexOffset >= 0, indexOffset <= data.count else { throw .corrupt("central directory offset out of range") }
    let index = UnsafeRawBufferPointer(rebasing: data[indexOffset...])
    let crc = crc32(0, index.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(index.count))
    guard UInt32(truncatingIfNeeded: crc) == indexCRC else { throw .corrupt("central directory checksum mismatch") }
    let eocd = try findEndOfCentralDirectory()
    let diskNumber = u16(eocd + 4)
    let cdDisk = u16(eocd + 6)
    let entriesOnDisk = u16(eocd + 8)
    let entryCount = Int(u16(eocd + 10))
    let cdSize = Int(u32(eocd + 12))
    let cdOffset = Int(u32(eocd + 16))
    guard diskNumber == 0, cdDisk == 0, Int(entriesOnDisk) == entryCount else {
      throw .corrupt("multi-disk zip archives are not supported")
    }
    guard entryCount != 0xFFFF, cdSize != 0xFFFF_FFFF, cdOffset != 0xFFFF_FFFF else {
      throw .corrupt("zip64 archives are not supported")
    }
    guard cdOffset == indexOffset, cdOffset <= eocd, cdSize == eocd - cdOffset else {
      throw .corrupt("central directory does not end where the end record begins")
    }
    centralDirectoryStart = cdOffset
    entries.reserveCapacity(entryCount)
    var p = cdOffset
    for index in 0..<entryCount {
      guard p + 46 <= eocd, u32(p) == 0x0201_4B50 else { throw .corrupt("central directory entry \(index) is damaged") }
      let madeBy = u16(p + 4)
      let flags = u16(p + 8)
      let method = u16(p + 10)
      let nameLength = Int(u16(p + 28))
      let extraLength = Int(u16(p + 30))
      let commentLength = Int(u16(p + 32))
      let external = u32(p + 38)
      let next = p + 46 + nameLength + extraLength + commentLength
      guard next <= eocd else { throw .corrupt("central directory entry \(index) runs past its directory") }
      var entry = ZipEntry(
        nameOffset: p + 46, nameLength: nameLength, method: method, crc: u32(p + 16),
        compressedSize: Int(u32(p + 20)), size: Int(u32(p + 24)),
        unixMode: (madeBy >> 8) == 3 ? external >> 16 : 0, localHeaderOffset: Int(u32(p + 42)), record: p..<next)
      let name = self.name(of: entry)
      guard flags & 1 == 0 else { throw .corrupt("entry \(quoted(name)) is encrypted") }
      // zstd only for the packed runtime: checked here, before anything is written.
      guard
        method == 0 || method == 8
          || (method == UInt16(LW_ZIP_METHOD_ZSTD) && name.elementsEqual(LW_RUNTIME_PACK.utf8))
      else { throw .corrupt("entry \(quoted(name)) uses compression method \(method)") }
      guard entry.compressedSize != 0xFFFF_FFFF, entry.size != 0xFFFF_FFFF, entry.localHeaderOffset != 0xFFFF_FFFF
      else {
        throw .corrupt("zip64 entries are not supported")
      }
      try checkName(name)
      let type = entry.unixMode & 0o170000
      if nameLength > 0 && name[nameLength - 1] == 0x2F {
        entry.unixMode = 0o040000 | (entry.unixMode & 0o777)
      } else if type != 0 && type != 0o100000 {
        throw .corrupt("entry \(quoted(name)) is not a regular file or directory (symlinks are refused)")
      }
      entries.append(entry)
      p = next
    }
  }

  /// Whether `entry` is in the runtime layer (lacewing_format.h): under
  /// python/, or the pack that holds it.
  func isRuntime(_ entry: ZipEntry) -> Bool {
    let name = self.name(of: entry)
    return name.starts(with: LW_RUNTIME_PREFIX.utf8) || name.elementsEqual(LW_RUNTIME_PACK.utf8)
  }

  /// SHA-256 over each runtime entry as stored: local header through data,
  /// then its directory record without the local header's offset (which
  /// depends on the bundle around it). The same bytes as Fuser.runtimeDigest.
  func runtimeDigest() throws(StemFailure) -> [UInt8] {
    var sha = lw_sha256()
    lw_sha256_init(&sha)
    for entry in entries where isRuntime(entry) {
      let body = try compressedData(of: entry)
      let end = body.baseAddress! + body.count
      lw_sha256_update(
        &sha, data.baseAddress! + entry.localHeaderOffset, end - (data.baseAddress! + entry.localHeaderOffset))
      lw_sha256_update(&sha, data.baseAddress! + entry.record.lowerBound, 42)
      lw_sha256_update(&sha, data.baseAddress! + entry.record.lowerBound + 46, entry.record.count - 46)
    }
    var digest = [UInt8](repeating: 0, count: 32)
    digest.withUnsafeMutableBufferPointer { lw_sha256_final(&sha, $0.baseAddress!) }
    return digest
  }

  /// Bytes the payload expands to.
  var totalSize: Int { entries.reduce(0) { $0 + $1.size } }

  func name(of entry: ZipEntry) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: data[entry.nameOffset..<entry.nameOffset + entry.nameLength])
  }

  /// The entry's compressed bytes, after checking its local header.
  func compressedData(of entry: ZipEntry) throws(StemFailure) -> UnsafeRawBufferPointer {
    let h = entry.localHeaderOffset
    guard h + 30 <= centralDirectoryStart, u32(h) == 0x0403_4B50 else {
      throw .corrupt("local header of \(quoted(name(of: entry))) is damaged")
    }
    let nameLength = Int(u16(h + 26))
    // The local copy of the name must agree with the checked central one.
    guard nameLength == entry.nameLength, h + 30 + nameLength <= centralDirectoryStart,
      memcmp(data.baseAddress! + h + 30, data.baseAddress! + entry.nameOffset, nameLength) == 0
    else { throw .corrupt("local header of \(quoted(name(of: entry))) does not match its directory entry") }
    let start = h + 30 + nameLength + Int(u16(h + 28))
    guard start <= centralDirectoryStart, entry.compressedSize <= centralDirectoryStart - start else {
      throw .corrupt("data of \(quoted(name(of: entry))) runs past the archive")
    }
    return UnsafeRawBufferPointer(rebasing: data[start..<start + entry.compressedSize])
  }

  private func findEndOfCentralDirectory() throws(StemFailure) -> Int {
    guard data.count >= 22 else { throw .corrupt("payload is too short to be a zip archive") }
    // The end record is 22 bytes plus a comment of at most 64 KiB.
    var p = data.count - 22
    let lowest = max(0, p - 0xFFFF)
    while p >= lowest {
      if u32(p) == 0x0605_4B50 && p + 22 + Int(u16(p + 20)) == data.count { return p }
      p -= 1
    }
    throw .corrupt("no zip end-of-central-directory record in the payload")
  }

  private func u16(_ at: Int) -> UInt16 {
    UInt16(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt16.self))
  }
  private func u32(_ at: Int) -> UInt32 {
    UInt32(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt32.self))
  }
}

/// Names are relative paths of plain components: no absolute paths, no "..",
/// ".", empty components, backslashes or NULs, so no entry can land outside
/// the extraction root.
func checkName(_ name: UnsafeRawBufferPointer) throws(StemFailure) {
  guard name.count > 0, name.count <= 1024 else { throw .corrupt("entry name is empty or too long") }
  guard name[0] != 0x2F else { throw .corrupt("entry \(quoted(name)) has an absolute path") }
  var componentStart = 0
  for i in 0...name.count {
    let atEnd = i == name.count
    let c: UInt8 = atEnd ? 0x2F : name[i]
    if c == 0 || c == 0x5C { throw .corrupt("entry \(quoted(name)) has a NUL or backslash in its name") }
    guard c == 0x2F else { continue }
    let length = i - componentStart
    let isTrailingSlash = atEnd && componentStart == name.count
    if !isTrailingSlash {
      if length == 0 || (length == 1 && name[componentStart] == 0x2E)
        || (length == 2 && name[componentStart] == 0x2E && name[componentStart + 1] == 0x2E)
      {
        throw .corrupt("entry \(quoted(name)) has an empty, '.' or '..' path component")
      }
    }
    componentStart = i + 1
  }
}

func quoted(_ name: UnsafeRawBufferPointer) -> String {
  "'" + String(decoding: name, as: UTF8.self) + "'"
}
