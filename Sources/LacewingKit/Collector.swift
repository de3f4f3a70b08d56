import FoundationEssentials
import LacewingFormat

/// collect-artifacts: resolves everything a bundle needs into a manifest.
///
/// It reads ELF headers (never runs anything), walks the runtime's stdlib and
/// follows DT_NEEDED through the declared library directories only, so what
/// lands in a bundle never depends on what else happens to be installed.
public struct Collector {
  /// collect-artifacts' arguments.
  public struct Options: Sendable {
    /// Which layer(s) to collect: a runtime layer is shared by every bundle
    /// on that runtime; a test layer is built on top of one.
    public var layer: Layer
    /// The interpreter to bundle, e.g. /usr/bin/python3.11 (layers all and
    /// runtime).
    public var python: String?
    /// The runtime layer's manifest, for a test layer (names the interpreter).
    public var runtimeManifest: String?
    /// Files listing third-party wheels (JSON, GN metadata); those with
    /// native code land in site/ (pure ones are in the .pyz).
    public var wheelLists: [String] = []
    /// The requirements lock every wheel must match (sha256), if any.
    public var wheelLock: String?
    /// The glibc floor wheels' platform tags must fit, e.g. "2.31"; nil: none.
    public var maxGlibc: String?
    /// Files listing tests of a multi-test bundle (JSON, GN metadata), for
    /// their data (fuse-stub adds their .pyz files).
    public var testLists: [String] = []
    /// Files listing extension modules (JSON arrays of paths), from GN metadata.
    public var extensionLists: [String] = []
    public var extensions: [String] = []
    /// "source=dest" pairs; dest is relative to the extraction root.
    public var data: [String] = []
    /// JSON lists of FIDL IR (fidl_ir_info metadata), and the directory
    /// their files land in.
    public var fidlIRLists: [String] = []
    public var fidlIRDir = "fidl_ir"
    /// The only places shared libraries are bundled from, besides the
    /// runtime's own lib dir (a runtime layer searches that first).
    public var libDirs: [String] = []
    /// The allowlist file: libraries every host has, never bundled.
    public var allowlist: String?
    /// fnmatch patterns on paths relative to the stdlib directory, added
    /// to `defaultStdlibExclude`.
    public var stdlibExclude: [String] = []
    /// fnmatch patterns on module names (the file name up to its first
    /// "."), added to `defaultModuleExclude`.
    public var moduleExclude: [String] = []
    /// False: only the given exclusions, none of the defaults.
    public var defaultExcludes = true
    /// Where to write a readable list of what was left out and why.
    public var exclusionReport: String?
    /// Ship the stdlib's modules in one zip, `lib/python3XY.zip`, first on
    /// sys.path as in CPython's own default path (see `zipStdlib`).
    public var stdlibZip = false
    /// Python files (a test's sources) whose imports, followed through the
    /// stdlib, are all of the stdlib a runtime layer ships; empty: all of it.
    public var trimToImportsOf: [String] = []
    /// With `trimToImportsOf`: more stdlib modules to ship, with what they
    /// import (those imported by name at run time).
    public var keepModules: [String] = []
    /// Scratch space for the import graph, removed afterwards.
    public var workDir: String?

    public init(layer: Layer = .all, python: String? = nil) {
      self.layer = layer
      self.python = python
    }
  }

  /// Not needed to run tests, large, or both. Overridable per bundle.
  /// distutils is deprecated and gone in 3.12; pydoc_data only serves
  /// help(); sitecustomize is the distribution's (Debian's calls apport) and
  /// is replaced by the bundle's own.
  public static let defaultStdlibExclude = [
    "test", "*/test", "*/tests", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "lib2to3",
    "config-*", "__pycache__", "*/__pycache__", "site-packages", "dist-packages", "lib-dynload", "*.pyc",
    "distutils", "pydoc_data", "sitecustomize.py",
  ]
  /// nis needs Kerberos and is deprecated (PEP 594); dbm's and curses'
  /// backends and readline serve interactive programs and databases, not
  /// end-to-end tests, and pull in libdb, ncurses and readline (about 1.2 MB
  /// compressed); _tkinter serves tkinter, which the stdlib exclusions drop,
  /// and pulls in Tk and X11 (Debian packages it apart, pyenv builds carry
  /// it); the rest are CPython's own test modules.
  public static let defaultModuleExclude = [
    "nis", "_dbm", "_gdbm", "_curses", "_curses_panel", "readline", "_tkinter",
    "_test*", "_xxtestfuzz", "xxlimited*", "_ctypes_test", "xxsubtype",
  ]

