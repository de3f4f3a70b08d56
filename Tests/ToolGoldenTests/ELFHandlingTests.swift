import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// What make-archive and ldd-allowlist-check do to and with real ELF files
/// built here by gcc/g++.
@Suite struct ELFHandlingTests {
  func compile(_ dir: String, _ name: String, _ source: String, compiler: String, flags: [String]) throws -> String {
    let ext = compiler == "g++" ? "cc" : "c"
    try writeText(source, to: "\(dir)/\(name).\(ext)")
    let r = try run(compiler, flags + ["-shared", "-fPIC", "-o", "\(dir)/\(name).so", "\(dir)/\(name).\(ext)"])
    guard r.status == 0 else { throw TestSetupError("\(compiler) failed: \(r.stderr)") }
    return "\(dir)/\(name).so"
  }

  func archive(_ dir: String, _ so: String, extraArgs: [String] = []) throws -> Data {
    let m = BundleManifest(
      interpreter: "ext/x.so", compiler: nil,
      entries: [.init(path: "ext/x.so", kind: .extension, source: so, mode: 0o755, runpath: "$ORIGIN/../lib")])
    try m.encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let r = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/m.json", "--no-bytecode", "--output", dir + "/p.zip"] + extraArgs)
    #expect(r.status == 0, "\(r.stderr)")
    return try ZipContents.read(dir + "/p.zip")[0].data
  }

  func sections(_ data: Data, in dir: String) throws -> String {
    try data.write(to: URL(fileURLWithPath: dir + "/extracted.so"))
    return try run("readelf", ["-S", "-d", dir + "/extracted.so"]).stdout
  }

  /// Builds dir/tree/deps/libb.so, deps/liba.so (needing libb, with no
  /// search path of its own) and, per loader, ext/NAME.so needing liba with
  /// `$ORIGIN/../deps` as DT_RPATH (--disable-new-dtags) or DT_RUNPATH
  /// (--enable-new-dtags).
  func chainTree(_ dir: String, loaders: [String: String]) throws {
    for sub in ["tree/ext", "tree/deps"] {
      try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
    }
    func gcc(_ out: String, _ source: String, _ flags: [String]) throws {
      try writeText(source, to: dir + "/src.c")
      let r = try run("gcc", ["-shared", "-fPIC", "-o", dir + "/tree/" + out, dir + "/src.c"] + flags)
      guard r.status == 0 else { throw TestSetupError("gcc: \(r.stderr)") }
    }
    let deps = "-L" + dir + "/tree/deps"
    try gcc("deps/libb.so", "int b(void) { return 2; }\n", [])
    try gcc("deps/liba.so", "int b(void);\nint a(void) { return b(); }\n", [deps, "-lb"])
    for (name, dtags) in loaders.sorted(by: { $0.key < $1.key }) {
      try gcc(
        "ext/\(name).so", "int a(void);\nint \(name)(void) { return a(); }\n",
        [deps, "-la", "-Wl,\(dtags),-rpath,$ORIGIN/../deps"])
    }
  }

  /// ext/x.so -> deps/liba.so -> deps/libb.so, where only x.so says where
  /// deps/ is. With DT_RPATH, ld.so uses it for liba's dependency too
  /// (numpy's wheels rely on that); with DT_RUNPATH it does not. The check
  /// must agree with ldd, which runs the real loader, both ways.
  @Test(arguments: [("--disable-new-dtags", true), ("--enable-new-dtags", false)])
  func rpathIsInheritedDownTheLoadChainAndRunpathIsNot(dtags: String, resolves: Bool) throws {
    let dir = try makeTemporaryDirectory("elf-chain")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try chainTree(dir, loaders: ["x": dtags])
    let ldd = try run("ldd", [dir + "/tree/ext/x.so"]).stdout
    #expect(
      ldd.contains("libb.so => /") == resolves && ldd.contains("libb.so => not found") != resolves, "ldd says: \(ldd)")

