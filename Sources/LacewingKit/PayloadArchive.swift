import FoundationEssentials
import LacewingFormat

/// make-archive payload: a manifest -> the deterministic payload zip (or a
/// runtime layer, packed or not).
public enum PayloadArchive {
  /// make-archive payload's arguments.
  public struct Options: Sendable {
    /// The manifest collect-artifacts wrote.
    public var manifest: String
    /// A runtime layer (a payload built from a runtime manifest) whose
    /// entries join this payload as they are stored.
    public var runtime: String?
    /// Deflate level 1-9, or 0 to store.
    public var compressionLevel = 9
    /// Pack a runtime layer into one zstd frame (lacewing_format.h).
    public var pack = false
    /// With `pack`: the zstd level, 1-22, or `Zstd.packLevel`.
    public var packLevel = Zstd.packLevel
    /// With `pack`: where to write what the pack holds, for size reports.
    public var packIndex: String?
    public var compileBytecode = true
    /// Ship stdlib sources next to their bytecode.
    public var stdlibSources = false
    public var stripDebugInfo = true
    public var patchelf = "patchelf"
    public var strip = "strip"

    public init(manifest: String) {
      self.manifest = manifest
    }
  }

  struct Result {
    var data: Data
    /// Every file read, for the depfile.
    var inputs: [String]
    /// With `pack`: what the pack holds (path, bytes), for size reports.
    var packIndex: [PackedFile] = []
  }

  /// Builds the payload the manifest describes and writes it, the pack
  /// index and the depfile. Private copies of ELFs are patched under
  /// `<output>.work`, removed afterwards.
  public static func run(_ options: Options, output: ActionOutput) throws(LacewingError) {
    let manifest = try BundleManifest.read(options.manifest)
    let result = try build(manifest, options, workDir: output.path + ".work")
    try output.write(result.data)
    if let packIndex = options.packIndex { try OutputFile.write(JSONFile.encode(result.packIndex), to: packIndex) }
    try output.writeDepfile(inputs: [options.manifest] + result.inputs)
  }

  public struct PackedFile: Codable, Equatable, Sendable {
    public var path: String
    public var size: Int

    public static func readList(_ path: String) throws(LacewingError) -> [PackedFile] {
      try JSONFile.read([PackedFile].self, path, what: "runtime pack index")
    }
  }

  /// The payload in memory. ELFs get their debug info stripped and
  /// their DT_RPATH set by patchelf on private copies under `workDir`
  /// (removed afterwards); stdlib modules get unchecked-hash bytecode
  /// compiled by the bundled runtime itself, so the bundle never writes or
  /// validates a .pyc at run time. Without `stdlibSources` the stdlib ships
  /// as bytecode only (`os.pyc` where `os.py` was, compiled without column
  /// tables, which only serve to point carets into source that is not there).
  ///
  /// With a `runtime` zip (a runtime layer built by this same function),
  /// its entries are copied compressed, as they are, next to the manifest's.
  /// With `pack` (a runtime layer), the files go into one zip of stored
  /// (or x86-filtered) entries compressed as a single zstd frame,
  /// python.pack (see lacewing_format.h), at `packLevel` (all `options`).
  static func build(_ manifest: BundleManifest, _ options: Options, workDir: String) throws(LacewingError) -> Result {
    try FS.makeFreshDirectory(workDir)
    defer { try? FileManager.default.removeItem(atPath: workDir) }
    if options.pack && options.runtime != nil {
      throw LacewingError(.badInput, "a packed runtime layer cannot sit on another runtime layer")
    }

    var files: [String: (data: Data, mode: Int)] = [:]
    var inputs: [String] = []
    var wheels: [String: ZipReaderHandle] = [:]
    for (index, entry) in manifest.entries.enumerated() {
      let data = try contents(
        of: entry, options, copy: "\(workDir)/elf-\(index)", wheels: &wheels, inputs: &inputs)
      files[entry.path] = (data, entry.mode)
    }
    if options.compileBytecode, let compiler = manifest.compiler {
      inputs += try compileStdlib(
        of: manifest, with: compiler, into: &files, workDir: workDir, keepSources: options.stdlibSources)
    }
    var zipped: [PackedFile] = []
    if let zip = manifest.stdlibZip { zipped = try zipMembers(of: zip, in: &files) }
    var result = try archive(files, options, workDir: workDir)
    result.inputs = inputs + result.inputs
    if !result.packIndex.isEmpty && !zipped.isEmpty {
      // The size report counts the stdlib module by module, as without the zip.
      result.packIndex = (result.packIndex.filter { $0.path != manifest.stdlibZip } + zipped).sorted {
        $0.path < $1.path
      }
    }
    return result
  }