  public enum Layer: String, CaseIterable, Sendable {
    /// Runtime and test in one manifest.
    case all
    /// The interpreter, stdlib, lib-dynload and their libraries: python/.
    case runtime
    /// The tests' extensions (ext/) with their libraries (lib/), data. The
    /// tests' code itself joins last, in fuse-stub, so editing it rebuilds
    /// nothing but the .pyz and the bundle.
    case test
  }

  /// One test of a multi-test bundle, as GN metadata lists it.
  public struct TestEntry: Codable, Equatable, Sendable {
    public var name: String
    /// The test's .pyz, relative to root_build_dir.
    public var pyz: String
    /// "SOURCE=DEST" data files.
    public var data: [String]
    /// "NAME=path" variables.
    public var env: [String]

    public init(name: String, pyz: String, data: [String] = [], env: [String] = []) {
      self.name = name
      self.pyz = pyz
      self.data = data
      self.env = env
    }

    public static func readList(_ path: String) throws(LacewingError) -> [TestEntry] {
      try JSONFile.read([TestEntry].self, path, what: "list of tests")
    }
  }

  public struct Result {
    public var manifest: BundleManifest
    /// Files read and directories listed, for the depfile.
    public var inputs: [String]
  }

  let options: Options
  /// Read from `options.allowlist`.
  private var allowlist: Set<String> = []
  private var entries: [BundleManifest.Entry] = []
  private var excluded: [BundleManifest.Exclusion] = []
  private var inputs: [String] = []
  private var bundledLibraries: [String: String] = [:]  // name -> source
  private var pending: [(source: String, elf: ELFFile)] = []
  /// With `trimToImportsOf`: the stdlib and lib-dynload files to keep.
  private var imported: Set<String>?
  /// Where libraries are searched: a runtime layer puts the interpreter's
  /// own `prefix/lib` first (libpython3.X.so of a shared build lives there),
  /// then `options.libDirs`.
  private var libDirs: [String]

  public init(_ options: Options) {
    self.options = options
    self.libDirs = options.libDirs
  }

  /// Collects and writes the manifest, the exclusion report and the depfile.
  public static func run(_ options: Options, output: ActionOutput) throws(LacewingError) {
    var options = options
    options.workDir = options.workDir ?? output.path + ".work"
    let result = try collect(options)
    try output.write(result.manifest.encoded())
    if let report = options.exclusionReport {
      try OutputFile.write(Data(result.manifest.exclusionReport.utf8), to: report)
    }
    try output.writeDepfile(inputs: result.inputs)
  }

  public static func collect(_ options: Options) throws(LacewingError) -> Result {
    var c = Collector(options)
    return try c.collect()
  }

