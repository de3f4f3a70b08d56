import FoundationEssentials

/// Bytecode compiled by the bundled runtime itself, for the stdlib and the
/// test's .pyz.
enum Bytecode {
  /// One interpreter process compiles every module; `dfile` is the path
  /// inside the bundle, so no build path is recorded in the bytecode.
  /// `sources` are (file to read, path inside the archive). Returns the
  /// bytecode files, named for `__pycache__` or, where `legacyLayout` says
  /// so of a path (what zipimport reads), as `module.pyc` next to
  /// `module.py`; and the files the compiling interpreter itself imported,
  /// which are inputs too.
  static func compile(
    _ sources: [(source: String, path: String)], with python: String, workDir: String,
    legacyLayout: (String) -> Bool = { _ in false },
    columnTables: Bool = true
  ) throws(LacewingError) -> (files: [(index: Int, path: String, data: Data, mode: Int)], compilerInputs: [String]) {
    // NUL-separated pairs: no module to import to read them.
    let listPath = workDir + "/compile.list"
    let list = sources.flatMap { [$0.source, $0.path] }.joined(separator: "\u{0}")
    do {
      try Data(list.utf8).write(to: URL(fileURLWithPath: listPath))
    } catch {
      throw LacewingError(.io, "cannot write \(listPath)")
    }
    // What py_compile does for UNCHECKED_HASH, with the importlib functions
    // it calls (frozen, already loaded at start). The empty pycache prefix
    // below means every stdlib module this script imported was compiled
    // from source on every run: json and py_compile (enum, re, functools,
    // traceback, ...) cost about 45 ms of each action's CPU, the compile of
    // a one-file test well under 1 ms.
    let script = """
      import sys, _imp
      from _frozen_importlib_external import _code_to_hash_pyc, _RAW_MAGIC_NUMBER
      with open(sys.argv[1], "rb") as f:
          fields = f.read().decode("utf-8", "surrogateescape").split("\\0")
      for i in range(len(fields) // 2):
          src, dfile = fields[2 * i], fields[2 * i + 1]
          with open(src, "rb") as f:
              source = f.read()
          try:
              code = compile(source, dfile, "exec", dont_inherit=True)
          except Exception:
              continue  # e.g. a module with syntax for another version: it ships as source only
          with open(f"{sys.argv[2]}/{i}.pyc", "wb") as f:
              f.write(_code_to_hash_pyc(code, _imp.source_hash(_RAW_MAGIC_NUMBER, source), False))
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
      result.append(
        (i, legacyLayout(entry.path) ? "\(prefix)\(stem).pyc" : "\(prefix)__pycache__/\(stem).\(tag).pyc", data, 0o644))
    }
    // Only files that exist: a missing depfile input would rerun the action forever.
    let imported = lines.dropFirst().filter(FS.exists)
    // And the directories the interpreter's path finder listed to find them
    // (it caches each one's contents): what an action lists is its input too.
    return (result, imported + Set(imported.map(FS.dirname)).sorted())
  }
}
