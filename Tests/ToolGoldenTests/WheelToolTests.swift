import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// Wheels the bundle's runtime cannot load are refused by the tools with a
/// message naming the wheel, what it is built for, and the fix; no network
/// needed: the wheels are made here.
@Suite struct WheelToolTests {
  /// A minimal wheel: one module and its dist-info.
  static func makeWheel(_ name: String, in dir: String, pure: Bool = true) throws -> String {
    let tree = dir + "/tree-" + name
    try writeText("VALUE = 1\n", to: tree + "/fake/__init__.py")
    try writeText("Wheel-Version: 1.0\nRoot-Is-Purelib: \(pure)\n", to: tree + "/fake-1.0.dist-info/WHEEL")
    try writeText("Name: fake\nVersion: 1.0\n", to: tree + "/fake-1.0.dist-info/METADATA")
    let wheel = dir + "/" + name
    let r = try run("zip", ["-q", "-r", "-X", wheel, "fake", "fake-1.0.dist-info"], directory: tree)
    guard r.status == 0 else { throw TestSetupError("zip: \(r.stderr)") }
    return wheel
  }

  /// Writes `dir/lock` pinning `wheels` at their own bytes (the tools refuse
  /// wheels without a lock) and returns the options that pass it.
  static func pin(_ wheels: [String], in dir: String) throws -> [String] {
    var lock = ""
    for wheel in wheels {
      let parts = (wheel as NSString).lastPathComponent.split(separator: "-")
      lock += "\(parts[0])==\(parts[1]) --hash=sha256:\(hexString(SHA256.hash(try readFile(wheel))))\n"
    }
    try writeText(lock, to: dir + "/lock")
    return ["--wheel-lock", "lock"]
  }

