import CLibcrypto

/// SHA-256, from OpenSSL's libcrypto: the digest that keys the stem's cache,
/// computed over every payload on every rebuild, so its speed is part of a
/// bundle's rebuild time. Not copyable: it owns an EVP context.
public struct SHA256: ~Copyable {
  private let context: OpaquePointer

  public init() {
    // Allocation failure here is out of memory, which no user input causes.
    guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
      preconditionFailure("libcrypto cannot start a SHA-256 digest")
    }
    self.context = context
  }

  deinit { EVP_MD_CTX_free(context) }

  public mutating func update<Bytes: Collection>(_ data: Bytes) where Bytes.Element == UInt8 {
    let context = self.context
    if data.withContiguousStorageIfAvailable({ EVP_DigestUpdate(context, $0.baseAddress, $0.count) }) == nil {
      Array(data).withUnsafeBufferPointer { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
    }
  }

  public static func hash<Bytes: Collection>(_ data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
    var s = SHA256()
    s.update(data)
    return s.finalize()
  }

  public consuming func finalize() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var size: UInt32 = 0
    EVP_DigestFinal_ex(context, &out, &size)
    return Array(out.prefix(Int(size)))
  }
}

public func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
  bytes.map { b in
    let s = String(b, radix: 16)
    return b < 16 ? "0" + s : s
  }.joined()
}
