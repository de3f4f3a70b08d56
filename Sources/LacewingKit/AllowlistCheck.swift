import FoundationEssentials

/// ldd-allowlist-check: every ELF in a bundle (the stem included) must find
/// each DT_NEEDED library inside the bundle, the way ld.so will at run time,
/// or on the allowlist. All problems are reported in one run.
public struct AllowlistCheck {
  /// ldd-allowlist-check's arguments.
  public struct Options: Sendable {
    /// What is checked.
    public enum Subject: Sendable {
      /// A runtime layer alone (python_runtime's zip), once per runtime: the
      /// output is its record (`RuntimeRecord`, JSON) for the bundles on it.
      case runtimeLayer(String)
      /// A bundle: the stem and the payload. With the runtime's record, the
      /// payload's runtime layer is taken from the record, never unpacked;
      /// its stored entries must be the ones the record describes.
      case bundle(stem: String, payload: String, runtimeRecord: String?)
    }

    /// The GN label the bundle (or runtime) comes from, for messages.
    public var label: String
    public var subject: Subject
    /// One library name per line, # comments.
    public var allowlistFile: String
    /// Collect's manifests: map bundle paths back to build-host files for hints.
    public var manifests: [String] = []
    /// Where to look on the build host when saying where a missing library is.
    public var hostLibDirs: [String] = []
    /// Highest GLIBC_x.y symbol version allowed, e.g. "2.36"; nil: no floor.
    public var maxGlibc: String?
    /// Highest GLIBCXX_x.y.z allowed when libstdc++ comes from the host; nil: no floor.
    public var maxGlibcxx: String?
    /// Where to write what the bundle needs of its host (`HostNeeds`, JSON),
    /// for fuse-stub; a bundle's check only.
    public var hostNeeds: String?

    public init(label: String, subject: Subject, allowlistFile: String) {
      self.label = label
      self.subject = subject
      self.allowlistFile = allowlistFile
    }
  }

  /// What a runtime's own check found, written once per runtime and read by
  /// the check of every bundle on it, so that no bundle unpacks the runtime
  /// or parses its ELFs again. It holds the ELFs' dynamic sections (not only
  /// verdicts) because a bundle resolves with its own allowlist and floors,
  /// and a test layer's ELFs may load the runtime's libraries.
  public struct RuntimeRecord: Codable, Equatable, Sendable {
    public struct StoredEntry: Codable, Equatable, Sendable {
      public var name: String
      public var crc32: UInt32
      public var compressedSize: Int
      public var size: Int
    }
    public struct RecordedELF: Codable, Equatable, Sendable {
      public var path: String
      public var elf: ELFFile
    }

    /// The layer's entries as stored (the pack, or every file): what a
    /// bundle's payload must carry for this record to describe it.
    public var stored: [StoredEntry]
    /// Every file of the layer, the pack's included.
    public var files: [String]
    /// Every ELF of the layer, in the layer's order.
    public var elfs: [RecordedELF]
    /// The runtime check's stamp: how each DT_NEEDED resolved within the
    /// layer, the dlopen findings and the highest symbol versions.
    public var findings: [String]

    public static func read(_ path: String) throws(LacewingError) -> RuntimeRecord {
      try JSONFile.decode(
        RuntimeRecord.self,
        try JSONFile.contents(path, what: "runtime check record", missing: "build the runtime's _check target"),
        path, what: "runtime check record")
    }
  }

  /// What a bundle needs of the host it runs on, for the stem's host check
  /// (lacewing_format.h, "loader", "glibc", "glibc_library"): written by a
  /// bundle's check, which has every ELF of the bundle parsed, and read by
  /// fuse-stub into the bundle's config.
  public struct HostNeeds: Codable, Equatable, Sendable {
    /// The highest GLIBC_ symbol version any ELF of the bundle needs from a
    /// host library (an allowlisted one: a bundled library's needs are met
    /// by the bundle).
    public struct Glibc: Codable, Equatable, Sendable {
      /// Its number: "2.34" for GLIBC_2.34.
      public var version: String
      /// The library it is needed from (the version need's file name, e.g.
      /// "libm.so.6"): ld.so checks the version in that library.
      public var library: String
      /// The first ELF that needs it, for people.
      public var neededBy: String

      public init(version: String, library: String, neededBy: String) {
        self.version = version
        self.library = library
        self.neededBy = neededBy
      }
    }

