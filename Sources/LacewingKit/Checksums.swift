import CLibcrypto
import CZlib

/// SHA-256, from OpenSSL's libcrypto: the digest that keys the stem's cache,
/// computed over every payload on every rebuild, so its speed is part of a
/// bundle's rebuild time. Not copyable: it owns an EVP context.
public struct SHA256: ~Copyable {
  private let context: OpaquePointer

  public init() {
    _ = CLibraries.configured
    // Allocation failure here is out of memory, which no user input causes.
    guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
      preconditionFailure("libcrypto cannot start a SHA-256 digest")
    }
    self.context = context
  }

  deinit { EVP_MD_CTX_free(context) }

  public mutating func update<Bytes: Collection>(_ data: Bytes) where Bytes.Element == UInt8 {
    let context = self.context
    withContiguousBytes(data) { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
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

/// zip's CRC-32, from zlib, the code the stem checks entries with.
public enum CRC32 {
  public static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    withContiguousBytes(bytes) { buffer in
      // zlib counts in uInt: a buffer past 4 GiB goes in pieces.
      var crc: uLong = 0
      var rest = UnsafeBufferPointer(rebasing: buffer[...])
      repeat {
        let n = min(rest.count, Int(UInt32.max))
        crc = crc32(crc, rest.baseAddress, uInt(n))
        rest = UnsafeBufferPointer(rebasing: rest[(rest.startIndex + n)...])
      } while !rest.isEmpty
      return UInt32(truncatingIfNeeded: crc)
    }
  }
}

/// Runs `body` over the bytes in one buffer, copying them only when the
/// collection keeps them apart (the C digests take a pointer and a length).
private func withContiguousBytes<Bytes: Collection, R>(
  _ bytes: Bytes, _ body: (UnsafeBufferPointer<UInt8>) -> R
) -> R where Bytes.Element == UInt8 {
  bytes.withContiguousStorageIfAvailable(body) ?? Array(bytes).withUnsafeBufferPointer(body)
}

/// Lower-case hex, two digits a byte: digests in names and messages.
public func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
  bytes.map { b in
    let s = String(b, radix: 16)
    return b < 16 ? "0" + s : s
  }.joined()
}
