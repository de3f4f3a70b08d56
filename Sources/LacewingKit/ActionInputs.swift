import FoundationEssentials

/// What a Lacewing action reads beyond the files its GN declaration names.
///
/// Locally Ninja learns these from the tools' depfiles after a first build;
/// a remote worker has only the action's input root, so the launcher
/// (`lacewing-remote`) must upload them before the first build. Two kinds
/// exist, and both are read here with the tools' own decoders, so the
/// launcher and the tools cannot disagree on what a list names:
/// - the files named by the JSON lists the tools take (manifests, .pyz
///   source lists, wheel, extension, test and FIDL IR lists);
/// - the GN-built shared libraries an extension needs, which collect-artifacts
///   finds by searching the build dir (`--lib-dir .`).
///
/// Paths are returned as the lists hold them: relative to the build dir (the
/// action's working directory) or absolute (the worker's platform).
public enum ActionInputs {
  /// The files the Lacewing JSON list at `path` names, whichever kind of list
  /// it is (told by its shape).
  public static func files(listedIn path: String) throws(LacewingError) -> [String] {
    let data = try JSONFile.contents(path, what: "list of inputs")
    if data.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") {
      return try BundleManifest.read(path).entries.compactMap(\.source)
    }
    let decoder = JSONDecoder()
    if let paths = try? decoder.decode([String].self, from: data) {
      return paths  // wheels, C extensions
    }
    if let sources = try? decoder.decode([PythonSource].self, from: data) {
      return sources.map(\.source)
    }
    if let tests = try? decoder.decode([Collector.TestEntry].self, from: data) {
      return tests.flatMap { test in [test.pyz] + test.data.map { String($0.prefix { $0 != "=" }) } }
    }
    if let infos = try? decoder.decode([FidlIR.Info].self, from: data) {
      return infos.map(\.ir)
    }
    throw LacewingError(
      .badInput,
      "\(path) is not a list of inputs a Lacewing tool reads (a bundle manifest, or a JSON list of paths, "
        + "python sources, tests or FIDL IR); pass it with --input, not --input-list")
  }

  /// The shared libraries that the ELF files among `files` need, directly or
  /// through each other, and that exist in one of `dirs`: a GN
  /// shared_library() an extension links lands in the build dir, where
  /// collect-artifacts finds it by name. Files that are not ELF, or cannot be
  /// read, name nothing: the tool itself reports them.
  public static func libraries(neededBy files: [String], in dirs: [String]) -> [String] {
    var found: [String] = []
    var seen = Set<String>()
    var pending = files
    while let file = pending.popLast() {
      guard let data = FileManager.default.contents(atPath: file), ELFFile.isELF(data),
        let elf = try? ELFFile(data, name: file)
      else { continue }
      for name in elf.needed where !seen.contains(name) {
        guard let library = dirs.map({ $0 + "/" + name }).first(where: FileManager.default.fileExists) else {
          continue  // a system library: the worker's platform has it
        }
        seen.insert(name)
        found.append(library)
        pending.append(library)
      }
    }
    return found.sorted()
  }
}
