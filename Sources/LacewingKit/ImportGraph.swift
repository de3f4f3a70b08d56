import FoundationEssentials

/// The stdlib an app imports, found as PyInstaller finds it: CPython's own
/// modulefinder, run by the runtime's interpreter, follows every import
/// statement in the given files through the stdlib, nested functions
/// included. What it cannot see is an import by name at run time
/// (`importlib.import_module`, `__import__`, a child's `-c "import x"`),
/// which the build declares instead (`keep_modules`).
enum ImportGraph {
  /// What every start of a bundled interpreter imports, whatever the app:
  /// site and what the runtime's sitecustomize imports (its source is
  /// scanned as the app's files are), runpy (a .pyz's `__main__`), os (the
  /// prefix landmark), and every codec, since codecs are looked up by name.
  static let startModules = ["site", "os", "runpy", "zipimport"]

  /// The files (paths under `stdlib` and `dynload`) of every module the
  /// `scripts` import, with `modules` and what they import. Throws when a
  /// name in `modules` is no module of this stdlib.
  static func closure(
    python: String, stdlib: String, dynload: String, scripts: [String], modules: [String], workDir: String
  ) throws(LacewingError) -> [String] {
    try FS.makeFreshDirectory(workDir)
    defer { try? FileManager.default.removeItem(atPath: workDir) }
    let site = workDir + "/sitecustomize.py"
    struct Request: Codable {
      var scripts: [String]
      var start: [String]
      var modules: [String]
    }
    struct Answer: Codable {
      var files: [String]
      var missing: [String]
    }
    let request = workDir + "/request.json"
    try OutputFile.write(Data(PythonRuntime.siteCustomize.utf8), to: site)
    try OutputFile.write(
      JSONFile.encode(Request(scripts: [site] + scripts, start: startModules, modules: modules)), to: request)
    let script = """
      import json, modulefinder, sys
      stdlib, dynload, request = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
      finder = modulefinder.ModuleFinder(path=[stdlib, dynload])
      finder.import_hook("encodings", None, ["*"])
      for name in request["start"]:
          finder.import_hook(name)
      missing = []
      for name in request["modules"]:
          try:
              finder.import_hook(name)
          except ImportError:
              missing.append(name)
      for path in request["scripts"]:
          finder.run_script(path)
      files = sorted(m.__file__ for m in finder.modules.values() if m.__file__)
      print(json.dumps({"files": files, "missing": missing}))
      """
    // -I -S: nothing of the host's site; the empty pycache prefix keeps the
    // interpreter from reading bytecode that is no declared input.
    let out = try Command.run(
      python,
      ["-I", "-S", "-B", "-X", "pycache_prefix=" + workDir + "/pycache", "-c", script, stdlib, dynload, request],
      what: "find what trim_to_imports_of's files import")
    let answer = try JSONFile.decode(Answer.self, Data(out.utf8), "modulefinder's answer", what: "import graph")
    if let name = answer.missing.first {
      throw LacewingError(
        .badInput, "keep_modules names \(name), which is no module of \(stdlib); check its spelling (e.g. xml.dom)")
    }
    return answer.files.filter { $0 != site }
  }
}
