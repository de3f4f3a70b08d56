import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// This host's glibc, "2.36".
let hostGlibc: String = {
  let out = (try? run("getconf", ["GNU_LIBC_VERSION"]).stdout) ?? ""
  return String(out.dropFirst("glibc ".count).prefix { $0 != "\n" })
}()

/// Fuses `dir/bundle` from a payload whose interpreter is `interpreter`
/// (a file copied in at python/bin/<its name>) and whose test is a text
/// file, with host needs as the allowlist check would record them: the
/// interpreter's loader and the glibc floor in a library.
func fuseWithHostNeeds(
  in dir: String, interpreter: String, loader: String?, glibc: (version: String, library: String)?
) throws -> String {
  let name = "python/bin/" + (interpreter as NSString).lastPathComponent
  let payload = try ZipMerge.merge(
    [], adding: [.init(path: name, data: try readFile(interpreter), mode: 0o755)])
  try payload.write(to: URL(fileURLWithPath: dir + "/p.zip"))
  try BundleManifest(interpreter: name, compiler: nil, entries: []).encoded()
    .write(to: URL(fileURLWithPath: dir + "/m.json"))
  try writeText("hello\n", to: dir + "/hello.pyz")
  let needs = AllowlistCheck.HostNeeds(
    glibc: glibc.map { .init(version: $0.version, library: $0.library, neededBy: "python/lib/x.so") },
    loaders: loader.map { [name: $0] } ?? [:])
  try OutputFile.write(needs.json, to: dir + "/needs.json")
  let r = try run(
    try Repo.tool("fuse-stub"),
    [
      "--stem", try Repo.tool("lacewing-stem"), "--payload", "p.zip", "--manifest", "m.json", "--pyz", "hello.pyz",
      "--host-needs", "needs.json", "--output", "bundle",
    ], directory: dir)
  guard r.status == 0 else { throw TestSetupError("fuse-stub failed: \(r.stderr)") }
  return dir + "/bundle"
}

/// The stem's check of the host (docs/design.md, "The host check"), on
/// bundles fused here with a shell-script interpreter and host needs
/// written by hand: a host that cannot run the interpreter (no such loader,
/// an older glibc, no /proc) gets one line and exit 126 before anything is
/// extracted, in cache and temp mode; a host that can runs the test.
@Suite struct HostCheckTests {
  let dir: String

  init() throws {
    dir = try makeTemporaryDirectory("host-check")
    try writeCatInterpreter(to: dir + "/tree/cat")
  }

  func bundle(loader: String? = "/lib64/ld-linux-x86-64.so.2", glibc: (String, String)?) throws -> String {
    try fuseWithHostNeeds(in: dir, interpreter: dir + "/tree/cat", loader: loader, glibc: glibc)
  }

  /// Runs the bundle in `mode` with its cache and TMPDIR in a fresh
  /// sandbox, through `wrapper` (a command line the bundle is appended to);
  /// returns what is left in the sandbox.
  func run(_ bundle: String, mode: String, wrapper: [String] = [], env extra: [String: String] = [:]) throws
    -> (ProcessResult, left: [String])
  {
    let sandbox = dir + "/sandbox"
    try? FileManager.default.removeItem(atPath: sandbox)
    for sub in ["cache", "tmp"] {
      try FileManager.default.createDirectory(atPath: sandbox + "/" + sub, withIntermediateDirectories: true)
    }
    var env = ["LACEWING_CACHE_DIR": sandbox + "/cache/lacewing", "TMPDIR": sandbox + "/tmp", "PATH": "/usr/bin:/bin"]
    if mode == "temp" { env["LACEWING_EXTRACT"] = "temp" }
    env.merge(extra) { $1 }
    let command = wrapper + [bundle]
    let r = try LacewingTestSupport.run(command[0], Array(command.dropFirst()), environment: env)
    let left = FileManager.default.enumerator(atPath: sandbox)?.allObjects as? [String] ?? []
    return (r, left.sorted())
  }

  func expectOneLine(_ r: ProcessResult, _ line: String, _ left: [String]) {
    #expect(r.status == 126 && r.signal == nil, "\(r.status): \(r.output)")
    #expect(r.stdout == "" && r.stderr == "lacewing: " + line + "\n", "\(r.stderr)")
    #expect(left == ["cache", "tmp"], "extracted before the check: \(left)")
  }

