import StemSupport

/// The running bundle, mapped read-only: its trailer, config and payload.
struct BundleImage {
  let path: CPath
  let base: UnsafeRawPointer
  let size: Int
  let trailer: lw_trailer
  let payload: UnsafeRawBufferPointer
  let config: BundleConfig
  /// False when /proc/self/exe could not be opened (no /proc mounted, as a
  /// rule) and the bundle was found through AT_EXECFN: the host check's cue.
  var throughProc = true

  /// Maps the executable this process runs from. /proc/self/exe is exact even
  /// when argv[0] lies; AT_EXECFN covers hosts with no /proc mounted.
  static func openSelf() throws(StemFailure) -> BundleImage {
    var path = CPath("/proc/self/exe")
    var fd = path.withCString { lw_open($0, O_RDONLY | O_CLOEXEC, 0) }
    let throughProc = fd >= 0
    if fd < 0, let execfn = getauxval(UInt(AT_EXECFN)) as UInt?, execfn != 0 {
      path = CPath(cString: UnsafePointer<CChar>(bitPattern: UInt(execfn))!)
      fd = path.withCString { lw_open($0, O_RDONLY | O_CLOEXEC, 0) }
    }
    guard fd >= 0 else { throw .system("cannot open its own executable", path) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .system("cannot stat", path) }
    let size = Int(st.st_size)
    guard size > 0 else { throw .corrupt("\(path.string) is empty") }
    guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), lw_mmap_failed(map) == 0 else {
      throw .system("cannot map", path)
    }
    var image = try BundleImage(path: path, base: UnsafeRawPointer(map), size: size)
    image.throughProc = throughProc
    return image
  }

  init(path: CPath, base: UnsafeRawPointer, size: Int) throws(StemFailure) {
    self.path = path
    self.base = base
    self.size = size
    guard size >= Int(LW_TRAILER_SIZE) else {
      throw .corrupt("\(path.string) is \(size) bytes, too short to hold a bundle trailer")
    }
    var t = lw_trailer()
    withUnsafeMutableBytes(of: &t) { dst in
      dst.copyMemory(from: UnsafeRawBufferPointer(start: base + size - Int(LW_TRAILER_SIZE), count: dst.count))
    }
    let magicOK = withUnsafeBytes(of: t.magic) {
      memcmp($0.baseAddress!, LW_TRAILER_MAGIC, Int(LW_TRAILER_MAGIC_SIZE)) == 0
    }
    guard magicOK else { throw .corrupt("no bundle trailer at the end of \(path.string) (truncated, or not a bundle)") }
    guard t.trailer_size == LW_TRAILER_SIZE, t.format_version == LW_FORMAT_VERSION else {
      throw .corrupt("bundle format \(t.format_version) is not the format \(LW_FORMAT_VERSION) this stem reads")
    }
    let crc = withUnsafeBytes(of: &t) {
      UInt32(crc32(0, $0.baseAddress!.assumingMemoryBound(to: Bytef.self), LW_TRAILER_CRC_SPAN))
    }
    guard crc == t.trailer_crc32 else { throw .corrupt("trailer checksum mismatch") }
    let end = UInt64(size) - UInt64(LW_TRAILER_SIZE)
    guard t.config_size <= UInt64(LW_CONFIG_MAX_SIZE), t.config_offset <= end, t.config_offset + t.config_size == end,
      t.payload_offset <= t.config_offset, t.payload_offset + t.payload_size == t.config_offset
    else { throw .corrupt("trailer offsets do not fit a file of \(size) bytes") }
    let config = UnsafeRawBufferPointer(start: base + Int(t.config_offset), count: Int(t.config_size))
    let configCRC = UInt32(crc32(0, config.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(config.count)))
    guard configCRC == t.config_crc32 else { throw .corrupt("config checksum mismatch") }
    self.trailer = t
    self.payload = UnsafeRawBufferPointer(start: base + Int(t.payload_offset), count: Int(t.payload_size))
    self.config = try BundleConfig(parsing: config)
  }

  /// The payload's zip directory, checked against the trailer. Only the
  /// cold path (extraction) and LACEWING_LIST read it.
  func zip() throws(StemFailure) -> ZipReader {
    try ZipReader(payload, indexOffset: Int(trailer.index_offset), indexCRC: trailer.index_crc32)
  }

  var digestHex: String {
    withUnsafeBytes(of: trailer.digest) { hex($0) }
  }
}