    _ = try run("zip", ["-q", "-r", dir + "/p.zip", "ext", "deps"], directory: dir + "/tree")
    let check = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:chain", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
        Repo.root + "/gn_templates/default_allowlist.txt", "--output", dir + "/stamp.txt",
      ])
    #expect((check.status == 0) == resolves, "\(check.stderr)")
    if resolves {
      #expect(readText(dir + "/stamp.txt").contains("deps/liba.so: libb.so => deps/libb.so (RPATH of ext/x.so)"))
    } else {
      #expect(
        check.stderr.contains("deps/liba.so needs libb.so") && check.stderr.contains("bundled at deps/libb.so"),
        "\(check.stderr)")
    }
  }

  /// Two loaders of deps/liba.so: ext/x.so's RPATH reaches deps/ (so liba's
  /// libb.so resolves when x loads it first), ext/y.so's RUNPATH does not
  /// pass on (so it does not when y does). ld.so follows whichever loaded
  /// liba first, which the check cannot know: every chain must reach libb.
  /// ldd agrees: through y, libb is not found.
  @Test func aLibraryReachedThroughOnlySomeLoadChainsFailsTheCheck() throws {
    let dir = try makeTemporaryDirectory("elf-chains")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try chainTree(dir, loaders: ["x": "--disable-new-dtags", "y": "--enable-new-dtags"])
    #expect(try run("ldd", [dir + "/tree/ext/x.so"]).stdout.contains("libb.so => /"))
    #expect(try run("ldd", [dir + "/tree/ext/y.so"]).stdout.contains("libb.so => not found"))

    func check(_ members: [String]) throws -> ProcessResult {
      try? FileManager.default.removeItem(atPath: dir + "/p.zip")
      _ = try run("zip", ["-q", dir + "/p.zip"] + members, directory: dir + "/tree")
      return try run(
        try Repo.tool("ldd-allowlist-check"),
        [
          "--label", "//t:chains", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
          Repo.root + "/gn_templates/default_allowlist.txt", "--output", dir + "/stamp.txt",
        ])
    }
    let onlyX = try check(["ext/x.so", "deps/liba.so", "deps/libb.so"])
    #expect(onlyX.status == 0, "\(onlyX.stderr)")
    let both = try check(["ext/x.so", "ext/y.so", "deps/liba.so", "deps/libb.so"])
    #expect(both.status == 3, "\(both.output)")
    #expect(
      both.stderr.contains(
        "deps/liba.so needs libb.so, which is neither reachable in the bundle nor on the allowlist; the RPATH of "
          + "ext/x.so reaches it, but not when ext/y.so is what loads deps/liba.so first"), "\(both.stderr)")
  }

  /// Every ELF make-archive writes into a payload carries its search path
  /// as DT_RPATH, which ld.so searches before LD_LIBRARY_PATH, and none has
  /// a DT_RUNPATH, searched after it (so a caller's LD_LIBRARY_PATH could
  /// swap a bundled library for the host's): the runtime collected from
  /// this machine's python3.11 (interpreter, lib-dynload, libraries), a
  /// test layer's extension and library linked with RUNPATH, and a native
  /// wheel's ELFs: one linked with RUNPATH into its .libs, one with RPATH
  /// that gains lib/ for libgcc_s; the library the wheel vendors, with no
  /// search path, is left as built. Read back with LacewingKit's ELF reader.
  @Test func everyELFOfAPayloadCarriesDTRPATHAndNoDTRUNPATH() throws {
    let dir = try makeTemporaryDirectory("elf-rpath")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func gcc(_ out: String, _ source: String, _ flags: [String]) throws {
      try writeText(source, to: dir + "/src.c")
      let r = try run("gcc", ["-shared", "-fPIC", "-o", out, dir + "/src.c"] + flags)
      guard r.status == 0 else { throw TestSetupError("gcc: \(r.stderr)") }
    }
    let common = [
      "--lib-dir", "/lib/x86_64-linux-gnu", "--lib-dir", "/usr/lib/x86_64-linux-gnu", "--allowlist",
      Repo.root + "/gn_templates/default_allowlist.txt",
    ]
    let runtime = try run(
      try Repo.tool("collect-artifacts"),
      ["--layer", "runtime", "--python", "/usr/bin/python3.11", "--output", "rt.json"] + common, directory: dir)
    try #require(runtime.status == 0, "\(runtime.stderr)")
    let layer = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", "rt.json", "--no-bytecode", "--output", "rt.zip"], directory: dir)
    try #require(layer.status == 0, "\(layer.stderr)")

    // The test's extension and its library, linked with RUNPATH.
    let build = dir + "/build"
    let runpath = "-Wl,--enable-new-dtags,-rpath,$ORIGIN"
    try FileManager.default.createDirectory(atPath: build, withIntermediateDirectories: true)
    try gcc(build + "/libhelper.so", "int helper(void) { return 1; }\n", [runpath])
    try gcc(
      build + "/x.so", "int helper(void);\nint x(void) { return helper(); }\n", ["-L" + build, "-lhelper", runpath])
    // A native wheel as auditwheel leaves them: nat/_a.so with RUNPATH and
    // nat/_b.so with RPATH into nat.libs/, whose library has none; _b.so
    // also needs libgcc_s, which manylinux leaves to the host and we bundle.
    let wheelTree = dir + "/wheel"
    try writeText("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n", to: wheelTree + "/nat-1.0.dist-info/WHEEL")
    try writeText("Name: nat\nVersion: 1.0\n", to: wheelTree + "/nat-1.0.dist-info/METADATA")
    try FileManager.default.createDirectory(atPath: wheelTree + "/nat.libs", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: wheelTree + "/nat", withIntermediateDirectories: true)
    let vendored = "libv-1a2b3c4d.so"
    try gcc(wheelTree + "/nat.libs/" + vendored, "int v(void) { return 2; }\n", ["-Wl,-soname," + vendored])
    let libs = ["-L" + wheelTree + "/nat.libs", "-l:" + vendored]
    try gcc(
      wheelTree + "/nat/_a.so", "int v(void);\nint a(void) { return v(); }\n",
      libs + ["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../nat.libs"])
    try gcc(
      wheelTree + "/nat/_b.so", "int v(void);\nint b(void) { return v(); }\n",
      libs + ["-Wl,--no-as-needed", "-lgcc_s", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../nat.libs"])
    let wheel = dir + "/nat-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    let zipped = try run(
      "zip", ["-q", "-r", "-X", wheel, "nat", "nat.libs", "nat-1.0.dist-info"], directory: wheelTree)
    try #require(zipped.status == 0, "\(zipped.stderr)")
    try writeText("[\"\(wheel)\"]", to: dir + "/wheels.json")
    let lock = try WheelToolTests.pin([wheel], in: dir)

    let test = try run(
      try Repo.tool("collect-artifacts"),
      [
        "--layer", "test", "--runtime-manifest", "rt.json", "--extension", build + "/x.so", "--lib-dir", build,
        "--wheel-list", "wheels.json", "--output", "t.json",
      ] + lock + common, directory: dir)
    try #require(test.status == 0, "\(test.stderr)")
    let payload = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", "t.json", "--runtime", "rt.zip", "--no-bytecode", "--output", "p.zip"],
      directory: dir)
    try #require(payload.status == 0, "\(payload.stderr)")

    var searchPaths: [String: String] = [:]
    for manifest in ["rt.json", "t.json"] {
      for e in try BundleManifest.read(dir + "/" + manifest).entries { searchPaths[e.path] = e.runpath }
    }
    var elfs: [String: ELFFile] = [:]
    for entry in try ZipContents.read(dir + "/p.zip") where ELFFile.isELF(entry.data) {
      elfs[entry.name] = try ELFFile(entry.data, name: entry.name)
    }
    for (path, elf) in elfs.sorted(by: { $0.key < $1.key }) {
      #expect(elf.runpath.isEmpty, "\(path) has DT_RUNPATH \(elf.runpath)")
      if path == "site/nat.libs/" + vendored {
        #expect(elf.rpath.isEmpty && searchPaths[path] == nil, "\(path): \(elf.rpath)")
      } else {
        #expect(!elf.rpath.isEmpty && elf.rpath.joined(separator: ":") == searchPaths[path], "\(path): \(elf.rpath)")
      }
    }
    #expect(elfs["site/nat/_a.so"]?.rpath == ["$ORIGIN/../nat.libs"])
    #expect(elfs["site/nat/_b.so"]?.rpath == ["$ORIGIN/../nat.libs", "$ORIGIN/../../lib"])
    for path in [
      "python/bin/python3.11", "python/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
      "python/lib/libssl.so.3", "python/lib/libgcc_s.so.1", "ext/x.so", "lib/libhelper.so", "lib/libgcc_s.so.1",
    ] {
      #expect(elfs[path] != nil, "\(path) is not in the payload: \(elfs.keys.sorted())")
    }
    #expect(elfs.count > 40, "\(elfs.keys.sorted())")
  }

  /// The runtime's interpreter, python/bin/prog here (its RPATH leads to
  /// python/lib, as make-archive gives every interpreter), dlopens
  /// ext/m.so, whose deps/libd.so (no search path of its own) needs
  /// libx.so, in deps/ and python/lib/, and liby.so, only in python/lib/.
  /// ld.so searches, for libd, the RPATHs of its load chain (m.so's, when
  /// m.so has DT_RPATH; a DT_RUNPATH passes nothing on), then the
  /// executable's, and only then LD_LIBRARY_PATH, which names decoys of
  /// both. The check says which file each resolves to, and it is the file
  /// the real loader maps: deps/libx.so through m.so's RPATH or, past a
  /// RUNPATH, python/lib/libx.so through the executable's; python/lib/liby.so
  /// through the executable's either way.
  @Test(arguments: [("--disable-new-dtags", "deps/libx.so (RPATH of ext/m.so)"), ("--enable-new-dtags", nil)])
  func theExecutablesRPATHServesEveryELFLoadedIntoItBeforeLDLibraryPath(dtags: String, libx: String?) throws {
    let dir = try makeTemporaryDirectory("elf-exe-rpath")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let tree = dir + "/tree"
    for sub in ["tree/python/bin", "tree/python/lib", "tree/ext", "tree/deps", "decoy"] {
      try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
    }
    func gcc(_ out: String, _ source: String, _ flags: [String]) throws {
      try writeText(source, to: dir + "/src.c")
      let r = try run("gcc", ["-o", out, dir + "/src.c"] + flags)
      guard r.status == 0 else { throw TestSetupError("gcc: \(r.stderr)") }
    }
    let shared = ["-shared", "-fPIC"]
    for (lib, value) in [("python/lib/libx", 1), ("deps/libx", 2), ("python/lib/liby", 3)] {
      let name = String(lib.split(separator: "/").last!.dropFirst(3))
      try gcc("\(tree)/\(lib).so", "int \(name)(void) { return \(value); }\n", shared)
      try gcc("\(dir)/decoy/lib\(name).so", "int \(name)(void) { return -1; }\n", shared)
    }
    try gcc(
      tree + "/deps/libd.so", "int x(void); int y(void);\nint d(void) { return x() + y(); }\n",
      shared + ["-L\(tree)/python/lib", "-lx", "-ly"])
    try gcc(
      tree + "/ext/m.so", "int d(void);\nint m(void) { return d(); }\n",
      shared + ["-L\(tree)/deps", "-ld", "-Wl,\(dtags),-rpath,$ORIGIN/../deps"])
    // dlopens its argument, as CPython does a module, and says which file
    // each symbol it is given came from.
    try gcc(
      tree + "/python/bin/prog",
      """
      #define _GNU_SOURCE
      #include <dlfcn.h>
      #include <stdio.h>
      int main(int argc, char **argv) {
        void *h = dlopen(argv[1], RTLD_NOW);
        if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
        for (int i = 2; i < argc; i++) {
          Dl_info info;
          void *s = dlsym(h, argv[i]);
          if (!s || !dladdr(s, &info)) return 1;
          printf("%s %s\\n", argv[i], info.dli_fname);
        }
        return 0;
      }

      """, ["-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib"])

    let loaded = try run(
      tree + "/python/bin/prog", [tree + "/ext/m.so", "x", "y"],
      environment: environment(["LD_LIBRARY_PATH": dir + "/decoy"]))
    #expect(loaded.status == 0, "\(loaded.stderr)")
    var mapped: [String: String] = [:]
    for line in loaded.stdout.split(separator: "\n") {
      let parts = line.split(separator: " ")
      mapped[String(parts[0])] = resolvedPath(String(parts[1]))
    }

    _ = try run("zip", ["-q", "-r", dir + "/p.zip", "python", "ext", "deps"], directory: tree)
    // The program's unwinder (libc dlopens it) is not this test's subject.
    try writeText(
      readText(Repo.root + "/gn_templates/default_allowlist.txt") + AllowlistCheck.unwinder + "\n",
      to: dir + "/allow.txt")
    let check = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:exe", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
        dir + "/allow.txt", "--output", dir + "/stamp.txt",
      ])
    #expect(check.status == 0, "\(check.stderr)")
    let stamp = readText(dir + "/stamp.txt")
    let exe = "python/bin/prog"
    let expected = [
      "x": libx ?? "python/lib/libx.so (RPATH of \(exe))", "y": "python/lib/liby.so (RPATH of \(exe))",
    ]
    for (symbol, resolution) in expected.sorted(by: { $0.key < $1.key }) {
      let prefix = "deps/libd.so: lib\(symbol).so => "
      let line = stamp.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
      #expect(line == prefix + resolution, "\(stamp)")
      // The check's file is the one ld.so mapped.
      let target = line.map { String($0.dropFirst(prefix.count).prefix { $0 != " " }) } ?? "?"
      #expect(mapped[symbol] == resolvedPath(tree + "/" + target), "ld.so: \(mapped), the check: \(stamp)")
    }
  }

  /// glibc dlopens libgcc_s.so.1 when a thread ends through pthread_exit:
  /// a runtime's program must load it at start (bundled, as DT_NEEDED
  /// through its RUNPATH, which make-archive's `preload` adds) or take it
  /// from the host by the allowlist; else the check fails naming the fix.
  /// A dynamic program that does nothing, built by gcc at `path`.
  static func compileProgram(_ path: String) throws {
    try writeText("int main(void) { return 0; }\n", to: path + ".c")
    let cc = try run("gcc", ["-o", path, path + ".c"])
    guard cc.status == 0 else { throw TestSetupError("gcc: \(cc.stderr)") }
  }

  @Test(arguments: ["missing", "preloaded", "allowlisted"])
  func theRuntimesProgramMustLoadTheUnwinderGlibcDlopens(how: String) throws {
    let dir = try makeTemporaryDirectory("elf-unwinder")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.compileProgram(dir + "/prog")
    let bin = "python/bin/prog"
    let lib = "python/lib/" + AllowlistCheck.unwinder
    var entries: [BundleManifest.Entry] = [
      .init(path: bin, kind: .interpreter, source: dir + "/prog", mode: 0o755, runpath: "$ORIGIN/../lib")
    ]
    if how == "preloaded" {
      entries[0].preload = [AllowlistCheck.unwinder]
      entries.append(
        .init(
          path: lib, kind: .sharedLibrary, source: "/lib/x86_64-linux-gnu/" + AllowlistCheck.unwinder, mode: 0o755,
          runpath: "$ORIGIN"))
    }
    try BundleManifest(interpreter: bin, compiler: nil, entries: entries).encoded().write(
      to: URL(fileURLWithPath: dir + "/m.json"))
    let archive = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/m.json", "--no-bytecode", "--output", dir + "/p.zip"])
    #expect(archive.status == 0, "\(archive.stderr)")
    let allowlist =
      readText(Repo.root + "/gn_templates/default_allowlist.txt")
      + (how == "allowlisted" ? AllowlistCheck.unwinder + "\n" : "")
    try writeText(allowlist, to: dir + "/allow.txt")
    let check = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:rt", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
        dir + "/allow.txt", "--output", dir + "/stamp.txt",
      ])
    let what = "dlopen by libc.so.6: libgcc_s.so.1 (pthread_exit, pthread_cancel, backtrace) => "
    switch how {
    case "missing":
      #expect(check.status == 3, "\(check.output)")
      #expect(check.stderr.contains("python/bin/prog: libc.so.6 loads libgcc_s.so.1 with dlopen"), "\(check.stderr)")
      #expect(check.stderr.contains("shared_library_dirs") && check.stderr.contains("allowlist"), "\(check.stderr)")
    case "preloaded":
      #expect(check.status == 0, "\(check.stderr)")
      #expect(
        readText(dir + "/stamp.txt").contains(what + lib + ", loaded at start by " + bin),
        "\(readText(dir + "/stamp.txt"))")
    default:
      #expect(check.status == 0, "\(check.stderr)")
      #expect(readText(dir + "/stamp.txt").contains(what + "allowlisted"), "\(readText(dir + "/stamp.txt"))")
    }
  }

  /// A runtime layer is checked once, alone, and its record stands in for
  /// the layer in the check of each bundle on it: the stamp is what a check
  /// of the whole payload writes, the pack is never decoded (a damaged pack
  /// whose directory still matches the record passes; the whole check
  /// fails on it), and a record of another runtime is refused.
  @Test func aRuntimesRecordStandsInForItsLayerInEachBundlesCheck() throws {
    let dir = try makeTemporaryDirectory("elf-record")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.compileProgram(dir + "/prog")
    let bin = "python/bin/prog"
    let lib = "python/lib/" + AllowlistCheck.unwinder
    func runtime(_ name: String, preload: Bool) throws -> String {
      var prog = BundleManifest.Entry(
        path: bin, kind: .interpreter, source: dir + "/prog", mode: 0o755, runpath: "$ORIGIN/../lib")
      var entries = [prog]
      if preload {
        prog.preload = [AllowlistCheck.unwinder]
        entries = [
          prog,
          .init(
            path: lib, kind: .sharedLibrary, source: "/lib/x86_64-linux-gnu/" + AllowlistCheck.unwinder, mode: 0o755,
            runpath: "$ORIGIN"),
        ]
      }
      try BundleManifest(interpreter: bin, compiler: nil, entries: entries).encoded().write(
        to: URL(fileURLWithPath: "\(dir)/\(name).json"))
      let r = try run(
        try Repo.tool("make-archive"),
        ["payload", "--manifest", "\(dir)/\(name).json", "--no-bytecode", "--pack", "--output", "\(dir)/\(name).zip"])
      #expect(r.status == 0, "\(r.stderr)")
      return "\(dir)/\(name).zip"
    }
    let rt = try runtime("rt", preload: true)
    let ext = try compile(
      dir, "x", "double twice(double x) { return 2 * x; }\n", compiler: "gcc", flags: ["-Wl,--no-as-needed", "-lm"])
    try BundleManifest(
      interpreter: bin, compiler: nil,
      entries: [.init(path: "ext/x.so", kind: .extension, source: ext, mode: 0o755, runpath: "$ORIGIN/../lib")]
    ).encoded().write(to: URL(fileURLWithPath: dir + "/t.json"))
    let merged = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/t.json", "--runtime", rt, "--no-bytecode", "--output", dir + "/p.zip"])
    #expect(merged.status == 0, "\(merged.stderr)")
    try writeText(readText(Repo.root + "/gn_templates/default_allowlist.txt"), to: dir + "/allow.txt")
    func check(_ args: [String], output: String) throws -> ProcessResult {
      try run(
        try Repo.tool("ldd-allowlist-check"),
        ["--label", "//t:x"] + args + ["--allowlist", dir + "/allow.txt", "--output", output])
    }
    func checkBundle(_ payload: String, record: String?, output: String) throws -> ProcessResult {
      try check(
        ["--stem", try Repo.tool("lacewing-stem"), "--payload", payload]
          + (record.map { ["--runtime-record", $0] } ?? []), output: output)
    }

    let recorded = try check(["--runtime-layer", rt], output: dir + "/rt.record.json")
    #expect(recorded.status == 0, "\(recorded.stderr)")
    let record = try JSONDecoder().decode(
      AllowlistCheck.RuntimeRecord.self, from: Data(readText(dir + "/rt.record.json").utf8))
    #expect(record.elfs.map(\.path).sorted() == [bin, lib], "\(record.elfs.map(\.path))")
    #expect(record.stored.map(\.name) == [BundleLayout.runtimePack], "\(record.stored)")
    #expect(record.findings.contains { $0.hasSuffix(lib + ", loaded at start by " + bin) }, "\(record.findings)")

    let whole = try checkBundle(dir + "/p.zip", record: nil, output: dir + "/whole.txt")
    let layered = try checkBundle(dir + "/p.zip", record: dir + "/rt.record.json", output: dir + "/layered.txt")
    #expect(whole.status == 0 && layered.status == 0, "\(whole.stderr)\(layered.stderr)")
    let stamp = readText(dir + "/layered.txt")
    #expect(stamp == readText(dir + "/whole.txt"))
    #expect(stamp.contains("ext/x.so: libm.so.6 => allowlisted") && stamp.contains(bin + ": libgcc_s.so.1 => " + lib))

    // The pack's bytes damaged, its directory entry (CRC, sizes) left alone.
    var payload = try Data(contentsOf: URL(fileURLWithPath: dir + "/p.zip"))
    let pack = try #require(try ZipIndex.entries(payload).first { $0.name == BundleLayout.runtimePack })
    let middle = pack.dataEnd - pack.compressedSize / 2
    payload.replaceSubrange(middle..<(middle + 64), with: Data(repeating: 0x55, count: 64))
    try payload.write(to: URL(fileURLWithPath: dir + "/damaged.zip"))
    let damagedWhole = try checkBundle(dir + "/damaged.zip", record: nil, output: dir + "/unused.txt")
    #expect(damagedWhole.status == 1, "the whole check decodes the pack: \(damagedWhole.output)")
    let damagedLayered = try checkBundle(
      dir + "/damaged.zip", record: dir + "/rt.record.json", output: dir + "/damaged.txt")
    #expect(damagedLayered.status == 0, "\(damagedLayered.stderr)")
    #expect(readText(dir + "/damaged.txt") == stamp)

    // The record of another runtime: refused, naming both files and the fix.
    let other = try runtime("other", preload: false)
    let unchecked = try check(["--runtime-layer", other], output: dir + "/other.record.json")
    #expect(unchecked.status == 3, "\(unchecked.output)")
    #expect(
      unchecked.stderr.contains("//t:x: \(bin): libc.so.6 loads \(AllowlistCheck.unwinder)"), "\(unchecked.stderr)")
    try writeText(readText(dir + "/allow.txt") + AllowlistCheck.unwinder + "\n", to: dir + "/allow.txt")
    #expect(try check(["--runtime-layer", other], output: dir + "/other.record.json").status == 0)
    let mismatched = try checkBundle(dir + "/p.zip", record: dir + "/other.record.json", output: dir + "/unused.txt")
    #expect(mismatched.status == 1, "\(mismatched.output)")
    #expect(
      mismatched.stderr.contains("\(dir)/p.zip: its runtime layer is not the one \(dir)/other.record.json describes")
        && mismatched.stderr.contains("_check target"), "\(mismatched.stderr)")
  }

  @Test func debugInfoIsStrippedByDefaultAndRPATHSet() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(dir, "x", "int answer(void) { return 42; }\n", compiler: "gcc", flags: ["-g"])
    #expect(try run("readelf", ["-S", so]).stdout.contains(".debug_info"))
    let stripped = try sections(try archive(dir, so), in: dir)
    #expect(!stripped.contains(".debug_info"))
    #expect(stripped.contains("(RPATH)") && stripped.contains("[$ORIGIN/../lib]"), "\(stripped)")
    #expect(!stripped.contains("(RUNPATH)"), "\(stripped)")
    let kept = try sections(try archive(dir, so, extraArgs: ["--keep-debug-info"]), in: dir)
    #expect(kept.contains(".debug_info"))
  }

  @Test func hostLibstdcxxVersionsAreReportedAndFloored() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(
      dir, "x", "#include <string>\nextern \"C\" int size(const char *s) { return (int)std::string(s).size(); }\n",
      compiler: "g++", flags: [])
    _ = try archive(dir, so)
    try writeText(
      readText(Repo.root + "/gn_templates/default_allowlist.txt") + "libstdc++.so.6\nlibgcc_s.so.1\n",
      to: dir + "/allow.txt")
    func check(_ extra: [String]) throws -> ProcessResult {
      try run(
        try Repo.tool("ldd-allowlist-check"),
        [
          "--label", "//t:cxx", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
          dir + "/allow.txt", "--output", dir + "/stamp.txt",
        ] + extra)
    }
    let ok = try check([])
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(
      readText(dir + "/stamp.txt").contains("highest symbol version: GLIBCXX_3.4"), "\(readText(dir + "/stamp.txt"))")
    let floored = try check(["--max-glibcxx", "3.4.0"])
    #expect(floored.status == 3)
    #expect(floored.stderr.contains("ext/x.so needs GLIBCXX_3.4"), "\(floored.stderr)")
    #expect(floored.stderr.contains("above the floor GLIBCXX_3.4.0"))
  }

  /// What a bundle needs of its host, for the stem's host check: the
  /// highest GLIBC_ version needed from a host library, with that library
  /// (libm's GLIBC_2.29 for exp, above libc's GLIBC_2.2.5 for puts), never
  /// a version a bundled library defines (libfake's GLIBC_9.0, which the
  /// stamp's overall maximum still names), and each program's loader.
  @Test func theHostNeedsNameTheLibraryOfTheHighestHostVersion() throws {
    let dir = try makeTemporaryDirectory("elf-host")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for sub in ["tree/ext", "tree/lib", "tree/tools"] {
      try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
    }
    func gcc(_ out: String, _ source: String, _ flags: [String]) throws {
      try writeText(source, to: dir + "/src.c")
      let r = try run("gcc", ["-o", dir + "/tree/" + out, dir + "/src.c"] + flags)
      guard r.status == 0 else { throw TestSetupError("gcc: \(r.stderr)") }
    }
    try writeText("GLIBC_9.0 { global: fake; local: *; };\n", to: dir + "/fake.map")
    try gcc(
      "lib/libfake.so", "int fake(void) { return 1; }\n",
      ["-shared", "-fPIC", "-Wl,--version-script=" + dir + "/fake.map", "-Wl,-soname,libfake.so"])
    try gcc(
      "ext/x.so",
      "#include <math.h>\n#include <stdio.h>\nint fake(void);\n"
        + "double f(double v) { puts(\"x\"); return exp(v) + fake(); }\n",
      ["-shared", "-fPIC", "-L" + dir + "/tree/lib", "-lfake", "-lm", "-Wl,-rpath,$ORIGIN/../lib"])
    // A program that needs no versioned symbol (no C start files), with a
    // loader of its own: its PT_INTERP is read, not assumed.
    try gcc(
      "tools/prog", "void _start(void) { for (;;) {} }\n", ["-nostartfiles", "-Wl,--dynamic-linker=/lib/ld-t.so.1"])
    _ = try run("zip", ["-q", "-r", dir + "/p.zip", "ext", "lib", "tools"], directory: dir + "/tree")
    let check = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:host", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
        Repo.root + "/gn_templates/default_allowlist.txt", "--output", dir + "/stamp.txt", "--host-needs",
        dir + "/needs.json",
      ])
    #expect(check.status == 0, "\(check.stderr)")
    let needs = try AllowlistCheck.HostNeeds.read(dir + "/needs.json")
    #expect(
      needs
        == AllowlistCheck.HostNeeds(
          glibc: .init(version: "2.29", library: "libm.so.6", neededBy: "ext/x.so"),
          loaders: ["tools/prog": "/lib/ld-t.so.1"]))
    let stamp = readText(dir + "/stamp.txt")
    for line in [
      "highest symbol version: GLIBC_9.0 (needed by ext/x.so)",
      "host glibc: GLIBC_2.29 in libm.so.6 (needed by ext/x.so)",
      "program interpreter of tools/prog: /lib/ld-t.so.1",
    ] {
      #expect(stamp.contains(line + "\n"), "\(line) missing from\n\(stamp)")
    }
    // A runtime layer's check has no bundle to write them for.
    let runtime = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:host", "--runtime-layer", dir + "/p.zip", "--allowlist",
        Repo.root + "/gn_templates/default_allowlist.txt", "--output", dir + "/record.json", "--host-needs",
        dir + "/needs.json",
      ])
    #expect(runtime.status == 64 && runtime.stderr.contains("--host-needs"), "\(runtime.stderr)")
  }

  @Test func theGlibcFloorFailsTheCheck() throws {
    let dir = try makeTemporaryDirectory("elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let so = try compile(
      dir, "x", "#include <stdio.h>\nint hi(void) { return puts(\"hi\"); }\n", compiler: "gcc", flags: [])
    _ = try archive(dir, so)
    let r = try run(
      try Repo.tool("ldd-allowlist-check"),
      [
        "--label", "//t:floor", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
        Repo.root + "/gn_templates/default_allowlist.txt", "--max-glibc", "2.0", "--output", dir + "/stamp.txt",
      ])
    #expect(r.status == 3)
    #expect(r.stderr.contains("above the glibc floor GLIBC_2.0"), "\(r.stderr)")
  }

  /// The stamp says which floor the bundle was held to; every ELF above it
  /// is named, the highest first, with the fix; a floor that does not parse
  /// is an error, never a check turned off.
  @Test func theFloorIsReportedAndEveryELFAboveItNamed() throws {
    let dir = try makeTemporaryDirectory("elf-floor")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let x = try compile(
      dir, "x", "#include <stdio.h>\nint hi(void) { return puts(\"hi\"); }\n", compiler: "gcc", flags: [])
    let y = try compile(
      dir, "y", "#include <string.h>\nvoid *cp(void *d, const void *s, size_t n) { return memcpy(d, s, n); }\n",
      compiler: "gcc", flags: [])
    try BundleManifest(
      interpreter: "ext/x.so", compiler: nil,
      entries: [
        .init(path: "ext/x.so", kind: .extension, source: x, mode: 0o755, runpath: "$ORIGIN/../lib"),
        .init(path: "ext/y.so", kind: .extension, source: y, mode: 0o755, runpath: "$ORIGIN/../lib"),
      ]
    ).encoded().write(to: URL(fileURLWithPath: dir + "/m.json"))
    let archive = try run(
      try Repo.tool("make-archive"),
      ["payload", "--manifest", dir + "/m.json", "--no-bytecode", "--output", dir + "/p.zip"])
    try #require(archive.status == 0, "\(archive.stderr)")
    func check(_ extra: [String]) throws -> ProcessResult {
      try run(
        try Repo.tool("ldd-allowlist-check"),
        [
          "--label", "//t:floor", "--stem", try Repo.tool("lacewing-stem"), "--payload", dir + "/p.zip", "--allowlist",
          Repo.root + "/gn_templates/default_allowlist.txt", "--output", dir + "/stamp.txt",
        ] + extra)
    }
    let passed = try check(["--max-glibc", "2.36"])
    #expect(passed.status == 0, "\(passed.stderr)")
    let stamp = readText(dir + "/stamp.txt")
    #expect(
      stamp.contains("highest symbol version: GLIBC_2.14 (needed by ext/y.so)\nglibc floor: GLIBC_2.36\n"), "\(stamp)")
    #expect(try check([]).status == 0)
    #expect(readText(dir + "/stamp.txt").contains("\nglibc floor: none\n"), "\(readText(dir + "/stamp.txt"))")

    let failed = try check(["--max-glibc", "2.1"])
    #expect(failed.status == 3)
    #expect(
      failed.stderr.hasPrefix(
        "ldd-allowlist-check: error: //t:floor: ext/y.so needs GLIBC_2.14, above the glibc floor GLIBC_2.1 (the oldest "
          + "glibc the bundle must run on)\n  ext/x.so needs GLIBC_2.2.5\nfix: build what needs more against that "
          + "glibc (lacewing_sysroot"), "\(failed.stderr)")

    let malformed = try check(["--max-glibc", "2.x"])
    #expect(malformed.status == 1)
    #expect(
      malformed.stderr.contains("--max-glibc '2.x' is not a version: give numbers and dots, e.g. 2.31"),
      "\(malformed.stderr)")
  }
}