  /// `make-archive pyz` of a one-line test importing `fake`, plus `args`.
  static func pyz(in dir: String, _ args: [String]) throws -> ProcessResult {
    try writeText(#"[{"source": "main.py", "dest": "main.py"}]"#, to: dir + "/sources.json")
    try writeText("import fake\n", to: dir + "/main.py")
    return try run(
      try Repo.tool("make-archive"),
      ["pyz", "--sources", "sources.json", "--main", "main", "--output", "t.pyz"] + args,
      directory: dir)
  }

  @Test(arguments: [
    ("fake-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "is built for cp312, not the bundled python3.11 (cp311)"),
    ("fake-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", "is built for cp312, not the bundled python3.11 (cp311)"),
    ("fake-1.0-cp311-cp311-win_amd64.whl", "is built for win_amd64, not x86-64 glibc Linux"),
    ("fake-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", "is built for musllinux_1_1_x86_64, not x86-64 glibc Linux"),
    ("fake-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", "is built for manylinux_2_17_aarch64, not x86-64 glibc Linux"),
    ("fake-1.0-cp311-cp311m-manylinux_2_17_x86_64.whl", "needs the cp311m ABI, not python3.11's cp311"),
  ])
  func aWheelForAnotherPythonOrPlatformIsRefused(name: String, message: String) throws {
    let dir = try makeTemporaryDirectory("wheel-tags")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let wheel = try Self.makeWheel(name, in: dir)
    try writeText("[\"\(wheel)\"]", to: dir + "/wheels.json")
    let lock = try Self.pin([wheel], in: dir)
    let pyz = try Self.pyz(in: dir, ["--python", "/usr/bin/python3.11", "--wheel-list", "wheels.json"] + lock)
    #expect(pyz.status == 1, "\(pyz.output)")
    #expect(pyz.stderr.hasPrefix("make-archive pyz: error: \(name) ") && pyz.stderr.contains(message), "\(pyz.stderr)")
    #expect(pyz.stderr.contains("build/fetch-wheels.sh"), "the fix is named: \(pyz.stderr)")

    try BundleManifest(interpreter: "python/bin/python3.11", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/rt.json"))
    let collect = try run(
      try Repo.tool("collect-artifacts"),
      ["--layer", "test", "--runtime-manifest", "rt.json", "--wheel-list", "wheels.json", "--output", "m.json"] + lock,
      directory: dir)
    #expect(collect.status == 1 && collect.stderr.contains(message), "\(collect.stderr)")
  }

  /// The tags follow the runtime the test layer is on: cp3X for CPython
  /// 3.X, py3 and py3X, and cp3Y-abi3 for any Y up to X. No interpreter is
  /// needed: collect-artifacts reads the runtime's name from its manifest.
  @Test(
    arguments: [
      ("python3.9", "fake-1.0-cp39-cp39-manylinux_2_17_x86_64.whl", nil),
      ("python3.9", "fake-1.0-cp37-abi3-manylinux_2_17_x86_64.whl", nil),
      (
        "python3.9", "fake-1.0-cp310-abi3-manylinux_2_17_x86_64.whl",
        "is built for cp310, not the bundled python3.9 (cp39)"
      ),
      (
        "python3.9", "fake-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "is built for cp311, not the bundled python3.9 (cp39)"
      ),
      ("python3.10", "fake-1.0-py310-none-any.whl", nil),
      (
        "python3.10", "fake-1.0-cp39-cp39-manylinux_2_17_x86_64.whl",
        "is built for cp39, not the bundled python3.10 (cp310)"
      ),
      ("python3.12", "fake-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", nil),
      ("python3.12", "fake-1.0-cp311-abi3-manylinux_2_17_x86_64.whl", nil),
      ("python3.12", "fake-1.0-py3-none-any.whl", nil),
      (
        "python3.12", "fake-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "is built for cp311, not the bundled python3.12 (cp312)"
      ),
      (
        "python3.12", "fake-1.0-cp313-abi3-manylinux_2_17_x86_64.whl",
        "is built for cp313, not the bundled python3.12 (cp312)"
      ),
      ("python3.12", "fake-1.0-cp312-cp311-manylinux_2_17_x86_64.whl", "needs the cp311 ABI, not python3.12's cp312"),
      ("python3.13", "fake-1.0-cp313-cp313-manylinux_2_28_x86_64.whl", nil),
      ("python3.13", "fake-1.0-cp39-abi3-manylinux_2_17_x86_64.whl", nil),
      (
        "python3.13", "fake-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "is built for cp312, not the bundled python3.13 (cp313)"
      ),
      ("python3.13", "fake-1.0-cp313-cp313t-manylinux_2_17_x86_64.whl", "needs the cp313t ABI, not python3.13's cp313"),
    ] as [(String, String, String?)])
  func wheelTagsFollowTheRuntimesVersion(runtime: String, name: String, refusal: String?) throws {
    let dir = try makeTemporaryDirectory("wheel-runtime")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let wheel = try Self.makeWheel(name, in: dir)
    try writeText("[\"\(wheel)\"]", to: dir + "/wheels.json")
    try BundleManifest(interpreter: "python/bin/" + runtime, compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/rt.json"))
    let collect = try run(
      try Repo.tool("collect-artifacts"),
      ["--layer", "test", "--runtime-manifest", "rt.json", "--wheel-list", "wheels.json", "--output", "m.json"]
        + (try Self.pin([wheel], in: dir)),
      directory: dir)
    if let refusal {
      #expect(collect.status == 1 && collect.stderr.contains("\(name) \(refusal)"), "\(collect.stderr)")
    } else {
      #expect(collect.status == 0, "\(collect.stderr)")
    }
  }

  @Test func aMissingOrUnpinnedWheelSaysHowToGetIt() throws {
    let dir = try makeTemporaryDirectory("wheel-missing")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func pyz(_ wheels: [String], lock: String) throws -> ProcessResult {
      try writeText("[" + wheels.map { "\"\($0)\"" }.joined(separator: ",") + "]", to: dir + "/wheels.json")
      try writeText(lock, to: dir + "/lock")
      return try Self.pyz(in: dir, ["--wheel-list", "wheels.json", "--wheel-lock", "lock"])
    }
    let missing = try pyz([dir + "/fake-1.0-py3-none-any.whl"], lock: "")
    #expect(
      missing.status == 1
        && missing.stderr.contains("no such wheel; fetch the pinned wheels with build/fetch-wheels.sh"),
      "\(missing.stderr)")
    let wheel = try Self.makeWheel("fake-1.0-py3-none-any.whl", in: dir)
    let unpinned = try pyz([wheel], lock: "other==1.0 --hash=sha256:\(String(repeating: "0", count: 64))\n")
    #expect(
      unpinned.status == 1 && unpinned.stderr.contains("is not pinned in lock; add 'fake==1.0 --hash=sha256:...'"),
      "\(unpinned.stderr)")
    let digest = hexString(SHA256.hash(try readFile(wheel)))
    let pinned = try pyz([wheel], lock: "Fake==1.0 --hash=sha256:\(digest)  # the name as PyPI spells it\n")
    #expect(pinned.status == 0, "\(pinned.stderr)")
  }

  /// The pins hold without the templates: a tool given wheels but no lock
  /// refuses them, naming the option and what to pass.
  @Test func wheelsWithoutALockAreRefused() throws {
    let dir = try makeTemporaryDirectory("wheel-nolock")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let wheel = try Self.makeWheel("fake-1.0-py3-none-any.whl", in: dir)
    try writeText("[\"\(wheel)\"]", to: dir + "/wheels.json")
    let expected =
      "fake-1.0-py3-none-any.whl cannot be checked against a pin: no --wheel-lock was given; pass --wheel-lock"
    let pyz = try Self.pyz(in: dir, ["--python", "/usr/bin/python3.11", "--wheel-list", "wheels.json"])
    #expect(pyz.status == 1 && pyz.stderr.hasPrefix("make-archive pyz: error: " + expected), "\(pyz.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/t.pyz"))
    try BundleManifest(interpreter: "python/bin/python3.11", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/rt.json"))
    let collectArgs = [
      "--layer", "test", "--runtime-manifest", "rt.json", "--wheel-list", "wheels.json", "--output", "m.json",
    ]
    let collect = try run(try Repo.tool("collect-artifacts"), collectArgs, directory: dir)
    #expect(
      collect.status == 1 && collect.stderr.hasPrefix("collect-artifacts: error: " + expected), "\(collect.stderr)")
    // The control: the same runs with the wheel pinned succeed.
    let lock = try Self.pin([wheel], in: dir)
    let pinnedPyz = try Self.pyz(in: dir, ["--python", "/usr/bin/python3.11", "--wheel-list", "wheels.json"] + lock)
    #expect(pinnedPyz.status == 0, "\(pinnedPyz.stderr)")
    let pinnedCollect = try run(try Repo.tool("collect-artifacts"), collectArgs + lock, directory: dir)
    #expect(pinnedCollect.status == 0, "\(pinnedCollect.stderr)")
  }

  /// --max-glibc, which the templates pass from the bundle's glibc floor,
  /// reaches the wheel check of both tools that read wheels; without it,
  /// the same wheel passes.
  @Test func bothToolsHoldWheelsToTheGlibcFloor() throws {
    let dir = try makeTemporaryDirectory("wheel-floor")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let name = "fake-1.0-cp311-cp311-manylinux_2_34_x86_64.whl"
    let wheel = try Self.makeWheel(name, in: dir, pure: false)
    try writeText("[\"\(wheel)\"]", to: dir + "/wheels.json")
    let lock = try Self.pin([wheel], in: dir)
    let expected =
      "\(name) needs glibc 2.34 (manylinux_2_34_x86_64), above this build's glibc floor 2.31 (lacewing_max_glibc); "
      + "pin a wheel built for manylinux_2_31 or older"
    let pyzArgs = ["--python", "/usr/bin/python3.11", "--wheel-list", "wheels.json"] + lock
    let pyz = try Self.pyz(in: dir, pyzArgs + ["--max-glibc", "2.31"])
    #expect(pyz.status == 1 && pyz.stderr == "make-archive pyz: error: \(expected)\n", "\(pyz.stderr)")
    try BundleManifest(interpreter: "python/bin/python3.11", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/rt.json"))
    let collectArgs =
      ["--layer", "test", "--runtime-manifest", "rt.json", "--wheel-list", "wheels.json", "--output", "m.json"] + lock
    let collect = try run(try Repo.tool("collect-artifacts"), collectArgs + ["--max-glibc", "2.31"], directory: dir)
    #expect(collect.status == 1 && collect.stderr == "collect-artifacts: error: \(expected)\n", "\(collect.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/m.json"))
    // The control: at the wheel's own glibc, and with no floor, both pass.
    #expect(try Self.pyz(in: dir, pyzArgs + ["--max-glibc", "2.34"]).status == 0)
    let atFloor = try run(try Repo.tool("collect-artifacts"), collectArgs + ["--max-glibc", "2.34"], directory: dir)
    #expect(atFloor.status == 0, "\(atFloor.stderr)")
    let noFloor = try run(try Repo.tool("collect-artifacts"), collectArgs, directory: dir)
    #expect(noFloor.status == 0, "\(noFloor.stderr)")
  }

  @Test func pureWheelsJoinThePyzAndNativeOnesTheSiteDir() throws {
    let dir = try makeTemporaryDirectory("wheel-layout")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let pure = try Self.makeWheel("fake-1.0-py3-none-any.whl", in: dir)
    // "Native": the wheel says its root is platlib; its files go to site/.
    let native = try Self.makeWheel("native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", in: dir, pure: false)
    try writeText("[\"\(pure)\"]", to: dir + "/pure.json")
    try writeText("[\"\(native)\"]", to: dir + "/native.json")
    let lock = try Self.pin([pure, native], in: dir)
    let pyz = try Self.pyz(
      in: dir, ["--python", "/usr/bin/python3.11", "--wheel-list", "pure.json", "--depfile", "t.pyz.d"] + lock)
    #expect(pyz.status == 0, "\(pyz.stderr)")
    let names = try ZipContents.read(dir + "/t.pyz").map(\.name)
    #expect(
      names.contains("fake/__init__.py") && names.contains("fake/__init__.pyc")
        && names.contains("fake-1.0.dist-info/METADATA"), "\(names)")
    #expect(readText(dir + "/t.pyz.d").contains(pure), "the wheel is a declared input")

    try BundleManifest(interpreter: "python/bin/python3.11", compiler: nil, entries: []).encoded()
      .write(to: URL(fileURLWithPath: dir + "/rt.json"))
    let collect = try run(
      try Repo.tool("collect-artifacts"),
      [
        "--layer", "test", "--runtime-manifest", "rt.json", "--wheel-list", "pure.json", "--wheel-list", "native.json",
        "--output", "m.json", "--depfile", "m.json.d",
      ] + lock, directory: dir)
    #expect(collect.status == 0, "\(collect.stderr)")
    let manifest = try BundleManifest.read(dir + "/m.json")
    #expect(
      manifest.entries.map(\.path) == [
        "site/fake-1.0.dist-info/METADATA", "site/fake-1.0.dist-info/WHEEL", "site/fake/__init__.py",
      ])
    #expect(manifest.entries.allSatisfy { $0.source == native && $0.member != nil })
    #expect(readText(dir + "/m.json.d").contains(native) && readText(dir + "/m.json.d").contains(pure))
  }
}