  private mutating func collect() throws(LacewingError) -> Result {
    if let path = options.allowlist {
      allowlist = AllowlistCheck.parseAllowlist(String(decoding: try FS.read(path, what: "allowlist"), as: UTF8.self))
      inputs.append(path)
    }
    var interpreter: String
    var compiler: String?
    var modulePath: [String]
    var stdlibZip: String?
    if options.layer == .test {
      guard let path = options.runtimeManifest else {
        throw LacewingError(.badInput, "a test layer needs the runtime layer's manifest (--runtime-manifest)")
      }
      inputs.append(path)
      let runtime = try BundleManifest.read(path)
      interpreter = runtime.interpreter
      modulePath = runtime.modulePath
      stdlibZip = runtime.stdlibZip
    } else {
      guard let python = options.python else {
        throw LacewingError(.badInput, "a \(options.layer.rawValue) layer needs the interpreter to bundle (--python)")
      }
      let runtime = try PythonRuntime(interpreter: python)
      libDirs = Collector.searchOrder(runtimeLibDir: runtime.libDir, declared: options.libDirs)
      let bin = BundleLayout.runtimeBinDir + "/" + runtime.name
      let lib = BundleLayout.runtimeLibDir
      let stdlib = "\(lib)/\(runtime.name)"
      let dynload = stdlib + "/" + BundleLayout.dynloadDir
      inputs.append(python)
      interpreter = bin
      compiler = runtime.executable
      let zip = options.stdlibZip ? BundleLayout.stdlibZip(interpreter: runtime.name) : nil
      stdlibZip = zip
      modulePath = (zip.map { [$0] } ?? []) + [stdlib, dynload]

      try addELF(source: runtime.executable, path: bin, kind: .interpreter, libDir: lib)
      entries.append(
        .init(path: bin + "._pth", kind: .config, content: PythonRuntime.pthFile(bin: bin, modulePath: modulePath)))
      entries.append(.init(path: stdlib + "/sitecustomize.py", kind: .config, content: PythonRuntime.siteCustomize))
      try walkStdlib(runtime.stdlib, relative: "", into: stdlib)
      if !options.trimToImportsOf.isEmpty || !options.keepModules.isEmpty {
        try trimStdlib(runtime, into: stdlib)
      }
      if let zip { zipStdlib(stdlib, into: zip) }
      try addDynload(runtime.stdlib + "/" + BundleLayout.dynloadDir, into: dynload, libDir: lib)
      try resolveLibraries(into: lib)
      try preloadUnwinder(interpreter: bin, libDir: lib)
    }
    if options.layer != .runtime {
      try collectTestLayer(interpreter: interpreter)
    } else if !options.testLists.isEmpty || !options.extensions.isEmpty || !options.wheelLists.isEmpty
      || !options.extensionLists.isEmpty || !options.data.isEmpty
    {
      throw LacewingError(.badInput, "a runtime layer holds no tests, extensions or data; collect them in a test layer")
    }

    var seen = Set<String>()
    for e in entries where !seen.insert(e.path).inserted {
      throw LacewingError(
        .badInput,
        "two files would land at \(e.path) in the bundle; rename one (e.g. two tests or data files of one name)")
    }
    let manifest = BundleManifest(
      interpreter: interpreter, compiler: compiler, modulePath: modulePath, stdlibZip: stdlibZip,
      entries: entries.sorted { $0.path < $1.path },
      excluded: excluded.sorted { $0.path < $1.path })
    return Result(manifest: manifest, inputs: inputs)
  }

  /// Extensions land in ext/ (the stem puts it on sys.path) with the
  /// libraries they need in lib/: a layer of their own, so a runtime shared
  /// by several bundles is never changed by one test's extensions.
  private mutating func collectTestLayer(interpreter: String) throws(LacewingError) {
    var extensionPaths = options.extensions
    for list in options.extensionLists {
      inputs.append(list)
      extensionPaths += try JSONFile.read([String].self, list, what: "list of extension modules")
    }
    let libDir = BundleLayout.libDir
    for ext in Set(extensionPaths).sorted() {
      try addELF(source: ext, path: BundleLayout.extDir + "/" + FS.basename(ext), kind: .extension, libDir: libDir)
    }
    bundledLibraries = [:]
    try resolveLibraries(into: libDir)

    // Wheels with native code, installed as pip would in site/: their
    // search paths (auditwheel's $ORIGIN/../<pkg>.libs) are kept, as RPATHs.
    let wheels = try Wheel.checked(
      lists: options.wheelLists, runtime: FS.basename(interpreter), lock: options.wheelLock,
      maxGlibc: options.maxGlibc)
    inputs += wheels.inputs
    for wheel in wheels.wheels where !wheel.isPure { try addNativeWheel(wheel) }
    try resolveLibraries(into: libDir)

    var data = options.data
    for list in options.testLists {
      inputs.append(list)
      for test in try TestEntry.readList(list) { data += test.data }
    }
    for list in options.fidlIRLists {
      inputs.append(list)
      data += try FidlIR.dataEntries(list: list, dir: options.fidlIRDir)
    }
    var dataSeen: [String: String] = [:]
    for pair in data {
      guard let eq = pair.firstIndex(of: "=") else {
        throw LacewingError(.badInput, "data entry '\(pair)' is not SOURCE=DEST")
      }
      let source = String(pair[..<eq])
      let dest = FS.normalize(String(pair[pair.index(after: eq)...]))
      guard !dest.isEmpty, !dest.hasPrefix("/"), !dest.hasPrefix(".."), !dest.hasPrefix(BundleLayout.runtimePrefix),
        dest != BundleLayout.runtimePack, !BundleLayout.isReserved(dest)
      else {
        throw LacewingError(
          .badInput,
          "data destination '\(dest)' must be a relative path inside the bundle, outside "
            + "\(BundleLayout.runtimePrefix), \(BundleLayout.launcherDir) and \(BundleLayout.runtimeLink), and not "
            + "\(BundleLayout.runtimePack)")
      }
      guard FS.exists(source) else { throw .unreadable(source, "no such data file") }
      // Tests of one multi-test bundle may share a data file.
      if let other = dataSeen[dest] {
        guard FS.realPath(other) == FS.realPath(source) else {
          throw LacewingError(
            .badInput, "data files \(other) and \(source) would both land at \(dest); give one another data_dir")
        }
        continue
      }
      dataSeen[dest] = source
      entries.append(.init(path: dest, kind: .data, source: source))
    }
  }