    public var glibc: Glibc?
    /// The program interpreter (PT_INTERP) of each program of the bundle
    /// that has one, by bundle path: the interpreter's is the loader the
    /// host must have.
    public var loaders: [String: String]

    public init(glibc: Glibc? = nil, loaders: [String: String] = [:]) {
      self.glibc = glibc
      self.loaders = loaders
    }

    public static func read(_ path: String) throws(LacewingError) -> HostNeeds {
      try JSONFile.read(HostNeeds.self, path, what: "host needs file (ldd-allowlist-check --host-needs)")
    }

    public var json: Data { JSONFile.encode(self) }
  }

  public struct Problem: Equatable, CustomStringConvertible {
    public var elf: String
    public var library: String
    public var hostPath: String?
    public var bundledAt: String?
    /// Set when the RPATH of a loader (or of the executable) reaches the
    /// library but another chain of loaders does not: the ELF whose RPATH
    /// reaches it, and the top of a chain that fails.
    public var someChains: (via: String, failing: String)?

    public static func == (a: Problem, b: Problem) -> Bool { a.description == b.description }

    public var description: String {
      var line = "\(elf) needs \(library), which is neither reachable in the bundle nor on the allowlist"
      if let someChains {
        line +=
          "; the RPATH of \(someChains.via) reaches it, but not when \(someChains.failing) is what loads \(elf) "
          + "first (ld.so searches the RPATHs of the chain that loaded it, then the executable's); give "
          + "\(someChains.failing) that RPATH too, or \(elf) an RPATH of its own"
      } else if let bundledAt {
        line += "; it is bundled at \(bundledAt) but no RPATH of \(elf) or of what loads it leads there"
      } else if let hostPath {
        line += "; found on the build host at \(hostPath)"
      } else {
        line += "; not found on the build host either"
      }
      return line
    }
  }

  public struct Report {
    public var elfCount: Int
    public var problems: [Problem]
    public var maxGlibc: (version: GlibcVersion, elf: String)?
    /// The floor every ELF was held to (--max-glibc), if any.
    public var glibcFloor: GlibcVersion?
    /// GLIBCXX_ and CXXABI_ maxima, reported when the host's libstdc++ is used.
    public var maxCxx: [(version: SymbolVersion, elf: String)] = []
    /// The highest GLIBC_ version needed from a host (allowlisted) library,
    /// the library and the first ELF needing it.
    public var hostGlibc: (version: GlibcVersion, library: String, elf: String)?
    /// Each program's PT_INTERP, by bundle path.
    public var loaders: [String: String] = [:]
    /// "elf: library => bundle path | allowlisted", one per DT_NEEDED.
    public var resolutions: [String] = []

    /// Written as the action's stamp: what was checked and how each library
    /// resolves, deterministic.
    public var summary: String {
      var s = "checked \(elfCount) ELF files, all DT_NEEDED resolved in the bundle or allowlisted\n"
      if let g = maxGlibc { s += "highest symbol version: \(g.version) (needed by \(g.elf))\n" }
      s += "glibc floor: \(glibcFloor.map(\.description) ?? "none")\n"
      for c in maxCxx { s += "highest symbol version: \(c.version) (needed by \(c.elf))\n" }
      if let h = hostGlibc { s += "host glibc: \(h.version) in \(h.library) (needed by \(h.elf))\n" }
      for path in loaders.keys.sorted() { s += "program interpreter of \(path): \(loaders[path]!)\n" }
      return s + resolutions.map { $0 + "\n" }.joined()
    }

    /// What the stem must find on the host (`HostNeeds`).
    public var hostNeeds: HostNeeds {
      HostNeeds(
        glibc: hostGlibc.map {
          .init(
            version: $0.version.parts.map(String.init).joined(separator: "."), library: $0.library, neededBy: $0.elf)
        }, loaders: loaders)
    }
  }

  /// glibc's unwinder, which libc.so.6 dlopens by name when a thread ends
  /// through pthread_exit or pthread_cancel (CPython ends busy daemon
  /// threads that way at exit) and for backtrace(). No DT_NEEDED shows it;
  /// a host without it aborts the process ("libgcc_s.so.1 must be installed
  /// for pthread_exit to work").
  public static let unwinder = "libgcc_s.so.1"

