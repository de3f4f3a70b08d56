import Foundation
import LacewingFormat

/// make-archive: manifest -> deterministic payload zip, and sources -> the
/// test's .pyz.
public enum Archiver {
  public struct PayloadResult {
    public var data: Data
    /// Every file read, for the depfile.
    public var inputs: [String]
    /// With `pack`: what the pack holds (path, bytes), for size reports.
    public var packIndex: [PackedFile] = []
  }

  public struct PackedFile: Codable, Equatable, Sendable {
    public var path: String
    public var size: Int

    public static func readList(_ path: String) throws(LacewingError) -> [PackedFile] {
      try JSONFile.read([PackedFile].self, path, what: "runtime pack index")
    }
  }

  /// Builds the payload in memory. ELFs get their debug info stripped and
  /// their RUNPATH set by patchelf on private copies under `workDir`
  /// (removed afterwards); stdlib modules get unchecked-hash bytecode
  /// compiled by the bundled runtime itself, so the bundle never writes or
  /// validates a .pyc at run time. Without `stdlibSources` the stdlib ships
  /// as bytecode only (`os.pyc` where `os.py` was, compiled without column
  /// tables, which only serve to point carets into source that is not there).
  ///
  /// With a `runtime` zip (a runtime layer built by this same function),
  /// its entries are copied compressed, as they are, next to the manifest's.
  /// With `pack` (a runtime layer), the files go into one zip of stored
  /// entries compressed as a single xz stream, python.pack (see
  /// lacewing_format.h), at xz preset `compressionLevel`.
  public static func payload(
    manifest: BundleManifest, workDir: String, runtime: String? = nil, pack: Bool = false, compressionLevel: Int = 9,
    compileBytecode: Bool = true, stdlibSources: Bool = false, stripDebugInfo: Bool = true,
    patchelf: String = "patchelf", strip: String = "strip"
  ) throws(LacewingError) -> PayloadResult {
    try? FileManager.default.removeItem(atPath: workDir)
    do {
      try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
    } catch {
      throw LacewingError(.io, "cannot create work directory \(workDir): \(error.localizedDescription)")
    }
    defer { try? FileManager.default.removeItem(atPath: workDir) }
    if pack && runtime != nil {
      throw LacewingError(.badInput, "a packed runtime layer cannot sit on another runtime layer")
    }

    var files: [String: (data: Data, mode: Int)] = [:]
    var inputs: [String] = []
    var wheels: [String: ZipReaderHandle] = [:]
    for (index, entry) in manifest.entries.enumerated() {
      let copy = "\(workDir)/elf-\(index)"
      if let member = entry.member, let source = entry.source {
        if wheels[source] == nil {
          wheels[source] = try ZipReaderHandle(path: source)
          inputs.append(source)
        }
        var data = try wheels[source]!.read(member)
        if let runpath = entry.runpath {
          // Only a RUNPATH gained (see Collector): no strip, the wheel's
          // ELF stays as its builders made it otherwise. One with DT_RPATH
          // (or none) keeps DT_RPATH: its libraries may find theirs through
          // it (RPATH is inherited down a load chain, RUNPATH is not).
          let keepRPATH = try ELFFile(data, name: "\(source):\(member)").runpath.isEmpty
          data = try patched(
            data, at: copy,
            [(patchelf, (keepRPATH ? ["--force-rpath"] : []) + ["--set-rpath", runpath], "set the RPATH of \(entry.path)")])
        }
        files[entry.path] = (data, entry.mode)
      } else if let content = entry.content {
        files[entry.path] = (Data(content.utf8), entry.mode)
      } else if let source = entry.source {
        inputs.append(source)
        var data = try FS.read(source, what: "listed in the manifest as \(entry.path)")
        if let runpath = entry.runpath {
          // Strip before patchelf: patchelf's rewritten layout is the last word.
          var steps = stripDebugInfo ? [(strip, ["--strip-debug"], "strip debug info from \(entry.path)")] : []
          steps.append((patchelf, ["--set-rpath", runpath], "set the RUNPATH of \(entry.path)"))
          for library in entry.preload ?? [] {
            steps.append((patchelf, ["--add-needed", library], "make \(entry.path) load \(library) at start"))
          }
          data = try patched(data, at: copy, steps)
        }
        files[entry.path] = (data, entry.mode)
      } else {
        throw LacewingError(.badInput, "manifest entry \(entry.path) has neither source nor content")
      }
    }
    if compileBytecode, let compiler = manifest.compiler {
      inputs += try compileStdlib(of: manifest, with: compiler, into: &files, workDir: workDir, keepSources: stdlibSources)
    }
    var result = try archive(files, pack: pack, runtime: runtime, compressionLevel: compressionLevel, workDir: workDir)
    result.inputs = inputs + result.inputs
    return result
  }

