import CLiblzma
import Foundation

/// xz (liblzma), for the packed runtime layer.
public enum XZ {
  public static func compress(_ data: Data, preset: Int) throws(LacewingError) -> Data {
    var out = Data(count: lzma_stream_buffer_bound(data.count))
    var written = 0
    let rc = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        lzma_easy_buffer_encode(
          UInt32(max(0, min(9, preset))), LZMA_CHECK_CRC32, nil, input.baseAddress?.assumingMemoryBound(to: UInt8.self),
          input.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, output.count)
      }
    }
    guard rc == LZMA_OK else { throw LacewingError(.io, "xz compression failed (liblzma error \(rc.rawValue))") }
    return out.prefix(written)
  }

  /// One whole .xz stream that must expand to exactly `size` bytes.
  public static func decompress(_ data: Data, size: Int) throws(LacewingError) -> Data {
    var out = Data(count: size)
    var memlimit: UInt64 = 1 << 30
    var inPos = 0
    var outPos = 0
    let rc = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        lzma_stream_buffer_decode(
          &memlimit, 0, nil, input.baseAddress?.assumingMemoryBound(to: UInt8.self), &inPos, input.count,
          output.baseAddress?.assumingMemoryBound(to: UInt8.self), &outPos, output.count)
      }
    }
    guard rc == LZMA_OK, inPos == data.count, outPos == size else {
      throw LacewingError(
        .badInput, "the packed runtime's xz stream is damaged (liblzma error \(rc.rawValue)); rebuild it")
    }
    return out
  }
}