  /// What else libc.so.6 dlopens, and why a bundle leaves it to the host:
  /// recorded in the stamp, never a failure.
  static let hostDlopens = [
    "NSS modules (getpwnam, getaddrinfo, ...) => host's: files and dns are built into glibc 2.34+, "
      + "others follow the host's /etc/nsswitch.conf and its libc.so.6",
    "gconv modules (iconv) => host's, with its libc.so.6; CPython's codecs do not use them",
  ]

  /// Every dynamically linked program of the runtime layer must load the
  /// unwinder at start (so libc's dlopen finds it by soname) or take it
  /// from the host by the allowlist. Returns the stamp lines, or the
  /// problems.
  static func checkUnwinder(
    _ parsed: [(path: String, elf: ELFFile)], resolved: [String: String], allowlist: Set<String>
  ) -> (lines: [String], problems: [String]) {
    var lines: [String] = []
    var problems: [String] = []
    let what = "dlopen by libc.so.6: \(unwinder) (pthread_exit, pthread_cancel, backtrace)"
    let programs = parsed.filter {
      $0.path.hasPrefix(BundleLayout.runtimePrefix) && $0.elf.hasInterpreter && $0.elf.isDynamic
    }
    for (program, _) in programs {
      if allowlist.contains(unwinder) {
        lines.append("\(what) => allowlisted")
        continue
      }
      // The libraries ld.so maps at start: the program's DT_NEEDED closure.
      var queue = [program]
      var seen = Set<String>()
      var loaded: String?
      while let path = queue.popLast(), loaded == nil {
        guard seen.insert(path).inserted, let elf = parsed.first(where: { $0.path == path })?.elf else { continue }
        for name in elf.needed {
          guard let found = resolved[path + "\u{0}" + name]?.split(separator: " ").first.map(String.init) else {
            continue
          }
          if name == unwinder { loaded = found }
          queue.append(found)
        }
      }
      if let loaded {
        lines.append("\(what) => \(loaded), loaded at start by \(program)")
      } else {
        problems.append(
          "\(program): libc.so.6 loads \(unwinder) with dlopen when a thread ends through pthread_exit or "
            + "pthread_cancel (CPython ends busy daemon threads that way at exit), and nothing loads it at start; a "
            + "host without it aborts. Fix: put the directory that holds \(unwinder) in the runtime's "
            + "shared_library_dirs (collect-artifacts then bundles it and makes the interpreter load it), or add it "
            + "to the allowlist.")
      }
    }
    if !programs.isEmpty { lines += hostDlopens.map { "dlopen by libc.so.6: " + $0 } }
    return (lines, problems)
  }

  public static func parseAllowlist(_ text: String) -> Set<String> {
    Set(
      text.split(separator: "\n").compactMap { line in
        let bare = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let name = bare.trimmingWhitespace(newlines: false)
        return name.isEmpty ? nil : name
      })
  }

  /// Checks, then writes the stamp (`Report.summary`), or for a runtime
  /// layer its record, and the depfile.
  public static func run(_ options: Options, output: ActionOutput) throws(LacewingError) {
    let subject = try Subject(options)
    let report = try check(subject, options: options)
    switch options.subject {
    case .runtimeLayer(let zip):
      let record = RuntimeRecord(
        stored: subject.stored, files: subject.paths.sorted(),
        elfs: subject.elfs.map { RuntimeRecord.RecordedELF(path: $0.path, elf: $0.elf) },
        findings: report.summary.split(separator: "\n").map(String.init))
      try output.write(JSONFile.encode(record))
      try output.writeDepfile(inputs: [zip, options.allowlistFile] + options.manifests)
    case .bundle(let stem, let payload, let runtimeRecord):
      try output.write(Data(report.summary.utf8))
      if let path = options.hostNeeds { try OutputFile.write(report.hostNeeds.json, to: path) }
      try output.writeDepfile(
        inputs: [stem, payload, options.allowlistFile] + options.manifests + (runtimeRecord.map { [$0] } ?? []))
    }
  }

  /// The report, or an error naming every problem.
  public static func check(_ options: Options) throws(LacewingError) -> Report {
    try check(Subject(options), options: options)
  }

