import CZstd
import FoundationEssentials
import LacewingFormat

/// Zstandard (the vendored library, Sources/CZstd), for the packed runtime
/// layer (lacewing_format.h).
public enum Zstd {
  /// One frame with its content checksum and a window of at most
  /// 1 << LW_PACK_WINDOW_LOG. Long-distance matching finds repeats across
  /// the whole window; the input is cut into jobs compressed on `workers`
  /// threads, and the frame is the same whatever that number (zstd's
  /// guarantee for any count of one or more), so the bytes do not depend on
  /// the build machine.
  ///
  /// `level` is zstd's, 1 to 22, or `packLevel`, ours.
  public static func compress(_ data: Data, level: Int, workers: Int = 2) throws(LacewingError) -> Data {
    guard let context = ZSTD_createCCtx() else { throw LacewingError(.io, "zstd cannot allocate a compressor") }
    defer { ZSTD_freeCCtx(context) }
    let strength =
      level == packLevel
      ? packParameters : [(ZSTD_c_compressionLevel, Int32(max(1, min(Int(ZSTD_maxCLevel()), level))))]
    let parameters: [(ZSTD_cParameter, Int32)] =
      strength + [
        (ZSTD_c_windowLog, Int32(LW_PACK_WINDOW_LOG)),
        (ZSTD_c_enableLongDistanceMatching, 1),
        (ZSTD_c_checksumFlag, 1),
        (ZSTD_c_nbWorkers, Int32(max(1, workers))),
        // Jobs of half a window: two workers share a 27 MB layer evenly.
        (ZSTD_c_jobSize, Int32(1 << (LW_PACK_WINDOW_LOG - 1))),
      ]
    for (parameter, value) in parameters {
      let rc = ZSTD_CCtx_setParameter(context, parameter, value)
      guard ZSTD_isError(rc) == 0 else { throw LacewingError(.io, "zstd refused a setting: \(errorName(rc))") }
    }
    var out = Data(count: ZSTD_compressBound(data.count))
    let written = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        ZSTD_compress2(context, output.baseAddress, output.count, input.baseAddress, input.count)
      }
    }
    guard ZSTD_isError(written) == 0 else { throw LacewingError(.io, "zstd compression failed: \(errorName(written))") }
    return out.prefix(written)
  }

  /// The level that means `packParameters`: zstd has no level 0 of its own
  /// to set (0 asks for its default, 3).
  public static let packLevel = 0

  /// Our own search for a runtime pack, chosen by measurement (design.md,
  /// "Packing the runtime"): zstd's optimal parser (btopt, as at levels 16
  /// and 17) with 3-byte matches (as at 18 and 19, which is most of what
  /// those levels gain on ELF code) and a shallow search. On rtc_test's
  /// runtime: 7.76 MB in about 3 s on 2 cores, where level 19 is 7.46 MB in
  /// 9 s and level 16 is 8.0 MB in 4.7 s.
  static let packParameters: [(ZSTD_cParameter, Int32)] = [
    (ZSTD_c_strategy, Int32(ZSTD_btopt.rawValue)),
    (ZSTD_c_minMatch, 3),
    (ZSTD_c_searchLog, 4),
    (ZSTD_c_chainLog, 20),
    (ZSTD_c_hashLog, 21),
    (ZSTD_c_targetLength, 32),
  ]

  /// Frames that must expand to exactly `size` bytes, checksums checked.
  public static func decompress(_ data: Data, size: Int) throws(LacewingError) -> Data {
    guard let context = ZSTD_createDCtx() else { throw LacewingError(.io, "zstd cannot allocate a decompressor") }
    defer { ZSTD_freeDCtx(context) }
    var out = Data(count: size)
    let rc = data.withUnsafeBytes { input in
      out.withUnsafeMutableBytes { output in
        ZSTD_decompressDCtx(context, output.baseAddress, output.count, input.baseAddress, input.count)
      }
    }
    guard ZSTD_isError(rc) == 0, rc == size else {
      let why = ZSTD_isError(rc) != 0 ? errorName(rc) : "\(rc) bytes where its entry declares \(size)"
      throw LacewingError(.badInput, "the packed runtime's zstd frame is damaged (\(why)); rebuild it")
    }
    return out
  }

  private static func errorName(_ rc: Int) -> String { String(cString: ZSTD_getErrorName(rc)) }
}

/// lacewing_format.h's x86 branch filter over a whole member.
public enum X86Filter {
  public static func apply(_ data: Data, encode: Bool) -> Data {
    var out = data
    out.withUnsafeMutableBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      _ = lw_x86_filter(base.assumingMemoryBound(to: UInt8.self), buffer.count, 0, encode ? 1 : 0, 1)
    }
    return out
  }
}