  private mutating func walkStdlib(_ dir: String, relative: String, into dest: String) throws(LacewingError) {
    inputs.append(dir)
    for name in try FS.list(dir) {
      let rel = relative.isEmpty ? name : relative + "/" + name
      if let pattern = stdlibExclude.first(where: { FS.matches($0, rel) }) {
        if pattern != "*.pyc" && !pattern.hasSuffix("__pycache__") && rel != BundleLayout.dynloadDir {
          excluded.append(.init(path: "\(dest)/\(rel)", reason: "stdlib exclusion '\(pattern)'"))
        }
        continue
      }
      let full = dir + "/" + name
      if FS.isDirectory(full) {
        try walkStdlib(full, relative: rel, into: dest)
      } else {
        entries.append(.init(path: "\(dest)/\(rel)", kind: .stdlib, source: full))
      }
    }
  }

  static let notImported =
    "not imported by trim_to_imports_of's files; name it in keep_modules if it is imported by name"

  /// Leaves out every stdlib module that neither `trimToImportsOf`'s files
  /// nor `keepModules` import (ImportGraph), each named in the exclusion
  /// report; a package's other files stay when one of its modules does,
  /// and so do the stdlib's own top-level files (its LICENSE). lib-dynload
  /// is trimmed as it is walked (`imported`), and the libraries follow.
  private mutating func trimStdlib(_ runtime: PythonRuntime, into dest: String) throws(LacewingError) {
    for script in options.trimToImportsOf where !FS.exists(script) {
      throw .unreadable(script, "no such file, named in trim_to_imports_of")
    }
    let files = try ImportGraph.closure(
      python: runtime.executable, stdlib: runtime.stdlib, dynload: runtime.stdlib + "/" + BundleLayout.dynloadDir,
      scripts: options.trimToImportsOf, modules: options.keepModules,
      workDir: options.workDir ?? "/tmp/lacewing-import-graph-\(ProcessInfo.processInfo.processIdentifier)")
    inputs += options.trimToImportsOf + files
    imported = Set(files)
    let prefix = dest + "/"
    var keptPackages = Set<Substring>()
    for e in entries where e.kind == .stdlib && imported!.contains(e.source ?? "") {
      let rel = e.path.dropFirst(prefix.count)
      if let slash = rel.firstIndex(of: "/") { keptPackages.insert(rel[..<slash]) }
    }
    entries.removeAll { e in
      guard e.kind == .stdlib, e.path.hasPrefix(prefix), let source = e.source else { return false }
      let rel = e.path.dropFirst(prefix.count)
      let kept: Bool
      if source.hasSuffix(".py") {
        kept = imported!.contains(source)
      } else {
        kept = rel.firstIndex(of: "/").map { keptPackages.contains(rel[..<$0]) } ?? true
      }
      if !kept { excluded.append(.init(path: e.path, reason: Collector.notImported)) }
      return !kept
    }
  }

  /// Moves the stdlib's modules into `zip` (their paths become
  /// `zip/<path in the stdlib>`; make-archive writes the zip). On an ext4
  /// disk each new file costs a cold start a fraction of a millisecond, and
  /// the stdlib is 500 of the runtime's 560 (design.md, "The stdlib zip").
  /// What stays a file:
  /// - anything at the stdlib's top that is not a module (LICENSE.txt);
  /// - `os`: the prefix landmark CPython 3.9 and 3.10 look for;
  /// - a top-level package holding any file that is not a module (venv's
  ///   scripts, email's architecture.rst): code finds such files through
  ///   its `__file__`, and `open` cannot read inside a zip;
  /// - lib-dynload, and every ELF: a zip cannot hold what the loader maps.
  private mutating func zipStdlib(_ stdlib: String, into zip: String) {
    let prefix = stdlib + "/"
    func relative(_ e: BundleManifest.Entry) -> Substring? {
      e.kind == .stdlib && e.path.hasPrefix(prefix) ? e.path.dropFirst(prefix.count) : nil
    }
    var withData = Set<Substring>()
    for e in entries {
      guard let rel = relative(e), let slash = rel.firstIndex(of: "/"), !rel.hasSuffix(".py") else { continue }
      withData.insert(rel[..<slash])
    }
    for (i, e) in entries.enumerated() {
      guard let rel = relative(e), rel.hasSuffix(".py"), rel != "os.py" else { continue }
      if let slash = rel.firstIndex(of: "/"), withData.contains(rel[..<slash]) { continue }
      entries[i].path = zip + "/" + rel
    }
  }