  static func check(_ subject: Subject, options: Options) throws(LacewingError) -> Report {
    let allowlist = parseAllowlist(
      String(decoding: try FS.read(options.allowlistFile, what: "allowlist"), as: UTF8.self))
    let (resolved, someChains) = resolve(subject.elfs, bundlePaths: subject.paths, allowlist: allowlist)
    var report = Report(elfCount: subject.elfs.count, problems: [])
    var problems: [Problem] = []
    for (path, elf) in subject.elfs {
      if !elf.isDynamic { report.resolutions.append("\(path): static") }
      for name in elf.needed {
        if allowlist.contains(name) {
          report.resolutions.append("\(path): \(name) => allowlisted")
        } else if let found = resolved[path + "\u{0}" + name] {
          report.resolutions.append("\(path): \(name) => \(found)")
        } else {
          problems.append(
            Problem(
              elf: path, library: name,
              hostPath: hostLocation(name, source: subject.sources[path], dirs: options.hostLibDirs),
              bundledAt: subject.paths.first { FS.basename($0) == name && !$0.hasPrefix(BundleLayout.testDir) },
              someChains: someChains[path + "\u{0}" + name]))
        }
      }
    }
    report.problems = problems
    let dlopens = checkUnwinder(subject.elfs, resolved: resolved, allowlist: allowlist)
    report.resolutions += dlopens.lines
    let aboveFloor = try glibcAboveFloor(&report, of: subject.elfs, options: options)
    try failOnProblems(problems, dlopens: dlopens.problems, aboveFloor: aboveFloor, options: options)
    try checkHostVersions(&report, of: subject.elfs, allowlist: allowlist, options: options)
    for (path, elf) in subject.elfs { report.loaders[path] = elf.interpreter }
    return report
  }

  /// What the check reads: every ELF of the bundle (the stem, the payload's
  /// own layer and its runtime layer, unpacked or from the runtime's
  /// record) or of a runtime layer alone, parsed, and where manifests say
  /// each came from.
  struct Subject {
    var elfs: [(path: String, elf: ELFFile)] = []
    var paths: Set<String>
    /// Bundle path -> build-host file, for hints.
    var sources: [String: String] = [:]
    /// A runtime layer's entries as stored, for its record.
    var stored: [RuntimeRecord.StoredEntry] = []

    init(_ options: Options) throws(LacewingError) {
      for manifestPath in options.manifests {
        for e in try BundleManifest.read(manifestPath).entries { sources[e.path] = e.source }
      }
      switch options.subject {
      case .runtimeLayer(let zip):
        let data = try FS.read(zip, what: "runtime layer")
        let contents = try PayloadContents(data, label: zip)
        paths = Set(try contents.names())
        stored = try ZipIndex.entries(data).map(RuntimeRecord.StoredEntry.init)
        for (path, data) in try contents.read(onlyELF: true) {
          elfs.append((path, try ELFFile(data, name: "\(zip):\(path)")))
        }
      case .bundle(let stem, let payload, nil):
        let contents = try PayloadContents(FS.read(payload, what: "payload"), label: payload)
        paths = Set(try contents.names())
        elfs.append(("<stem>", try ELFFile(FS.read(stem, what: "stem"), name: stem)))
        for (path, data) in try contents.read(onlyELF: true) {
          elfs.append((path, try ELFFile(data, name: "\(payload):\(path)")))
        }
      case .bundle(let stem, let payload, let recordPath?):
        let record = try RuntimeRecord.read(recordPath)
        let contents = try PayloadContents(
          FS.read(payload, what: "payload"), label: payload, unpackRuntime: false)
        let stored = try contents.runtimeLayerEntries().map(RuntimeRecord.StoredEntry.init)
        if stored != record.stored {
          let differing = Set(stored.map(\.name)).symmetricDifference(record.stored.map(\.name)).sorted().first
          throw LacewingError(
            .badInput,
            "\(payload): its runtime layer is not the one \(recordPath) describes ("
              + (differing.map { "entry \($0) is in only one of them" } ?? "an entry differs in size or CRC-32")
              + "); build the payload and the runtime's _check target from the same runtime")
        }
        paths = Set(try contents.ownLayerNames()).union(record.files)
        elfs.append(("<stem>", try ELFFile(FS.read(stem, what: "stem"), name: stem)))
        for (path, data) in try contents.ownLayer(onlyELF: true) {
          elfs.append((path, try ELFFile(data, name: "\(payload):\(path)")))
        }
        // The order an unpacked payload gives (own layer, then the pack's
        // files), so the stamp reads as it would without the record.
        elfs += record.elfs.map { ($0.path, $0.elf) }
      }
    }
  }

