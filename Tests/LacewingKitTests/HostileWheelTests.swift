import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// A wheel whose zip directory claims a member is far larger than its
/// bytes (zip64 sizes up to 2^64 - 1): the tools read what is there and
/// refuse the wheel, naming it, instead of allocating what was claimed or
/// trapping on a size no Int holds.
@Suite struct HostileWheelTests {
  static let content = Data("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n".utf8)

  /// One stored member, its sizes only in zip64 extra fields, local and
  /// central alike (libzip refuses the two disagreeing).
  static func zip(member: String, claimedSize: UInt64) -> Data {
    func le(_ value: UInt64, _ width: Int) -> Data {
      Data((0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }
    let name = Data(member.utf8)
    let crc = UInt64(CRC32.checksum(content))
    let zip64 = le(1, 2) + le(16, 2) + le(claimedSize, 8) + le(UInt64(content.count), 8)
    let common =
      le(45, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(crc, 4) + le(0xFFFF_FFFF, 4)
      + le(0xFFFF_FFFF, 4) + le(UInt64(name.count), 2) + le(UInt64(zip64.count), 2)
    let local = le(0x0403_4B50, 4) + common + name + zip64 + content
    let central =
      le(0x0201_4B50, 4) + le(0x32D, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0o644 << 16, 4)
      + le(0, 4) + name + zip64
    let end =
      le(0x0605_4B50, 4) + le(0, 4) + le(1, 2) + le(1, 2) + le(UInt64(central.count), 4)
      + le(UInt64(local.count), 4) + le(0, 2)
    return local + central + end
  }

  @Test(arguments: [UInt64.max, 1 << 62, 1 << 40])
  func aMemberClaimingMoreThanItHoldsIsRefused(_ claimedSize: UInt64) throws {
    let dir = try makeTemporaryDirectory("hostile-wheel")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/fake-1.0-py3-none-any.whl"
    try Self.zip(member: "fake-1.0.dist-info/WHEEL", claimedSize: claimedSize).write(to: URL(fileURLWithPath: path))
    #expect {
      _ = try Wheel(path)
    } throws: { error in
      let e = error as? LacewingError
      return e?.code == .badInput && e?.message.contains(path) == true
    }
  }

  /// The same zip, honest about its size, is a wheel: the refusals above
  /// are for the claimed size alone.
  @Test func theHonestZipIsRead() throws {
    let dir = try makeTemporaryDirectory("honest-wheel")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/fake-1.0-py3-none-any.whl"
    try Self.zip(member: "fake-1.0.dist-info/WHEEL", claimedSize: UInt64(Self.content.count))
      .write(to: URL(fileURLWithPath: path))
    let wheel = try Wheel(path)
    #expect(wheel.isPure)
    #expect(wheel.files.map(\.path) == ["fake-1.0.dist-info/WHEEL"])
  }
}