  private mutating func addDynload(_ dir: String, into dest: String, libDir: String) throws(LacewingError) {
    guard FS.isDirectory(dir) else { return }  // a fully static runtime has none
    inputs.append(dir)
    for name in try FS.list(dir) where name.hasSuffix(".so") {
      let module = String(name.prefix { $0 != "." })
      if let pattern = moduleExclude.first(where: { FS.matches($0, module) }) {
        excluded.append(.init(path: "\(dest)/\(name)", reason: "module exclusion '\(pattern)'"))
        continue
      }
      if let imported, !imported.contains(dir + "/" + name) {
        excluded.append(.init(path: "\(dest)/\(name)", reason: Collector.notImported))
        continue
      }
      try addELF(source: dir + "/" + name, path: "\(dest)/\(name)", kind: .dynload, libDir: libDir)
    }
  }

  private mutating func addELF(source: String, path: String, kind: BundleManifest.Kind, libDir: String)
    throws(LacewingError)
  {
    let data = try FS.read(source, what: "\(kind.rawValue) to bundle")
    let elf = try ELFFile(data, name: source)
    inputs.append(source)
    entries.append(
      .init(path: path, kind: kind, source: source, mode: 0o755, runpath: Collector.runpath(from: path, to: libDir)))
    pending.append((source, elf))
  }

  /// A native wheel's files, installed in site/. Its ELFs keep their
  /// search path into `<pkg>.libs/`, as every ELF of a bundle has it: as
  /// DT_RPATH (make-archive rewrites a DT_RUNPATH, leaves an ELF with
  /// DT_RPATH or none as it is); a library they need that the wheel does
  /// not vendor and the host is not trusted to have (manylinux lets wheels
  /// take libgcc_s and libstdc++ from the host; we bundle those) is bundled
  /// in lib/, and the ELF's search path gains that directory.
  private mutating func addNativeWheel(_ wheel: Wheel) throws(LacewingError) {
    let site = BundleLayout.siteDir + "/"
    let installed = Set(wheel.files.map { site + $0.path })
    let zip = try ZipReaderHandle(path: wheel.path)
    for file in wheel.files {
      let path = site + file.path
      guard Wheel.isSharedObject(file.path) else {
        entries.append(.init(path: path, kind: .site, source: wheel.path, member: file.member))
        continue
      }
      let data = try zip.read(file.member)
      let elf = try ELFFile(data, name: "\(wheel.path):\(file.member)")
      // A RUNPATH comes after LD_LIBRARY_PATH; the same path as RPATH before.
      var runpath = elf.runpath.isEmpty ? nil : elf.runpath.joined(separator: ":")
      for name in elf.needed where !allowlist.contains(name) {
        if AllowlistCheck.resolveInBundle(name, from: path, elf: elf, paths: installed) != nil { continue }
        if bundledLibraries[name] == nil {
          guard let found = libDirs.map({ $0 + "/" + name }).first(where: FS.exists) else { continue }
          bundledLibraries[name] = found
          try addELF(
            source: found, path: BundleLayout.libDir + "/" + name, kind: .sharedLibrary, libDir: BundleLayout.libDir)
        }
        let own = elf.searchPath.joined(separator: ":")
        runpath = (own.isEmpty ? "" : own + ":") + Collector.runpath(from: path, to: BundleLayout.libDir)
      }
      entries.append(
        .init(path: path, kind: .site, source: wheel.path, mode: 0o755, runpath: runpath, member: file.member))
    }
  }