  /// How each DT_NEEDED that is not allowlisted resolves inside the
  /// bundle: "elf\0library" -> the bundle path, noting an RPATH of another
  /// ELF it was found through. ld.so's order for an ELF without RUNPATH:
  /// its own DT_RPATH, then the DT_RPATH of the ELF that loaded it, and of
  /// that one's loader, up the chain, then the executable's (the runtime's
  /// interpreter, whose RPATH reaches python/lib: every extension and
  /// lib-dynload module is loaded into it), and only then LD_LIBRARY_PATH;
  /// an ELF with RUNPATH searches nothing but that, after LD_LIBRARY_PATH
  /// (`chainOutcomes`). Loads found through a chain can enable further ones,
  /// so the loaders are found until nothing changes. ld.so follows the
  /// chain of whichever ELF loads a library first, which the check cannot
  /// know, so a library found through a chain counts only when every chain
  /// reaches it; the others are returned apart, with an ELF whose RPATH
  /// reaches it and the top of a chain that does not.
  static func resolve(
    _ elfs: [(path: String, elf: ELFFile)], bundlePaths: Set<String>, allowlist: Set<String>
  ) -> (resolved: [String: String], someChains: [String: (via: String, failing: String)]) {
    var byPath: [String: ELFFile] = [:]
    for (path, elf) in elfs where byPath[path] == nil { byPath[path] = elf }
    let executables = elfs.filter {
      $0.path.hasPrefix(BundleLayout.runtimeBinDir + "/") && $0.elf.isDynamic && $0.elf.hasInterpreter
    }.map(\.path).sorted()
    var loadedBy: [String: Set<String>] = [:]
    func outcomes(_ name: String, _ path: String) -> Set<ChainOutcome> {
      chainOutcomes(
        name, above: path, seen: [path], loadedBy: loadedBy, elfs: byPath, executables: executables,
        paths: bundlePaths)
    }
    var changed = true
    while changed {
      changed = false
      for (path, elf) in elfs {
        for name in elf.needed where !allowlist.contains(name) {
          var found: [String] = []
          if let hit = resolveInBundle(name, from: path, elf: elf, paths: bundlePaths) {
            found = [hit]
          } else if elf.runpath.isEmpty {
            found = outcomes(name, path).compactMap(\.found)
          }
          for f in found where loadedBy[f, default: []].insert(path).inserted { changed = true }
        }
      }
    }
    var resolved: [String: String] = [:]
    var someChains: [String: (via: String, failing: String)] = [:]
    for (path, elf) in elfs {
      for name in elf.needed where !allowlist.contains(name) {
        let key = path + "\u{0}" + name
        if let hit = resolveInBundle(name, from: path, elf: elf, paths: bundlePaths) {
          resolved[key] = hit
          continue
        }
        guard elf.runpath.isEmpty else { continue }
        // Sorted: the stamp names the same ELFs on every run.
        let all = outcomes(name, path).sorted()
        let reached = all.filter { $0.found != nil }
        guard let first = reached.first else { continue }
        if let failing = all.first(where: { $0.found == nil }) {
          someChains[key] = (first.via, failing.via)
          continue
        }
        // One line per bundle path a chain can find (the first ELF named
        // whose RPATH finds it); more than one when chains differ.
        var seen = Set<String>()
        resolved[key] = reached.filter { seen.insert($0.found!).inserted }
          .map { "\($0.found!) (RPATH of \($0.via))" }.joined(separator: " or ")
      }
    }
    return (resolved, someChains)
  }

  /// What one chain of loaders finds: the bundle path and the ELF whose
  /// RPATH found it, or no path and the top of the chain.
  struct ChainOutcome: Hashable, Comparable {
    var found: String?
    var via: String

    static func < (a: ChainOutcome, b: ChainOutcome) -> Bool {
      (a.found ?? "", a.via) < (b.found ?? "", b.via)
    }
  }