  /// Replaces the files under `stdlibZip/` with one stored zip of them there
  /// (deterministic: sorted, fixed dates, the modes kept). zipimport reads
  /// stored members in place; the runtime pack compresses them, and a layer
  /// deflated per file (pack = false) deflates the zip as one file. Returns
  /// the members, by path through the zip, for the pack index.
  private static func zipMembers(of stdlibZip: String, in files: inout [String: (data: Data, mode: Int)])
    throws(LacewingError) -> [PackedFile]
  {
    let prefix = stdlibZip + "/"
    let names = files.keys.filter { $0.hasPrefix(prefix) }.sorted()
    guard !names.isEmpty else { return [] }
    guard files[stdlibZip] == nil else {
      throw LacewingError(.badInput, "\(stdlibZip) is both a file of the bundle and the stdlib's zip; rename the file")
    }
    let members = names.map {
      ZipMerge.StoredFile(path: String($0.dropFirst(prefix.count)), data: files[$0]!.data, mode: files[$0]!.mode)
    }
    files[stdlibZip] = (try ZipMerge.archive(inOrder: members), 0o644)
    for name in names { files[name] = nil }
    return zip(names, members).map { PackedFile(path: $0, size: $1.size) }
  }

  /// What lands at `entry.path`: a member of a wheel (opened once, in
  /// `wheels`), inline content or a file, an ELF patched on a private
  /// `copy`. Adds the files read to `inputs`.
  private static func contents(
    of entry: BundleManifest.Entry, _ options: Options, copy: String, wheels: inout [String: ZipReaderHandle],
    inputs: inout [String]
  ) throws(LacewingError) -> Data {
    if let member = entry.member, let source = entry.source {
      if wheels[source] == nil {
        wheels[source] = try ZipReaderHandle(path: source)
        inputs.append(source)
      }
      let data = try wheels[source]!.read(member)
      guard let runpath = entry.runpath else { return data }
      // Only the search path (see Collector): no strip, the wheel's ELF
      // stays as its builders made it otherwise.
      return try patched(data, at: copy, [setRPATH(runpath, options, entry)])
    }
    if let content = entry.content { return Data(content.utf8) }
    guard let source = entry.source else {
      throw LacewingError(.badInput, "manifest entry \(entry.path) has neither source nor content")
    }
    inputs.append(source)
    let data = try FS.read(source, what: "listed in the manifest as \(entry.path)")
    guard let runpath = entry.runpath else { return data }
    // Strip before patchelf: patchelf's rewritten layout is the last word.
    var steps = [(String, [String], String)]()
    if options.stripDebugInfo {
      steps.append((options.strip, ["--strip-debug"], "strip debug info from \(entry.path)"))
    }
    steps.append(setRPATH(runpath, options, entry))
    for library in entry.preload ?? [] {
      steps.append((options.patchelf, ["--add-needed", library], "make \(entry.path) load \(library) at start"))
    }
    return try patched(data, at: copy, steps)
  }

