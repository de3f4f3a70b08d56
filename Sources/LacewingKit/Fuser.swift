import Foundation
import LacewingFormat

/// fuse-stub: [stem][payload][config][trailer], the layout in lacewing_format.h.
public enum Fuser {
  public struct Config: Equatable {
    public var interpreter: String
    /// Given to the interpreter before `main`, e.g. "-B".
    public var arguments: [String]
    public var main: String
    /// "NAME=path" with the path relative to the extraction root.
    public var env: [String]

    public init(interpreter: String, arguments: [String] = [], main: String, env: [String] = []) {
      self.interpreter = interpreter
      self.arguments = arguments
      self.main = main
      self.env = env
    }

    var encoded: Data {
      var pairs = [(LW_CONFIG_INTERPRETER, interpreter)] + arguments.map { (LW_CONFIG_ARG, $0) }
      pairs.append((LW_CONFIG_MAIN, main))
      pairs += env.map { (LW_CONFIG_ENV, $0) }
      var data = Data()
      for (key, value) in pairs {
        data.append(contentsOf: Array(key.utf8) + [0] + Array(value.utf8) + [0])
      }
      return data
    }
  }

  public static func validate(_ config: Config, against manifest: BundleManifest) throws(LacewingError) {
    let paths = Set(manifest.entries.map(\.path))
    for (what, path) in [("interpreter", config.interpreter), ("main", config.main)] where !paths.contains(path) {
      throw LacewingError(.badInput, "the \(what) \(path) is not in the payload; check main_source and the runtime")
    }
    for entry in config.env {
      guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex,
        entry[..<eq].allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) })
      else { throw LacewingError(.badInput, "env entry '\(entry)' is not NAME=relative/path") }
      let value = entry[entry.index(after: eq)...]
      guard !value.hasPrefix("/"), !value.split(separator: "/").contains("..") else {
        throw LacewingError(.badInput, "env entry '\(entry)': the value must be a path relative to the extraction root")
      }
    }
    guard config.encoded.count <= Int(LW_CONFIG_MAX_SIZE) else {
      throw LacewingError(.badInput, "the bundle config exceeds \(LW_CONFIG_MAX_SIZE) bytes; use fewer env entries")
    }
  }

  /// Where the central directory starts, read from the zip's end record.
  static func centralDirectoryOffset(_ payload: Data) throws(LacewingError) -> Int {
    let bytes = [UInt8](payload.suffix(22 + 0xFFFF))
    let base = payload.count - bytes.count
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    var p = bytes.count - 22
    while p >= 0 {
      if bytes[p] == 0x50, bytes[p + 1] == 0x4B, bytes[p + 2] == 5, bytes[p + 3] == 6, p + 22 + u16(p + 20) == bytes.count {
        let offset = u16(p + 16) | u16(p + 18) << 16
        guard offset <= base + p else { break }
        return offset
      }
      p -= 1
    }
    throw LacewingError(.badInput, "the payload is not a zip archive (no end-of-central-directory record)")
  }

  public static func fuse(stem: Data, payload: Data, config: Config) throws(LacewingError) -> Data {
    let indexOffset = try centralDirectoryOffset(payload)
    let configData = config.encoded
    var digest = SHA256()
    digest.update(payload)
    digest.update(configData)
    var trailer = lw_trailer()
    trailer.payload_offset = UInt64(stem.count)
    trailer.payload_size = UInt64(payload.count)
    trailer.config_offset = UInt64(stem.count + payload.count)
    trailer.config_size = UInt64(configData.count)
    trailer.index_offset = UInt64(indexOffset)
    trailer.index_crc32 = CRC32.checksum(payload[(payload.startIndex + indexOffset)...])
    withUnsafeMutableBytes(of: &trailer.digest) { $0.copyBytes(from: digest.finalize()) }
    trailer.format_version = LW_FORMAT_VERSION
    trailer.trailer_size = LW_TRAILER_SIZE
    trailer.config_crc32 = CRC32.checksum(configData)
    withUnsafeMutableBytes(of: &trailer.magic) { $0.copyBytes(from: Array(LW_TRAILER_MAGIC.utf8)) }
    trailer.trailer_crc32 = withUnsafeBytes(of: trailer) { CRC32.checksum($0.prefix(Int(LW_TRAILER_CRC_SPAN))) }
    var out = Data()
    out.reserveCapacity(stem.count + payload.count + configData.count + Int(LW_TRAILER_SIZE))
    out.append(stem)
    out.append(payload)
    out.append(configData)
    withUnsafeBytes(of: trailer) { out.append(contentsOf: $0) }
    return out
  }
}

/// zlib's CRC-32 (the polynomial zip uses), so the tools and the stem agree.
public enum CRC32 {
  private static let table: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }
}
