import StemSupport

/// Extracts a packed runtime layer (lacewing_format.h) while it is decoded:
/// zstd fills one fixed buffer and each member's bytes go to its file as
/// they arrive, so the stem's memory does not grow with the layer, decoding
/// overlaps writing, and no byte is copied twice. Members are read by their
/// local headers; the central directory that ends the pack must then list
/// the same members in the same order, and its modes are applied last.
struct PackExtractor {
  let root: CPath

  /// A member as its local header described it, to match against the
  /// central directory.
  private struct Member {
    var name: Range<Int>  // in `names`
    var offset: Int
    var method: UInt16
    var crc: UInt32
    var size: Int
  }

  /// Returns how many files it wrote. `declaredSize` is the pack entry's
  /// size, already checked against the extraction limit.
  func extract(_ frame: UnsafeRawBufferPointer, declaredSize: Int) throws(StemFailure) -> Int {
    guard let unpacker = lw_unpacker_new(frame.baseAddress?.assumingMemoryBound(to: UInt8.self), frame.count) else {
      throw .cannotRun("out of memory")
    }
    defer { lw_unpacker_free(unpacker) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var input = Decoded(unpacker: unpacker, buffer: buffer, limit: declaredSize)
    var members: [Member] = []
    var names: [UInt8] = []
    var parentMade: [UInt8] = []
    let prefix = Array(LW_RUNTIME_PREFIX.utf8)
    while true {
      try input.need(4, for: "its central directory")
      let signature = input.u32(0)
      if signature == 0x0201_4B50 { break }
      guard signature == 0x0403_4B50 else { throw .corrupt("the packed runtime's member \(members.count) is damaged") }
      let offset = input.position
      try input.need(30, for: "a member's header")
      let flags = input.u16(6)
      let method = input.u16(8)
      let nameLength = Int(input.u16(26))
      let headerSize = 30 + nameLength + Int(input.u16(28))
      var member = Member(
        name: names.count..<names.count + nameLength, offset: offset, method: method, crc: input.u32(14),
        size: Int(input.u32(22)))
      try input.need(headerSize, for: "a member's name")
      let name = UnsafeRawBufferPointer(rebasing: input.available[30..<30 + nameLength])
      try checkName(name)
      // Bit 0: encrypted; bit 3: sizes in a data descriptor after the data.
      guard flags & 0x9 == 0, method == 0 || method == UInt16(LW_ZIP_METHOD_X86),
        Int(input.u32(18)) == member.size
      else { throw .corrupt("the packed runtime's \(quoted(name)) is not stored as the format says") }
      guard name.starts(with: prefix), name[name.count - 1] != 0x2F else {
        throw .corrupt("the packed runtime holds \(quoted(name)), which is not a plain file under python/")
      }
      names.append(contentsOf: name)
      try makeParents(of: name, under: root, memo: &parentMade)
      let path = root.appending(bytes: name)
      input.consume(headerSize)
      try write(&member, to: path, from: &input)
      members.append(member)
    }
    try applyDirectory(input.rest(), members: members, names: names, declaredSize: declaredSize)
    return members.count
  }

  /// Streams one member's data into a new file at `path`, undoing the x86
  /// filter on the way, and checks its CRC-32.
  private func write(_ member: inout Member, to path: CPath, from input: inout Decoded) throws(StemFailure) {
    let name = path
    let fd = try createNewFile(path, mode: 0o644, duplicate: "the packed runtime holds \(name.string) twice")
    defer { close(fd) }
    var crc: uLong = 0
    var done = 0
    while done < member.size {
      let remaining = member.size - done
      // The filter decides on up to 7 bytes at a time (lacewing_format.h).
      try input.need(min(remaining, 8), for: "\(name.string)'s data")
      var chunk = min(remaining, input.available.count)
      if member.method != 0 {
        chunk = lw_x86_filter(
          input.available.baseAddress!.assumingMemoryBound(to: UInt8.self), chunk, UInt64(done), 0,
          chunk == remaining ? 1 : 0)
      }
      let bytes = UnsafeRawBufferPointer(rebasing: input.available[0..<chunk])
      crc = crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(chunk))
      guard writeAll(fd, bytes) else { throw .system("cannot write", path) }
      input.consume(chunk)
      done += chunk
    }
    guard UInt32(truncatingIfNeeded: crc) == member.crc else {
      throw .corrupt("the packed runtime's \(name.string) fails its CRC-32 check")
    }
  }