  /// `data` after `steps` (tool, arguments, what for) ran on a private copy
  /// of it at `copy`, each given the copy's path last.
  private static func patched(_ data: Data, at copy: String, _ steps: [(String, [String], String)])
    throws(LacewingError) -> Data
  {
    guard FileManager.default.createFile(atPath: copy, contents: data) else {
      throw LacewingError(.io, "cannot write \(copy)")
    }
    for (tool, arguments, what) in steps { try Command.run(tool, arguments + [copy], what: what) }
    return try FS.read(copy, what: "patched copy")
  }

  /// Compiles the manifest's stdlib modules in `files`; without
  /// `keepSources` each module's bytecode replaces it (a module that did
  /// not compile, e.g. syntax for another version, keeps its source).
  /// Returns the files the compiling interpreter read.
  private static func compileStdlib(
    of manifest: BundleManifest, with compiler: String, into files: inout [String: (data: Data, mode: Int)],
    workDir: String, keepSources: Bool
  ) throws(LacewingError) -> [String] {
    let modules = manifest.entries.compactMap { e in
      e.kind == .stdlib && e.path.hasSuffix(".py") ? e.source.map { (source: $0, path: e.path) } : nil
    }
    let compiled = try compile(
      modules, with: compiler, workDir: workDir, legacyLayout: !keepSources, columnTables: keepSources)
    for c in compiled.files {
      files[c.path] = (c.data, c.mode)
      if !keepSources { files[modules[c.index].path] = nil }
    }
    return compiled.compilerInputs
  }

  /// The payload zip of `files`, sorted: packed into one xz stream, or
  /// deflated and merged with the `runtime` layer's entries as stored.
  private static func archive(
    _ files: [String: (data: Data, mode: Int)], pack: Bool, runtime: String?, compressionLevel: Int, workDir: String
  ) throws(LacewingError) -> PayloadResult {
    if pack, let stray = files.keys.sorted().first(where: { !$0.hasPrefix(LW_RUNTIME_PREFIX) }) {
      throw LacewingError(.badInput, "\(stray) is not under \(LW_RUNTIME_PREFIX); only a runtime layer can be packed")
    }
    var zips: [(label: String, data: Data)] = []
    if let runtime { zips.append((runtime, try FS.read(runtime, what: "runtime layer"))) }
    // libzip writes no file at all for an empty archive.
    if !files.isEmpty {
      let zipPath = workDir + "/payload.zip"
      let writer = try ZipWriter(path: zipPath)
      for name in files.keys.sorted() {
        try writer.add(name, files[name]!.data, mode: files[name]!.mode, compressionLevel: pack ? 0 : compressionLevel)
      }
      try writer.close()
      let own = try FS.read(zipPath, what: "payload just written")
      if pack {
        let packed = try ZipMerge.StoredFile(path: LW_RUNTIME_PACK, xz: own, preset: compressionLevel)
        var result = PayloadResult(data: try ZipMerge.merge([], adding: [packed]), inputs: [])
        result.packIndex = files.keys.sorted().map { PackedFile(path: $0, size: files[$0]!.data.count) }
        return result
      }
      if runtime == nil { return PayloadResult(data: own, inputs: []) }
      zips.append(("this bundle's own files", own))
    }
    return PayloadResult(data: try ZipMerge.merge(zips), inputs: runtime.map { [$0] } ?? [])
  }

  /// One interpreter process compiles every module; `dfile` is the path
  /// inside the bundle, so no build path is recorded in the bytecode.
  /// `sources` are (file to read, path inside the archive). Returns the
  /// bytecode files, named for `__pycache__` or, with `legacyLayout` (what
  /// zipimport reads), as `module.pyc` next to `module.py`; and the files
  /// the compiling interpreter itself imported, which are inputs too.
  static func compile(
    _ sources: [(source: String, path: String)], with python: String, workDir: String, legacyLayout: Bool = false,
    columnTables: Bool = true
  ) throws(LacewingError) -> (files: [(index: Int, path: String, data: Data, mode: Int)], compilerInputs: [String]) {
    let listPath = workDir + "/compile.json"
    let pairs = sources.map { [$0.source, $0.path] }
    do {
      try JSONEncoder().encode(pairs).write(to: URL(fileURLWithPath: listPath))
    } catch {
      throw LacewingError(.io, "cannot write \(listPath)")
    }
    let script = """
      import json, py_compile, sys
      pairs = json.load(open(sys.argv[1]))
      for i, (src, dfile) in enumerate(pairs):
          try:
              py_compile.compile(src, cfile=f"{sys.argv[2]}/{i}.pyc", dfile=dfile, doraise=True,
                                 invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
          except py_compile.PyCompileError:
              pass  # e.g. a module with syntax for another version: it ships as source only
      print(sys.implementation.cache_tag)
      for m in list(sys.modules.values()):
          if getattr(m, "__file__", None):
              print(m.__file__)
      """
    // An empty pycache prefix keeps the runtime from reading its own
    // __pycache__, which is no declared input: it reads only the sources.
    let out = try Command.run(
      python,
      ["-I", "-S", "-B", "-X", "pycache_prefix=" + workDir + "/pycache"] + (columnTables ? [] : ["-X", "no_debug_ranges"])
        + ["-c", script, listPath, workDir],
      what: "compile the stdlib's bytecode")
    let lines = out.split(separator: "\n").map(String.init)
    let tag = lines.first ?? ""
    var result: [(Int, String, Data, Int)] = []
    for (i, entry) in sources.enumerated() {
      let pyc = "\(workDir)/\(i).pyc"
      guard let data = FileManager.default.contents(atPath: pyc) else { continue }
      let dir = FS.dirname(entry.path), stem = FS.basename(entry.path).dropLast(3)
      let prefix = dir == "." ? "" : dir + "/"
      result.append((i, legacyLayout ? "\(prefix)\(stem).pyc" : "\(prefix)__pycache__/\(stem).\(tag).pyc", data, 0o644))
    }
    // Only files that exist: a missing depfile input would rerun the action forever.
    return (result, lines.dropFirst().filter(FS.exists))
  }