  @Test(arguments: ["cache", "temp"])
  func aGlibcNewerThanTheHostsFailsBeforeExtracting(mode: String) throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (r, left) = try run(try bundle(glibc: ("9.99", "libc.so.6")), mode: mode)
    expectOneLine(
      r, "this bundle needs glibc 9.99 or newer (GLIBC_9.99 in libc.so.6); this host has glibc \(hostGlibc)", left)
  }

  /// The node is looked up in the library the floor names: this host's
  /// libm.so.6 defines GLIBC_2.29 (exp) but not its glibc's own version,
  /// which only libc.so.6 does. A library this host lacks is not judged.
  @Test func theHostsOwnVersionsRun() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for glibc in [(hostGlibc, "libc.so.6"), ("2.2.5", "libc.so.6"), ("2.29", "libm.so.6"), ("9.99", "libnone.so.1")] {
      let (r, _) = try run(try bundle(glibc: glibc), mode: "cache")
      #expect(r.status == 0 && r.output == "hello\n", "\(glibc): \(r.output)")
    }
    let (r, left) = try run(try bundle(glibc: (hostGlibc, "libm.so.6")), mode: "cache")
    expectOneLine(
      r,
      "this bundle needs glibc \(hostGlibc) or newer (GLIBC_\(hostGlibc) in libm.so.6); this host's "
        + "/lib/x86_64-linux-gnu/libm.so.6 does not define it", left)
  }

  @Test(arguments: ["cache", "temp"])
  func aMissingLoaderFailsBeforeExtracting(mode: String) throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (r, left) = try run(try bundle(loader: "/nonexistent/ld-linux-x86-64.so.2", glibc: nil), mode: mode)
    let musl =
      FileManager.default.fileExists(atPath: "/lib/ld-musl-x86_64.so.1")
      ? " (it has musl's, /lib/ld-musl-x86_64.so.1)" : " (a musl or other non-glibc system?)"
    expectOneLine(
      r,
      "this bundle needs glibc (its interpreter's loader /nonexistent/ld-linux-x86-64.so.2); this host has none" + musl,
      left)
  }

  /// With no /proc (an empty tmpfs over it, in a mount namespace of its
  /// own), the loader could not expand $ORIGIN. A bundle whose interpreter
  /// has no loader (a script) needs no /proc and runs.
  @Test(arguments: ["cache", "temp"])
  func noProcFailsBeforeExtracting(mode: String) throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let noProc = ["unshare", "--mount", "--fork", "sh", "-c", "mount -t tmpfs tmpfs /proc && exec \"$@\"", "sh"]
    let checked = try bundle(glibc: (hostGlibc, "libc.so.6"))
    let (r, left) = try run(checked, mode: mode, wrapper: noProc)
    expectOneLine(
      r,
      "this bundle's interpreter finds its libraries through $ORIGIN, which the loader resolves by reading "
        + "/proc/self/exe, and /proc is not mounted on this host; mount it (mount -t proc proc /proc)", left)
    // The control: the same bundle and namespace with /proc runs.
    let withProc = ["unshare", "--mount", "--fork", "sh", "-c", "exec \"$@\"", "sh"]
    let (ok, _) = try run(checked, mode: mode, wrapper: withProc)
    #expect(ok.status == 0 && ok.output == "hello\n", "\(ok.output)")
    let (script, _) = try run(try bundle(loader: nil, glibc: nil), mode: mode, wrapper: noProc)
    #expect(script.status == 0 && script.output == "hello\n", "\(script.output)")
  }

  /// LACEWING_LIST and LACEWING_CACHE work anywhere: they run nothing.
  @Test func listingAndTheCacheCommandsWorkOnAHostThatCannotRun() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let failing = try bundle(glibc: ("9.99", "libm.so.6"))
    let (list, left) = try run(failing, mode: "cache", env: ["LACEWING_LIST": "1"])
    #expect(list.status == 0, "\(list.stderr)")
    #expect(
      list.stdout.contains("\nloader /lib64/ld-linux-x86-64.so.2\nglibc 9.99\nglibc_library libm.so.6\n"),
      "\(list.stdout)")
    #expect(left == ["cache", "tmp"])
    let (cache, _) = try run(failing, mode: "cache", env: ["LACEWING_CACHE": "list"])
    #expect(cache.status == 0 && cache.stdout.contains("0 entries"), "\(cache.output)")
  }
}

/// The host library the floor names, read by the stem in a root made here
/// (a static interpreter, no Python, no shell): found in any of the
/// loader's default directories; the host's version taken from libc.so.6's
/// link name up to glibc 2.33, else from the highest GLIBC_ node; and any
/// file it cannot read as a library (truncated, garbage, a FIFO, tables
/// pointing outside it) is not judged, never a crash or a hang.
@Suite(.serialized) struct HostLibraryTests {
  let dir: String
  let root: String

