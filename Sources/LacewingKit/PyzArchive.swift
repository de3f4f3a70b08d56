import FoundationEssentials

/// make-archive pyz: a test's sources -> its zipapp, which runs as
/// `python3 test.pyz` with no bundle at all.
public enum PyzArchive {
  /// make-archive pyz's arguments.
  public struct Options: Sendable {
    /// JSON arrays of {"source", "dest"} objects (GN metadata).
    public var sourceLists: [String]
    /// The module run as __main__, e.g. "rtc_test".
    public var mainModule: String
    /// The runtime that compiles the modules' bytecode; nil (and no
    /// `compilerFrom`): sources only.
    public var python: String?
    /// A runtime layer's manifest, whose runtime compiles the bytecode.
    public var compilerFrom: String?
    /// JSON arrays of wheel paths (GN metadata); pure-Python ones join.
    public var wheelLists: [String] = []
    /// The requirements lock every wheel must match.
    public var wheelLock: String?
    /// The glibc floor wheels' platform tags must fit, e.g. "2.31"; nil: none.
    public var maxGlibc: String?

    public init(sourceLists: [String], mainModule: String) {
      self.sourceLists = sourceLists
      self.mainModule = mainModule
    }
  }

  /// Builds the .pyz and writes it and the depfile; `<output>.work` holds
  /// unpacked wheels and bytecode meanwhile.
  public static func run(_ options: Options, output: ActionOutput) throws(LacewingError) {
    var sources: [PythonSource] = []
    for list in options.sourceLists { sources += try PythonSource.readList(list) }
    var compiler = options.python
    if let compilerFrom = options.compilerFrom { compiler = try BundleManifest.read(compilerFrom).compiler }
    let result = try build(
      sources: sources, mainModule: options.mainModule, workDir: output.path + ".work", compiler: compiler,
      wheelLists: options.wheelLists, wheelLock: options.wheelLock, maxGlibc: options.maxGlibc)
    try output.write(result.data)
    try output.writeDepfile(inputs: options.sourceLists + (options.compilerFrom.map { [$0] } ?? []) + result.inputs)
  }

  /// The test's zipapp: its modules plus a __main__ that runs `mainModule`
  /// as __main__, so `python3 test.pyz` and the bundle behave alike. With a
  /// `compiler` (the bundled runtime), each module also gets unchecked-hash
  /// bytecode next to it; another Python version finds the magic number
  /// wrong and falls back to the source. Returns the zip and every file read.
  static func build(
    sources ownSources: [PythonSource], mainModule: String, workDir: String, compiler: String?,
    wheelLists: [String], wheelLock: String?, maxGlibc: String? = nil
  ) throws(LacewingError) -> (data: Data, inputs: [String]) {
    try FS.makeFreshDirectory(workDir)
    defer { try? FileManager.default.removeItem(atPath: workDir) }
    let wheels = try Wheel.checked(
      lists: wheelLists, runtime: compiler.map(FS.basename), lock: wheelLock, maxGlibc: maxGlibc)
    let sources = try ownSources + unpackPureWheels(wheels.wheels, into: workDir)
    var seen = Set<String>()
    var files: [(String, Data)] = []
    for s in sources {
      guard seen.insert(s.dest).inserted else {
        throw LacewingError(.badInput, "two sources would land at \(s.dest) in the pyz; rename one or set library_name")
      }
      files.append((s.dest, try FS.read(s.source, what: "python source for \(s.dest)")))
    }
    guard seen.contains(mainModule.replacing(".", with: "/") + ".py") else {
      throw LacewingError(.badInput, "main module \(mainModule) is not among the sources")
    }
    var inputs = ownSources.map(\.source) + wheels.inputs
    if let compiler {
      // Package data (pkg/data.json) rides along as it is; only modules compile.
      let modules = sources.filter { $0.dest.hasSuffix(".py") }
      let compiled = try Bytecode.compile(
        modules.map { ($0.source, $0.dest) }, with: compiler, workDir: workDir, legacyLayout: { _ in true })
      files += compiled.files.map { ($0.path, $0.data) }
      inputs += compiled.compilerInputs
    }
    files.append(("__main__.py", Data(mainScript(mainModule).utf8)))
    files.sort { $0.0 < $1.0 }
    let zipPath = workDir + "/pyz.zip"
    let writer = try ZipWriter(path: zipPath)
    for (name, data) in files { try writer.add(name, data, mode: 0o644, compressionLevel: 9) }
    try writer.close()
    return (try FS.read(zipPath, what: "pyz just written"), inputs)
  }

  /// Pure-Python wheels join the test's code: their files are unpacked
  /// into the work dir, so they are compiled like the test's own. (Native
  /// wheels are installed in the bundle's site/ instead.)
  private static func unpackPureWheels(_ wheels: [Wheel], into workDir: String) throws(LacewingError) -> [PythonSource]
  {
    var sources: [PythonSource] = []
    for (i, wheel) in wheels.enumerated() where wheel.isPure {
      let zip = try ZipReaderHandle(path: wheel.path)
      for file in wheel.files {
        let unpacked = "\(workDir)/wheel-\(i)/\(file.path)"
        let data = try zip.read(file.member)
        do {
          try FileManager.default.createDirectory(atPath: FS.dirname(unpacked), withIntermediateDirectories: true)
          try data.write(to: URL(fileURLWithPath: unpacked))
        } catch {
          throw LacewingError(
            .io, "cannot unpack \(file.member) of \(wheel.path) into \(workDir): \(FS.reason(error))")
        }
        sources.append(PythonSource(source: unpacked, dest: file.path))
      }
    }
    return sources
  }

  /// The .pyz's __main__.py.
  static func mainScript(_ mainModule: String) -> String {
    """
    # Generated by make-archive: runs the test's main module as __main__.
    import os, runpy, sys
    # A bundle's launcher ._pth lists this .pyz too (for the test's children).
    if len(sys.path) > 1 and os.path.normpath(sys.path[1]) == os.path.normpath(sys.path[0]):
        del sys.path[1]
    runpy.run_module(\(pythonLiteral(mainModule)), run_name="__main__", alter_sys=True)

    """
  }
}
