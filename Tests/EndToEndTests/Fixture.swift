import Foundation
import LacewingTestSupport
import Testing

/// Every end-to-end suite shares one build dir and some edit its inputs, so
/// they all nest in this serialized suite: one test at a time, whole target.
@Suite(.serialized) enum E2E {}

/// One real GN + Ninja build of the repo's testdata, shared by the end-to-end
/// tests. It builds from a copy of the GN sources and a copy of the runtime,
/// so tests can edit inputs (a stdlib file, a data file) without touching the
/// checkout or the system's Python.
final class E2EBuild: Sendable {
  let dir: String
  let src: String
  let runtime: String
  let out: String
  /// A private copy of the release tools, so tests can touch them.
  let tools: String

  static let shared: Result<E2EBuild, any Error> = Result { try E2EBuild() }

  static func get() throws -> E2EBuild { try shared.get() }

  private init() throws {
    dir = try makeTemporaryDirectory("e2e")
    src = dir + "/src"
    runtime = dir + "/runtime"
    out = dir + "/out"
    tools = dir + "/tools"
    let fm = FileManager.default
    try fm.createDirectory(atPath: tools, withIntermediateDirectories: true)
    for tool in ["collect-artifacts", "make-archive", "fuse-stub", "ldd-allowlist-check", "lacewing-stem"] {
      try check(try run("cp", ["-p", try Repo.tool(tool), tools + "/"]))
    }
    try fm.createDirectory(atPath: src, withIntermediateDirectories: true)
    for item in [".gn", "BUILD.gn", "build", "gn_templates", "testdata", "third_party"] {
      try fm.copyItem(atPath: Repo.root + "/" + item, toPath: src + "/" + item)
    }
    // A runtime of our own: same files as Debian's python3.11, other prefix
    // (its headers too: C extensions build against prefix/include/python3.11).
    for sub in ["bin", "lib", "include"] {
      try fm.createDirectory(atPath: runtime + "/" + sub, withIntermediateDirectories: true)
    }
    try check(try run("cp", ["-a", "/usr/bin/python3.11", runtime + "/bin/"]))
    try check(try run("cp", ["-a", "/usr/lib/python3.11", runtime + "/lib/"]))
    try check(try run("cp", ["-a", "/usr/include/python3.11", runtime + "/include/"]))
    try check(try run("gn", ["gen", out, "--root=" + src, "--args=" + args]))
    try check(try ninja())
  }

  var args: String {
    // Fast deflate and zstd: the tests rebuild payloads dozens of times.
    "lacewing_tools_dir=\"\(tools)\" lacewing_python=\"\(runtime)/bin/python3.11\" lacewing_compression_level=1 "
      + "lacewing_runtime_pack_level=3 "
      + "lacewing_wheel_dir=\"\(Repo.root)/out/wheels\""
  }

  var bundle: String { out + "/rtc_test" }

  /// The runtime layer every bundle of the build is on.
  static let runtime = "//gn_templates:runtime"
  /// Every bundle `ninja` builds by default.
  static let bundles = [
    "//testdata/rtc_test:rtc_test", "//testdata/stem_probe:stem_probe", "//testdata/suite:e2e_suite",
    "//testdata/suite:lacewing_python",
  ]

  func ninja(_ targets: [String] = []) throws -> ProcessResult {
    try run("ninja", ["-C", out] + targets)
  }

  /// The GN actions a ninja run executed, e.g. "//testdata/rtc_test:rtc_test_embed_archive".
  static func actions(_ r: ProcessResult) -> Set<String> {
    var found = Set<String>()
    for line in r.stdout.split(separator: "\n") {
      guard let range = line.range(of: "ACTION ") else { continue }
      let rest = line[range.upperBound...]
      found.insert(String(rest.prefix { $0 != "(" }))
    }
    return found
  }

  private func check(_ r: ProcessResult) throws {
    guard r.status == 0 else { throw TestSetupError("end-to-end build setup failed:\n\(r.output)") }
  }
}

/// A root with only the allowlisted libraries, the loader and /proc: no
/// Python, no /usr. Bundles run in it through a private mount namespace
/// (`runInRoot`), with /proc mounted or, for the host check, not.
/// With `devices` it also has what every real host has and some programs
/// need: /dev/null, /dev/urandom (gRPC's core aborts without it) and
/// /dev/shm (multiprocessing's locks); without, it is barer than any host,
/// for tests of the library model alone.
struct PythonlessRoot {
  let path: String
  let devices: Bool

  init(bundles: [String: String], devices: Bool = true) throws {
    path = try makeTemporaryDirectory("chroot")
    self.devices = devices
    let fm = FileManager.default
    if devices {
      try fm.createDirectory(atPath: path + "/dev/shm", withIntermediateDirectories: true)
      for node in ["null", "urandom"] where !fm.createFile(atPath: path + "/dev/" + node, contents: nil) {
        throw TestSetupError("cannot create the mount point \(path)/dev/\(node)")
      }
    }
    let libDir = path + "/lib/x86_64-linux-gnu"
    try fm.createDirectory(atPath: libDir, withIntermediateDirectories: true)
    try fm.createDirectory(atPath: path + "/lib64", withIntermediateDirectories: true)
    for dir in ["proc", "tmp", "cache"] {
      try fm.createDirectory(atPath: path + "/" + dir, withIntermediateDirectories: true)
    }
    chmod(path + "/tmp", 0o1777)
    let allowlist = readText(Repo.root + "/gn_templates/default_allowlist.txt")
    for line in allowlist.split(separator: "\n") where !line.hasPrefix("#") {
      let name = String(line.split(separator: "#")[0]).trimmingCharacters(in: .whitespaces)
      let host = "/lib/x86_64-linux-gnu/" + name
      if fm.fileExists(atPath: host) {
        try fm.copyItem(atPath: resolvedPath(host), toPath: libDir + "/" + name)
      }
    }
    try fm.copyItem(
      atPath: resolvedPath("/lib64/ld-linux-x86-64.so.2"),
      toPath: path + "/lib64/ld-linux-x86-64.so.2")
    for (name, source) in bundles {
      try writeExecutable(try Data(contentsOf: URL(fileURLWithPath: source)), to: path + "/" + name)
    }
  }

  /// Every file in the root whose name starts with "python".
  func pythons() -> [String] {
    let e = FileManager.default.enumerator(atPath: path)
    var found: [String] = []
    while let item = e?.nextObject() as? String {
      if (item as NSString).lastPathComponent.hasPrefix("python") { found.append(item) }
    }
    return found
  }

  /// Runs `/<bundle> args` inside the root with exactly `env`; without
  /// `proc`, as on a host with no /proc mounted.
  func run(_ bundle: String, _ args: [String], env: [String: String] = [:], proc: Bool = true) throws
    -> ProcessResult
  {
    try runInRoot(path, "/" + bundle, args, env: env, proc: proc, devices: devices)
  }

  func remove() {
    try? FileManager.default.removeItem(atPath: path)
  }
}