  /// The test's zipapp: its modules plus a __main__ that runs `mainModule`
  /// as __main__, so `python3 test.pyz` and the bundle behave alike. With a
  /// `compiler` (the bundled runtime), each module also gets unchecked-hash
  /// bytecode next to it; another Python version finds the magic number
  /// wrong and falls back to the source. Returns the zip and every file read.
  public static func pyz(
    sources ownSources: [PythonSource], mainModule: String, workDir: String, compiler: String? = nil,
    wheelLists: [String] = [], wheelLock: String? = nil
  ) throws(LacewingError) -> (data: Data, inputs: [String]) {
    try? FileManager.default.removeItem(atPath: workDir)
    defer { try? FileManager.default.removeItem(atPath: workDir) }
    // Pure-Python wheels join the test's code: their files are unpacked
    // into the work dir, so they are compiled like the test's own.
    var sources = ownSources
    let checked = try Wheel.checked(lists: wheelLists, runtime: compiler.map(FS.basename), lock: wheelLock)
    // Native wheels are installed in the bundle's site/ instead.
    for (i, wheel) in checked.wheels.enumerated() where wheel.isPure {
      let zip = try ZipReaderHandle(path: wheel.path)
      for file in wheel.files {
        let unpacked = "\(workDir)/wheel-\(i)/\(file.path)"
        let data = try zip.read(file.member)
        do {
          try FileManager.default.createDirectory(atPath: FS.dirname(unpacked), withIntermediateDirectories: true)
          try data.write(to: URL(fileURLWithPath: unpacked))
        } catch {
          throw LacewingError(
            .io, "cannot unpack \(file.member) of \(wheel.path) into \(workDir): \(error.localizedDescription)")
        }
        sources.append(PythonSource(source: unpacked, dest: file.path))
      }
    }
    var seen = Set<String>()
    var files: [(String, Data)] = []
    for s in sources {
      guard seen.insert(s.dest).inserted else {
        throw LacewingError(.badInput, "two sources would land at \(s.dest) in the pyz; rename one or set library_name")
      }
      files.append((s.dest, try FS.read(s.source, what: "python source for \(s.dest)")))
    }
    guard seen.contains(mainModule.replacingOccurrences(of: ".", with: "/") + ".py") else {
      throw LacewingError(.badInput, "main module \(mainModule) is not among the sources")
    }
    let main = """
      # Generated by make-archive: runs the test's main module as __main__.
      import os, runpy, sys
      # A bundle's launcher ._pth lists this .pyz too (for the test's children).
      if len(sys.path) > 1 and os.path.normpath(sys.path[1]) == os.path.normpath(sys.path[0]):
          del sys.path[1]
      runpy.run_module(\(pythonLiteral(mainModule)), run_name="__main__", alter_sys=True)

      """
    try? FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
    var inputs = ownSources.map(\.source) + checked.inputs
    if let compiler {
      // Package data (pkg/data.json) rides along as it is; only modules compile.
      let modules = sources.filter { $0.dest.hasSuffix(".py") }
      let compiled = try compile(modules.map { ($0.source, $0.dest) }, with: compiler, workDir: workDir, legacyLayout: true)
      files += compiled.files.map { ($0.path, $0.data) }
      inputs += compiled.compilerInputs
    }
    files.append(("__main__.py", Data(main.utf8)))
    files.sort { $0.0 < $1.0 }
    let zipPath = workDir + "/pyz.zip"
    let writer = try ZipWriter(path: zipPath)
    for (name, data) in files { try writer.add(name, data, mode: 0o644, compressionLevel: 9) }
    try writer.close()
    return (try FS.read(zipPath, what: "pyz just written"), inputs)
  }
}