  /// The central directory and end record must describe exactly the
  /// members written; the modes they give are applied.
  private func applyDirectory(_ tail: [UInt8], members: [Member], names: [UInt8], declaredSize: Int)
    throws(StemFailure)
  {
    func u16(_ at: Int) -> Int { Int(tail[at]) | Int(tail[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    let end = tail.count - 22
    guard end >= 0, u32(end) == 0x0605_4B50, u16(end + 8) == members.count, u16(end + 10) == members.count,
      u32(end + 12) == end, u32(end + 16) == declaredSize - tail.count, u16(end + 20) == 0
    else { throw .corrupt("the packed runtime's directory does not match its members") }
    var p = 0
    for member in members {
      let nameLength = member.name.count
      guard p + 46 + nameLength <= end, u32(p) == 0x0201_4B50, u16(p + 10) == Int(member.method),
        u32(p + 16) == Int(member.crc), u32(p + 20) == member.size, u32(p + 24) == member.size,
        u16(p + 28) == nameLength, u32(p + 42) == member.offset,
        tail[(p + 46)..<(p + 46 + nameLength)].elementsEqual(names[member.name])
      else { throw .corrupt("the packed runtime's directory does not match its members") }
      let unixMode = (u16(p + 4) >> 8) == 3 ? UInt32(u32(p + 38) >> 16) : 0
      guard unixMode & 0o170000 == 0 || unixMode & 0o170000 == 0o100000 else {
        throw .corrupt("the packed runtime's directory gives a member a mode that is not a plain file's")
      }
      let perm = permissions(unixMode)
      if perm != 0o644 {
        let path = names[member.name].withUnsafeBytes { root.appending(bytes: $0) }
        guard path.withCString({ chmod($0, perm) }) == 0 else { throw .system("cannot set the mode of", path) }
      }
      p += 46 + nameLength + u16(p + 30) + u16(p + 32)
    }
    guard p == end else { throw .corrupt("the packed runtime's directory does not match its members") }
  }
}

/// The pack's decoded bytes through a fixed buffer: `available` is what has
/// been decoded and not yet consumed.
private struct Decoded {
  let unpacker: OpaquePointer
  let buffer: UnsafeMutableRawBufferPointer
  /// The entry's declared size: decoding past it is an error.
  let limit: Int
  private var start = 0
  private var end = 0
  private var decoded = 0

  init(unpacker: OpaquePointer, buffer: UnsafeMutableRawBufferPointer, limit: Int) {
    self.unpacker = unpacker
    self.buffer = buffer
    self.limit = limit
  }

  var available: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end]) }
  /// Offset in the pack of the first available byte.
  var position: Int { decoded - (end - start) }

  mutating func consume(_ n: Int) { start += n }

  func u16(_ at: Int) -> UInt16 {
    UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: start + at, as: UInt16.self))
  }
  func u32(_ at: Int) -> UInt32 {
    UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: start + at, as: UInt32.self))
  }

  /// Makes `n` bytes (at most the buffer's size) available, or fails
  /// naming what the pack ended before.
  mutating func need(_ n: Int, for what: String) throws(StemFailure) {
    guard try fill(n) else { throw .corrupt("the packed runtime ends before \(what)") }
  }

  /// Whether `n` bytes are available once the buffer is topped up.
  private mutating func fill(_ n: Int) throws(StemFailure) -> Bool {
    if end - start >= n { return true }
    if start > 0 {
      memmove(buffer.baseAddress!, buffer.baseAddress! + start, end - start)
      end -= start
      start = 0
    }
    while end < n {
      let got = lw_unpack(unpacker, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + end, buffer.count - end)
      guard got >= 0 else { throw .corrupt("the packed runtime's zstd frame is damaged") }
      if got == 0 { return false }
      end += got
      decoded += got
      guard decoded <= limit else { throw .corrupt("the packed runtime expands past its declared size") }
    }
    return true
  }

  /// Everything left (the central directory and end record), which must
  /// end the pack at its declared size.
  mutating func rest() throws(StemFailure) -> [UInt8] {
    var out: [UInt8] = []
    repeat {
      out.append(contentsOf: available)
      start = end
      // A directory holds a record per member; 16 MiB is many times the
      // largest runtime's.
      guard out.count <= 16 << 20 else { throw .corrupt("the packed runtime's directory is too large") }
    } while try fill(1)
    guard decoded == limit else { throw .corrupt("the packed runtime holds fewer bytes than it declares") }
    return out
  }
}
