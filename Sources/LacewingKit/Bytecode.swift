import Foundation

/// Bytecode compiled by the bundled runtime itself, for the stdlib and the
/// test's .pyz.
enum Bytecode {
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
      try JSONFile.encode(pairs).write(to: URL(fileURLWithPath: listPath))
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
      ["-I", "-S", "-B", "-X", "pycache_prefix=" + workDir + "/pycache"]
        + (columnTables ? [] : ["-X", "no_debug_ranges"])
        + ["-c", script, listPath, workDir],
      what: "compile the stdlib's bytecode")
    let lines = out.split(separator: "\n").map(String.init)
    let tag = lines.first ?? ""
    var result: [(Int, String, Data, Int)] = []
    for (i, entry) in sources.enumerated() {
      let pyc = "\(workDir)/\(i).pyc"
      guard let data = FileManager.default.contents(atPath: pyc) else { continue }
      let dir = FS.dirname(entry.path)
      let stem = FS.basename(entry.path).dropLast(3)
      let prefix = dir == "." ? "" : dir + "/"
      result.append((i, legacyLayout ? "\(prefix)\(stem).pyc" : "\(prefix)__pycache__/\(stem).\(tag).pyc", data, 0o644))
    }
    // Only files that exist: a missing depfile input would rerun the action forever.
    return (result, lines.dropFirst().filter(FS.exists))
  }
}