  init() throws {
    dir = try makeTemporaryDirectory("host-library")
    root = dir + "/root"
    for sub in ["proc", "tmp", "lib64", "lib/x86_64-linux-gnu", "python"] {
      try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
    }
    // A static program stands in for the interpreter: the root has no loader to run anything else.
    try writeText("#include <stdio.h>\nint main(void) { puts(\"ran\"); return 0; }\n", to: dir + "/ran.c")
    let cc = try LacewingTestSupport.run("gcc", ["-static", "-O1", "-o", dir + "/ran", dir + "/ran.c"])
    guard cc.status == 0 else { throw TestSetupError("gcc -static: \(cc.stderr)") }
  }

  /// Fuses the bundle into the root with these needs and runs it there.
  func run(
    loader: String = "/lib64/ld-linux-x86-64.so.2", glibc: (String, String)?, proc: Bool = true
  ) throws -> ProcessResult {
    let bundle = try fuseWithHostNeeds(in: dir, interpreter: dir + "/ran", loader: loader, glibc: glibc)
    try writeExecutable(try readFile(bundle), to: root + "/bundle")
    try? FileManager.default.removeItem(atPath: root + "/cache")
    return try runInRoot(root, "/bundle", env: ["LACEWING_CACHE_DIR": "/cache", "TMPDIR": "/tmp"], proc: proc)
  }

  func place(_ data: Data, at path: String) throws {
    try? FileManager.default.removeItem(atPath: root + path)
    try data.write(to: URL(fileURLWithPath: root + path))
  }

  func expectRan(_ r: ProcessResult, _ what: String) {
    #expect(r.status == 0 && r.signal == nil && r.output == "ran\n", "\(what): \(r.status) \(r.output)")
  }

  func expectRefused(_ r: ProcessResult, _ line: String, _ what: String) {
    #expect(r.status == 126 && r.signal == nil && r.stderr == "lacewing: " + line + "\n", "\(what): \(r.output)")
    #expect(!FileManager.default.fileExists(atPath: root + "/cache"), "\(what): extracted before the check")
  }