  private var stdlibExclude: [String] {
    (options.defaultExcludes ? Collector.defaultStdlibExclude : []) + options.stdlibExclude
  }
  private var moduleExclude: [String] {
    (options.defaultExcludes ? Collector.defaultModuleExclude : []) + options.moduleExclude
  }

  /// Breadth-first over DT_NEEDED: each library found in a declared directory
  /// is bundled once, under its own name, in python/lib.
  private mutating func resolveLibraries(into libDir: String) throws(LacewingError) {
    while !pending.isEmpty {
      let (source, elf) = pending.removeFirst()
      for name in elf.needed where !allowlist.contains(name) && bundledLibraries[name] == nil {
        guard let found = find(name, neededBy: source, elf: elf) else { continue }  // the allowlist check reports it
        bundledLibraries[name] = found
        try addELF(source: found, path: "\(libDir)/\(name)", kind: .sharedLibrary, libDir: libDir)
      }
    }
  }

  /// glibc dlopens libgcc_s.so.1 by name the first time a thread is ended
  /// by pthread_exit or pthread_cancel (CPython ends daemon threads that way
  /// at exit) or backtrace() runs; no DT_NEEDED shows it, and a host without
  /// it aborts the process. Bundled and made a DT_NEEDED of the interpreter,
  /// it is loaded at start, and glibc's dlopen then finds it by its soname.
  /// A runtime that allowlists it, or a static one (no ld.so, no dlopen of
  /// it), is left as it is; one whose lib dirs lack it fails the allowlist check, which
  /// names the fix.
  private mutating func preloadUnwinder(interpreter: String, libDir: String) throws(LacewingError) {
    let unwinder = AllowlistCheck.unwinder
    guard !allowlist.contains(unwinder), let index = entries.firstIndex(where: { $0.path == interpreter }),
      let source = entries[index].source, try ELFFile(FS.read(source, what: "interpreter"), name: source).isDynamic
    else { return }
    if bundledLibraries[unwinder] == nil {
      guard let found = libDirs.map({ $0 + "/" + unwinder }).first(where: FS.exists) else { return }
      bundledLibraries[unwinder] = found
      try addELF(source: found, path: "\(libDir)/\(unwinder)", kind: .sharedLibrary, libDir: libDir)
      try resolveLibraries(into: libDir)
    }
    entries[index].preload = [unwinder]
  }

  /// The ELF's own RPATH/RUNPATH first (as the loader would), but only where
  /// it points into a declared directory; then the declared directories.
  /// Either way the path names the directory as it was declared (relative
  /// to the build dir, as GN passes it), never as $ORIGIN resolved to an
  /// absolute one: the manifest and depfile are the same in any checkout.
  private func find(_ name: String, neededBy source: String, elf: ELFFile) -> String? {
    let origin = FS.dirname(FS.realPath(source))
    let own = elf.searchPath.map { $0.replacing("$ORIGIN", with: origin) }
    let declared = libDirs.map { FS.realPath($0) }
    for dir in own {
      guard let index = declared.firstIndex(of: FS.realPath(dir)) else { continue }
      if FS.exists(libDirs[index] + "/" + name) { return libDirs[index] + "/" + name }
    }
    for dir in libDirs where FS.exists(dir + "/" + name) { return dir + "/" + name }
    return nil
  }

  /// The runtime's own lib dir, then the declared ones (once each). The
  /// interpreter of a shared CPython build (`--enable-shared`: pyenv,
  /// python-build-standalone, Fuchsia's prebuilt) needs libpython3.X.so
  /// from there, by RUNPATH or ld.so.conf; searching it first takes the
  /// copy that interpreter runs with, not another build's of the same name.
  static func searchOrder(runtimeLibDir: String, declared: [String]) -> [String] {
    let runtime = FS.realPath(runtimeLibDir)
    return [runtimeLibDir] + declared.filter { FS.realPath($0) != runtime }
  }

  /// "$ORIGIN/<relative path from the ELF's directory to libDir>".
  static func runpath(from path: String, to libDir: String) -> String {
    let from = FS.dirname(path).split(separator: "/")
    let to = libDir.split(separator: "/")
    var common = 0
    while common < min(from.count, to.count) && from[common] == to[common] { common += 1 }
    let up = Array(repeating: "..", count: from.count - common)
    let rel = (up + to[common...].map(String.init)).joined(separator: "/")
    return rel.isEmpty ? "$ORIGIN" : "$ORIGIN/" + rel
  }
}
