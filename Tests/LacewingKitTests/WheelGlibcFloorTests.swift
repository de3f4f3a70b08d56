import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// A native wheel whose manylinux tags all need a newer glibc than the
/// build's floor (lacewing_max_glibc) is refused, naming the wheel, its tag
/// and the floor; one tag that fits is enough. The names are real PyPI
/// wheels' (and one built locally, linux_x86_64); the bytes are a minimal
/// wheel, since only the name is read for tags.
@Suite struct WheelGlibcFloorTests {
  /// `name` as a wheel on disk, checked against CPython 3.11 and `floor`.
  static func check(_ name: String, floor: String?) throws {
    let dir = try makeTemporaryDirectory("wheel-floor")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/" + name
    try HostileWheelTests.zip(
      member: "fake-1.0.dist-info/WHEEL", claimedSize: UInt64(HostileWheelTests.content.count)
    )
    .write(to: URL(fileURLWithPath: path))
    try Wheel(path).check(runtime: "python3.11", maxGlibc: floor)
  }

  static func refusal(_ name: String, floor: String) -> String? {
    do {
      try check(name, floor: floor)
      return nil
    } catch let error as LacewingError {
      return error.code == .badInput ? error.message : "wrong code \(error.code): \(error.message)"
    } catch {
      return "\(error)"
    }
  }

  @Test func aWheelAboveTheFloorIsRefusedNamingItsTagAndTheFloor() {
    #expect(
      Self.refusal("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", floor: "2.31")
        == "cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl needs glibc 2.34 (manylinux_2_34_x86_64), "
        + "above this build's glibc floor 2.31 (lacewing_max_glibc); pin a wheel built for manylinux_2_31 or older")
  }

  @Test(arguments: [
    // The pinned numpy and psutil: manylinux2014 (2.17) and older pass a Debian 11 floor.
    ("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "2.31"),
    (
      "psutil-7.2.2-cp36-abi3-manylinux_2_12_x86_64.manylinux2010_x86_64.manylinux_2_17_x86_64."
        + "manylinux2014_x86_64.whl", "2.31"
    ),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", "2.31"),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", "2.34"),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", "2.36"),
    // Any one tag that fits is enough: pip installs it through that one.
    ("numpy-2.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "2.27"),
    ("PyYAML-5.4.1-cp311-cp311-manylinux1_x86_64.whl", "2.5"),
    ("pyzmq-22.3.0-cp311-cp311-manylinux2010_x86_64.whl", "2.12"),
    ("jaxlib-0.4.1-cp311-cp311-manylinux2014_x86_64.whl", "2.17"),
    // Pure wheels need no glibc; linux_x86_64 (built locally) promises no
    // floor: its ELFs meet the allowlist check's symbol versions instead.
    ("mobly-1.13.1-py3-none-any.whl", "2.5"),
    ("fidl_helpers-1.0-cp311-cp311-linux_x86_64.whl", "2.5"),
  ])
  func aWheelWithATagAtOrBelowTheFloorPasses(name: String, floor: String) {
    #expect(Self.refusal(name, floor: floor) == nil)
  }

  /// The lowest of the wheel's tags is the one named; the legacy aliases
  /// (PEP 513, 571, 599) count as the glibc they stand for.
  @Test(arguments: [
    (
      "numpy-2.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "2.26", "2.27", "manylinux_2_27_x86_64"
    ),
    ("PyYAML-5.4.1-cp311-cp311-manylinux1_x86_64.whl", "2.4", "2.5", "manylinux1_x86_64"),
    ("pyzmq-22.3.0-cp311-cp311-manylinux2010_x86_64.whl", "2.11", "2.12", "manylinux2010_x86_64"),
    ("jaxlib-0.4.1-cp311-cp311-manylinux2014_x86_64.whl", "2.16", "2.17", "manylinux2014_x86_64"),
    (
      "psutil-7.2.2-cp36-abi3-manylinux_2_12_x86_64.manylinux2010_x86_64.manylinux_2_17_x86_64."
        + "manylinux2014_x86_64.whl", "2.11", "2.12", "manylinux_2_12_x86_64"
    ),
  ])
  func theLowestTagIsNamed(name: String, floor: String, needed: String, tag: String) {
    let floorTag = "manylinux_" + floor.replacing(".", with: "_")
    #expect(
      Self.refusal(name, floor: floor)
        == "\(name) needs glibc \(needed) (\(tag)), above this build's glibc floor \(floor) (lacewing_max_glibc); "
        + "pin a wheel built for \(floorTag) or older")
  }

  /// No floor (lacewing_max_glibc = ""), no tag check; a floor that does
  /// not parse is an error, not a check turned off.
  @Test func noFloorChecksNothingAndABadFloorIsAnError() throws {
    try Self.check("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", floor: nil)
    #expect(
      Self.refusal("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", floor: "2.x")
        == "--max-glibc '2.x' is not a version: give numbers and dots, e.g. 2.31")
  }
}