  @Test func theLibraryIsFoundWhereTheLoaderLooks() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let libc = try readFile(resolvedPath("/lib/x86_64-linux-gnu/libc.so.6"))
    try place(Data(), at: "/lib64/ld-linux-x86-64.so.2")
    let tooNew = "this bundle needs glibc 2.99 or newer (GLIBC_2.99 in libc.so.6); this host has glibc \(hostGlibc)"
    // Debian's place, then RHEL's (/lib64), then Arch's (/usr/lib).
    for libDir in ["/lib/x86_64-linux-gnu", "/lib64", "/usr/lib"] {
      try FileManager.default.createDirectory(atPath: root + libDir, withIntermediateDirectories: true)
      try place(libc, at: libDir + "/libc.so.6")
      expectRan(try run(glibc: (hostGlibc, "libc.so.6")), libDir)
      expectRefused(try run(glibc: ("2.99", "libc.so.6")), tooNew, libDir)
      try FileManager.default.removeItem(atPath: root + libDir + "/libc.so.6")
    }
    // None anywhere: not judged.
    expectRan(try run(glibc: ("2.99", "libc.so.6")), "no libc.so.6")
    // Up to glibc 2.33, libc.so.6 links to libc-X.Y.so, which says the version.
    try place(libc, at: "/lib/x86_64-linux-gnu/libc-2.31.so")
    try FileManager.default.createSymbolicLink(
      atPath: root + "/lib/x86_64-linux-gnu/libc.so.6", withDestinationPath: "libc-2.31.so")
    expectRefused(
      try run(glibc: ("2.99", "libc.so.6")),
      "this bundle needs glibc 2.99 or newer (GLIBC_2.99 in libc.so.6); this host has glibc 2.31", "libc-2.31.so")
    // The floor's own library is the one read: libm.
    try place(try readFile(resolvedPath("/lib/x86_64-linux-gnu/libm.so.6")), at: "/lib/x86_64-linux-gnu/libm.so.6")
    expectRan(try run(glibc: ("2.29", "libm.so.6")), "libm")
    expectRefused(
      try run(glibc: ("2.33", "libm.so.6")),
      "this bundle needs glibc 2.33 or newer (GLIBC_2.33 in libm.so.6); this host has glibc 2.31", "libm 2.33")
    // A glibc no older than the floor whose library lacks the node: the file is named.
    expectRefused(
      try run(glibc: ("2.30", "libm.so.6")),
      "this bundle needs glibc 2.30 or newer (GLIBC_2.30 in libm.so.6); this host's "
        + "/lib/x86_64-linux-gnu/libm.so.6 does not define it", "libm 2.30")
  }

  @Test func noLoaderAndNoProcAreNamed() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let line = "this bundle needs glibc (its interpreter's loader /lib64/ld-linux-x86-64.so.2); this host has none"
    expectRefused(try run(glibc: nil), line + " (a musl or other non-glibc system?)", "no loader")
    try place(Data(), at: "/lib/ld-musl-x86_64.so.1")
    expectRefused(try run(glibc: nil), line + " (it has musl's, /lib/ld-musl-x86_64.so.1)", "musl")
    try place(Data(), at: "/lib64/ld-linux-x86-64.so.2")
    expectRan(try run(glibc: nil), "loader")
    expectRefused(
      try run(glibc: nil, proc: false),
      "this bundle's interpreter finds its libraries through $ORIGIN, which the loader resolves by reading "
        + "/proc/self/exe, and /proc is not mounted on this host; mount it (mount -t proc proc /proc)", "no /proc")
  }

  /// The 64-bit field at `offset` of `data`.
  static func u64(_ data: Data, _ offset: Int) -> Int {
    (0..<8).reduce(0) { $0 | Int(data[data.startIndex + offset + $1]) << (8 * $1) }
  }

  static func put(_ data: inout Data, _ offset: Int, _ value: UInt64, width: Int) {
    for i in 0..<width { data[data.startIndex + offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
  }

  /// The file offset of each dynamic entry of `libc` with `tag` (its value
  /// at +8), through PT_DYNAMIC.
  static func dynamicEntry(_ libc: Data, tag: Int) -> Int? {
    let phoff = u64(libc, 32)
    let phnum = Int(libc[56]) | Int(libc[57]) << 8
    for i in 0..<phnum where libc[phoff + i * 56] == 2 {
      var p = u64(libc, phoff + i * 56 + 8)
      while u64(libc, p) != 0 {
        if u64(libc, p) == tag { return p }
        p += 16
      }
    }
    return nil
  }

  /// Damaged copies of this host's libc.so.6 at its place; the stem must
  /// run the test (the library is not judged) or refuse it with its line.
  @Test func aLibraryItCannotReadIsNotJudged() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try place(Data(), at: "/lib64/ld-linux-x86-64.so.2")
    let libc = try readFile(resolvedPath("/lib/x86_64-linux-gnu/libc.so.6"))
    let verdef = try #require(Self.dynamicEntry(libc, tag: 0x6fff_fffc))
    let verdefAt = Self.u64(libc, verdef + 8)  // vaddr == offset in glibc's first segment
    let strsz = try #require(Self.dynamicEntry(libc, tag: 10))
    var cases: [(String, Data)] = [
      ("empty", Data()), ("ELF magic only", libc.prefix(64)), ("truncated in the headers", libc.prefix(1000)),
      ("truncated in the definitions", libc.prefix(verdefAt + 100)),
      ("garbage", Data((0..<65536).map { UInt8($0 * 7 % 251) })),
    ]
    var patched = libc
    Self.put(&patched, verdef + 8, 1 << 40, width: 8)
    cases.append(("definitions past the end", patched))
    patched = libc
    Self.put(&patched, verdefAt + 12, 0xFFFF_FFF0, width: 4)
    cases.append(("a name record past the end", patched))
    patched = libc
    Self.put(&patched, strsz + 8, 1, width: 8)
    cases.append(("names outside the string table", patched))
    patched = libc
    patched[18] = 3  // EM_386
    cases.append(("another machine", patched))
    for (what, data) in cases {
      try place(data, at: "/lib/x86_64-linux-gnu/libc.so.6")
      expectRan(try run(glibc: ("2.99", "libc.so.6")), what)
    }
    // Counts that lie: every definition is still walked once, to the end.
    patched = libc
    let verdefnum = try #require(Self.dynamicEntry(libc, tag: 0x6fff_fffd))
    Self.put(&patched, verdefnum + 8, 0x7FFF_FFFF, width: 8)
    try place(patched, at: "/lib/x86_64-linux-gnu/libc.so.6")
    expectRan(try run(glibc: (hostGlibc, "libc.so.6")), "a huge count")
    expectRefused(
      try run(glibc: ("2.99", "libc.so.6")),
      "this bundle needs glibc 2.99 or newer (GLIBC_2.99 in libc.so.6); this host has glibc \(hostGlibc)",
      "a huge count")
    // Not a regular file: a FIFO no one writes to, a directory.
    try FileManager.default.removeItem(atPath: root + "/lib/x86_64-linux-gnu/libc.so.6")
    #expect(mkfifo(root + "/lib/x86_64-linux-gnu/libc.so.6", 0o644) == 0)
    expectRan(try run(glibc: ("2.99", "libc.so.6")), "a FIFO")
    try FileManager.default.removeItem(atPath: root + "/lib/x86_64-linux-gnu/libc.so.6")
    try FileManager.default.createDirectory(
      atPath: root + "/lib/x86_64-linux-gnu/libc.so.6", withIntermediateDirectories: true)
    expectRan(try run(glibc: ("2.99", "libc.so.6")), "a directory")
  }
}
