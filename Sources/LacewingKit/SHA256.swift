import CLibcrypto

/// SHA-256, from OpenSSL's libcrypto: the digest that keys the stem's cache,
/// computed over every payload on every rebuild, so its speed is part of a
/// bundle's rebuild time.
public struct SHA256 {
  private var context = SHA256_CTX()

  public init() {
    SHA256_Init(&context)
  }

  public mutating func update<Bytes: Collection>(_ data: Bytes) where Bytes.Element == UInt8 {
    if data.withContiguousStorageIfAvailable({ SHA256_Update(&context, $0.baseAddress, $0.count) }) == nil {
      Array(data).withUnsafeBufferPointer { _ = SHA256_Update(&context, $0.baseAddress, $0.count) }
    }
  }

  public static func hash<Bytes: Collection>(_ data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
    var s = SHA256()
    s.update(data)
    return s.finalize()
  }

  public mutating func finalize() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    SHA256_Final(&out, &context)
    return out
  }
}

public func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
  bytes.map { b in
    let s = String(b, radix: 16)
    return b < 16 ? "0" + s : s
  }.joined()
}