  /// Every outcome of the chains of loaders above `object` for `name`:
  /// along each chain (through `loadedBy`, `seen` keeping out cycles, which
  /// no real load order has), the first DT_RPATH that reaches `name` (an
  /// ELF with RUNPATH passes none on, but the chain goes on above it, as in
  /// ld.so); at the top of a chain (an ELF loaded by none of the bundle's:
  /// a module the interpreter imports, or the interpreter itself), the
  /// executable's RPATH, each of `executables` being one.
  static func chainOutcomes(
    _ name: String, above object: String, seen: Set<String>, loadedBy: [String: Set<String>],
    elfs: [String: ELFFile], executables: [String], paths: Set<String>
  ) -> Set<ChainOutcome> {
    let loaders = (loadedBy[object] ?? []).subtracting(seen).sorted()
    guard !loaders.isEmpty else {
      if executables.isEmpty { return [ChainOutcome(found: nil, via: object)] }
      return Set(
        executables.map { exe in
          let found = elfs[exe].flatMap {
            resolveInBundle(name, from: exe, searchPath: $0.inheritedRPATH, paths: paths)
          }
          return found.map { ChainOutcome(found: $0, via: exe) } ?? ChainOutcome(found: nil, via: object)
        })
    }
    var outcomes = Set<ChainOutcome>()
    for loader in loaders {
      if let elf = elfs[loader],
        let found = resolveInBundle(name, from: loader, searchPath: elf.inheritedRPATH, paths: paths)
      {
        outcomes.insert(ChainOutcome(found: found, via: loader))
      } else {
        outcomes.formUnion(
          chainOutcomes(
            name, above: loader, seen: seen.union([loader]), loadedBy: loadedBy, elfs: elfs, executables: executables,
            paths: paths))
      }
    }
    return outcomes
  }

  /// Every unresolved library and every ELF above the glibc floor in one
  /// error, with the fixes.
  private static func failOnProblems(
    _ problems: [Problem], dlopens: [String], aboveFloor: [(version: GlibcVersion, elf: String)], options: Options
  ) throws(LacewingError) {
    let floorLines = floorMessage(aboveFloor, floor: options.maxGlibc ?? "")
    if problems.isEmpty && dlopens.isEmpty && !floorLines.isEmpty {
      throw LacewingError(
        .hermeticity,
        "\(options.label): \(floorLines[0])" + floorLines.dropFirst().map { "\n  " + $0 }.joined() + "\n" + floorFix)
    }
    if problems.isEmpty && !dlopens.isEmpty {
      throw LacewingError(
        .hermeticity,
        "\(options.label): " + (dlopens + floorLines).joined(separator: "\n")
          + (floorLines.isEmpty ? "" : "\n" + floorFix))
    }
    guard !problems.isEmpty else { return }
    var message = "\(options.label): \(problems.count) shared-library problem(s) in this bundle:\n"
    for p in problems { message += "  " + p.description + "\n" }
    for p in dlopens { message += "  " + p + "\n" }
    message += """
        fix: bundle the library (put its directory in the bundle's shared_library_dirs), add it to \
      \(options.allowlistFile) with a comment saying why every host has it, or drop what needs it \
      (exclude_modules for a stdlib module, c_extensions for an extension).
      """
    if !floorLines.isEmpty {
      message += "\nand above the glibc floor:\n" + floorLines.map { "  " + $0 + "\n" }.joined() + floorFix
    }
    throw LacewingError(.hermeticity, message)
  }

  /// Records the highest glibc symbol version any ELF needs and the floor,
  /// and returns every ELF that needs more than the floor with the highest
  /// version it needs, the highest first.
  private static func glibcAboveFloor(
    _ report: inout Report, of elfs: [(path: String, elf: ELFFile)], options: Options
  ) throws(LacewingError) -> [(version: GlibcVersion, elf: String)] {
    var needs: [(version: GlibcVersion, elf: String)] = []
    for (path, elf) in elfs {
      guard let v = elf.maxGlibcVersion else { continue }
      if report.maxGlibc.map({ $0.version < v }) ?? true { report.maxGlibc = (v, path) }
      needs.append((v, path))
    }
    guard let floor = options.maxGlibc else { return [] }
    let limit = try GlibcVersion(floor: floor, family: "GLIBC_", option: "--max-glibc")
    report.glibcFloor = limit
    return needs.filter { limit < $0.version }.sorted {
      $0.version != $1.version ? $1.version < $0.version : $0.elf < $1.elf
    }
  }

  /// The ELFs above the glibc floor, as the lines of an error: the first
  /// names the highest, the floor and what the floor means.
  static func floorMessage(_ aboveFloor: [(version: GlibcVersion, elf: String)], floor: String) -> [String] {
    guard let first = aboveFloor.first else { return [] }
    let shown = 20
    var lines = [
      "\(first.elf) needs \(first.version), above the glibc floor GLIBC_\(floor) (the oldest glibc the bundle "
        + "must run on)"
    ]
    lines += aboveFloor.dropFirst().prefix(shown).map { "\($0.elf) needs \($0.version)" }
    if aboveFloor.count > shown + 1 { lines.append("and \(aboveFloor.count - shown - 1) more ELF files above it") }
    return lines
  }