/// The launch instructions fuse-stub stored next to the payload.
struct BundleConfig {
  var interpreter: String = ""
  var arguments: [String] = []
  /// nil in a runtime-only bundle.
  var main: String?
  var env: [String] = []
  /// A multi-test bundle's tests: name, path of the .pyz.
  var tests: [(name: String, path: String)] = []
  /// The runtime layer's digest (hex), when it has a cache entry of its own.
  var runtime: String?
  /// What the interpreter needs of the host (lacewing_format.h): its
  /// loader, an absolute path; the highest GLIBC_ version it needs ("2.34")
  /// and the host library it is needed from ("libc.so.6").
  var loader: String?
  var glibc: String?
  var glibcLibrary: String?

  init(parsing bytes: UnsafeRawBufferPointer) throws(StemFailure) {
    var strings: [String] = []
    var start = 0
    for i in 0..<bytes.count where bytes[i] == 0 {
      strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
      start = i + 1
    }
    guard start == bytes.count, strings.count % 2 == 0 else { throw .corrupt("config is not key/value pairs") }
    var i = 0
    while i < strings.count {
      let value = strings[i + 1]
      let key = strings[i]
      // Unknown keys are skipped: a newer fuse-stub may add ones this stem can ignore.
      if same(key, LW_CONFIG_INTERPRETER) {
        interpreter = value
      } else if same(key, LW_CONFIG_ARG) {
        arguments.append(value)
      } else if same(key, LW_CONFIG_MAIN) {
        main = value
      } else if same(key, LW_CONFIG_ENV) {
        env.append(value)
      } else if same(key, LW_CONFIG_TEST) {
        guard let eq = value.utf8.firstIndex(of: 0x3D) else { throw .corrupt("config test entry is not NAME=PATH") }
        tests.append((String(value[..<eq]), String(value[value.utf8.index(after: eq)...])))
      } else if same(key, LW_CONFIG_RUNTIME) {
        // It becomes a directory name: hex digits only, never a path.
        guard value.utf8.count == Int(LW_RUNTIME_DIGEST_HEX),
          value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { throw .corrupt("config runtime digest is not \(LW_RUNTIME_DIGEST_HEX) hex digits") }
        runtime = value
      } else if same(key, LW_CONFIG_LOADER) {
        guard value.utf8.first == 0x2F else { throw .corrupt("config loader is not an absolute path") }
        loader = value
      } else if same(key, LW_CONFIG_GLIBC) {
        // It becomes part of a version name: "2.34" or "2.2.5", nothing else.
        var text = value
        guard text.withUTF8({ VersionDefinitions.number(UnsafeRawBufferPointer($0)) }) > 0 else {
          throw .corrupt("config glibc version is not x.y")
        }
        glibc = value
      } else if same(key, LW_CONFIG_GLIBC_LIBRARY) {
        // It is looked up in the host's library directories: a file name only.
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 != 0x2F }), !same(value, "."), !same(value, "..") else {
          throw .corrupt("config glibc library is not a file name")
        }
        glibcLibrary = value
      }
      i += 2
    }
    guard !interpreter.isEmpty else { throw .corrupt("config names no interpreter") }
    if let main, main.isEmpty { throw .corrupt("config names an empty main") }
    guard (glibc == nil) == (glibcLibrary == nil) else {
      throw .corrupt("config has one of glibc and glibc_library without the other")
    }
  }
}
