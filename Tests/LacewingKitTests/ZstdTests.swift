import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

@Suite struct ZstdTests {
  /// 20 MB of real machine code and data: more than two of the
  /// compressor's 8 MiB jobs, so the workers split it.
  static let input: Data = {
    var data = Data()
    for path in [
      "/usr/bin/python3.11", "/lib/x86_64-linux-gnu/libcrypto.so.3", "/usr/lib/python3.11/pydoc_data/topics.py",
    ] {
      data.append(FileManager.default.contents(atPath: path) ?? Data())
    }
    while data.count < 20_000_000 { data.append(data.prefix(20_000_000 - data.count)) }
    return data
  }()

  /// A pack's bytes must not depend on the build machine's core count: the
  /// frame is the same for any number of workers, at our own level and at
  /// one of zstd's, and it expands back to the input.
  @Test(arguments: [Zstd.packLevel, 3])
  func theFrameIsTheSameForAnyNumberOfWorkers(level: Int) throws {
    let frames = try [1, 2, 3].map { workers in try Zstd.compress(Self.input, level: level, workers: workers) }
    #expect(frames[0] == frames[1] && frames[1] == frames[2])
    #expect(try Zstd.decompress(frames[0], size: Self.input.count) == Self.input)
  }

  /// Level 0 is our own search, not zstd's default level (which 0 means to
  /// zstd itself): smaller than zstd's level 3 on machine code.
  @Test func ourLevelIsNotZstdsDefault() throws {
    let ours = try Zstd.compress(Self.input, level: Zstd.packLevel)
    let zstdDefault = try Zstd.compress(Self.input, level: 3)
    #expect(ours.count < zstdDefault.count * 9 / 10, "\(ours.count) vs \(zstdDefault.count)")
  }
}