  static let floorFix =
    "fix: build what needs more against that glibc (lacewing_sysroot: C extensions and GN libraries; the runtime: a "
    + "CPython built in that sysroot; wheels: ones tagged for that glibc or older), or raise lacewing_max_glibc "
    + "(a bundle's or runtime's max_glibc)"

  /// Records the highest glibc version needed from a host (allowlisted)
  /// library, with that library, for the stem's host check; and when the
  /// host provides libstdc++, the highest GLIBCXX_ and CXXABI_ versions any
  /// ELF needs of it, held to their floor.
  private static func checkHostVersions(
    _ report: inout Report, of elfs: [(path: String, elf: ELFFile)], allowlist: Set<String>, options: Options
  ) throws(LacewingError) {
    let hostCxx = allowlist.contains("libstdc++.so.6")
    var maxCxx: [String: (version: SymbolVersion, elf: String)] = [:]
    for (path, elf) in elfs {
      // The first ELF and library (by name) needing the highest version:
      // the same on every run.
      for library in elf.versionNeeds.keys.sorted() where allowlist.contains(library) {
        let versions = elf.versionNeeds[library]!.compactMap { GlibcVersion(symbolVersion: $0) }
        if let v = versions.max(), report.hostGlibc.map({ $0.version < v }) ?? true {
          report.hostGlibc = (v, library, path)
        }
      }
      // libstdc++'s versions matter only when the host provides it.
      guard hostCxx && elf.needed.contains("libstdc++.so.6") else { continue }
      for family in ["GLIBCXX_", "CXXABI_"] {
        if let v = elf.maxVersion(family), maxCxx[family].map({ $0.version < v }) ?? true { maxCxx[family] = (v, path) }
      }
    }
    report.maxCxx = maxCxx.keys.sorted().map { maxCxx[$0]! }
    guard let floor = options.maxGlibcxx else { return }
    let limit = try SymbolVersion(floor: floor, family: "GLIBCXX_", option: "--max-glibcxx")
    if let g = report.maxCxx.first(where: { $0.version.family == "GLIBCXX_" }), limit < g.version {
      throw LacewingError(
        .hermeticity,
        "\(options.label): \(g.elf) needs \(g.version) from the host's libstdc++, above the floor GLIBCXX_\(floor); "
          + "bundle libstdc++ (take it off the allowlist) or raise lacewing_max_glibcxx")
    }
  }

  /// An ELF's own search path: its DT_RUNPATH, or its DT_RPATH when it has
  /// no RUNPATH (`resolve` adds the chain's). Only "$ORIGIN" entries can
  /// point into the bundle; absolute ones point at the host and do not count.
  /// The bundle path `name` resolves to from `path` through `elf`'s search
  /// path (or `searchPath`: a loader's RPATH), if any.
  static func resolveInBundle(_ name: String, from path: String, elf: ELFFile, paths: Set<String>) -> String? {
    resolveInBundle(name, from: path, searchPath: elf.searchPath, paths: paths)
  }

  static func resolveInBundle(_ name: String, from path: String, searchPath: [String], paths: Set<String>) -> String? {
    if name.contains("/") { return nil }
    let origin = FS.dirname(path)
    for dir in searchPath {
      guard dir.hasPrefix("$ORIGIN") || dir.hasPrefix("${ORIGIN}") else { continue }
      let expanded = dir.replacing("${ORIGIN}", with: origin).replacing("$ORIGIN", with: origin)
      let candidate = FS.normalize(expanded + "/" + name)
      if paths.contains(candidate) { return candidate }
    }
    return nil
  }

  static func hostLocation(_ name: String, source: String?, dirs: [String]) -> String? {
    var candidates: [String] = []
    if let source, let data = FileManager.default.contents(atPath: source), let elf = try? ELFFile(data, name: source) {
      let origin = FS.dirname(source)
      candidates += elf.searchPath.map { $0.replacing("$ORIGIN", with: origin) }
    }
    candidates += dirs
    return candidates.map { FS.normalize($0 + "/" + name) }.first(where: FS.exists)
  }
}

extension AllowlistCheck.RuntimeRecord.StoredEntry {
  init(_ entry: ZipIndex.Entry) {
    self.init(name: entry.name, crc32: entry.crc32, compressedSize: entry.compressedSize, size: entry.size)
  }
}