  /// The patchelf step that gives an ELF its search path as DT_RPATH, never
  /// DT_RUNPATH (a RUNPATH it had becomes the RPATH): ld.so searches an
  /// RPATH before LD_LIBRARY_PATH, a RUNPATH after it, so a caller's
  /// LD_LIBRARY_PATH cannot swap a bundled library for the host's.
  private static func setRPATH(_ path: String, _ options: Options, _ entry: BundleManifest.Entry) -> (
    String, [String], String
  ) {
    (options.patchelf, ["--force-rpath", "--set-rpath", path], "set the RPATH of \(entry.path)")
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

  /// Compiles the manifest's stdlib modules in `files`, and the modules
  /// collect-artifacts generated (the runtime's sitecustomize, which every
  /// start imports: compiling its source each time cost 2.4% of a warm
  /// start, and a child without -B wrote its bytecode into the cache
  /// entry); without `keepSources` each module's bytecode replaces it (a
  /// module that did not compile, e.g. syntax for another version, keeps
  /// its source). Returns the files the compiling interpreter read.
  private static func compileStdlib(
    of manifest: BundleManifest, with compiler: String, into files: inout [String: (data: Data, mode: Int)],
    workDir: String, keepSources: Bool
  ) throws(LacewingError) -> [String] {
    var modules: [(source: String, path: String)] = []
    for e in manifest.entries where e.path.hasSuffix(".py") {
      if e.kind == .stdlib, let source = e.source {
        modules.append((source, e.path))
      } else if e.kind == .config, let content = e.content {
        let generated = "\(workDir)/generated-\(modules.count).py"
        guard FileManager.default.createFile(atPath: generated, contents: Data(content.utf8)) else {
          throw LacewingError(.io, "cannot write \(generated)")
        }
        modules.append((generated, e.path))
      }
    }
    // zipimport reads `module.pyc` next to `module.py`, never __pycache__.
    let zipped = manifest.stdlibZip.map { $0 + "/" }
    let compiled = try Bytecode.compile(
      modules, with: compiler, workDir: workDir,
      legacyLayout: { path in !keepSources || zipped.map { path.hasPrefix($0) } ?? false },
      columnTables: keepSources)
    for c in compiled.files {
      files[c.path] = (c.data, c.mode)
      if !keepSources { files[modules[c.index].path] = nil }
    }
    return compiled.compilerInputs
  }

  /// The payload zip of `files`: packed into one zstd frame, or deflated,
  /// sorted and merged with the `runtime` layer's entries as stored.
  private static func archive(_ files: [String: (data: Data, mode: Int)], _ options: Options, workDir: String)
    throws(LacewingError) -> Result
  {
    let pack = options.pack
    let runtime = options.runtime
    let compressionLevel = options.compressionLevel
    if pack, let stray = files.keys.sorted().first(where: { !$0.hasPrefix(LW_RUNTIME_PREFIX) }) {
      throw LacewingError(.badInput, "\(stray) is not under \(LW_RUNTIME_PREFIX); only a runtime layer can be packed")
    }
    if pack && !files.isEmpty {
      // In the pack's order (lacewing_format.h): other files by name, then
      // the ELFs, largest first.
      let names = files.keys.sorted()
      let isELF = { (name: String) in ELFFile.isELF(files[name]!.data) }
      let elves = names.filter(isELF).sorted { (files[$0]!.data.count, $1) > (files[$1]!.data.count, $0) }
      let ordered = (names.filter { !isELF($0) } + elves).map {
        ZipMerge.StoredFile(packMember: $0, data: files[$0]!.data, mode: files[$0]!.mode)
      }
      let packed = try ZipMerge.StoredFile(
        path: LW_RUNTIME_PACK, zstd: try ZipMerge.archive(inOrder: ordered), level: options.packLevel)
      var result = Result(data: try ZipMerge.merge([], adding: [packed]), inputs: [])
      result.packIndex = names.map { PackedFile(path: $0, size: files[$0]!.data.count) }
      return result
    }
    var zips: [(label: String, data: Data)] = []
    if let runtime { zips.append((runtime, try FS.read(runtime, what: "runtime layer"))) }
    // libzip writes no file at all for an empty archive.
    if !files.isEmpty {
      let zipPath = workDir + "/payload.zip"
      let writer = try ZipWriter(path: zipPath)
      for name in files.keys.sorted() {
        try writer.add(name, files[name]!.data, mode: files[name]!.mode, compressionLevel: compressionLevel)
      }
      try writer.close()
      let own = try FS.read(zipPath, what: "payload just written")
      if runtime == nil { return Result(data: own, inputs: []) }
      zips.append(("this bundle's own files", own))
    }
    return Result(data: try ZipMerge.merge(zips), inputs: runtime.map { [$0] } ?? [])
  }
}
