import Foundation

/// CPython builds other than Debian's python3.11, for the tests that bundle
/// them: one made here on any machine, and pyenv's where a machine has them.
public enum TestRuntimes {
  /// Lays out a CPython 3.11 prefix whose interpreter links libpython
  /// dynamically, as `--enable-shared` builds (pyenv, python-build-standalone,
  /// Fuchsia's prebuilt) do: `prefix/bin/python3.11` is a few lines of C
  /// calling `Py_BytesMain`, linked against Debian's libpython3.11-dev with
  /// RUNPATH `$ORIGIN/../lib`, next to `prefix/lib/libpython3.11.so.1.0` (a
  /// copy), `prefix/lib/python3.11` (a copy of Debian's stdlib) and
  /// `prefix/include/python3.11` (Debian's headers). Returns the interpreter.
  public static func makeSharedPython311(at prefix: String) throws -> String {
    let fm = FileManager.default
    for dir in ["bin", "lib", "include"] {
      try fm.createDirectory(atPath: prefix + "/" + dir, withIntermediateDirectories: true)
    }
    let source = prefix + "/main.c"
    try writeText("#include <Python.h>\nint main(int c, char **v) { return Py_BytesMain(c, v); }\n", to: source)
    let python = prefix + "/bin/python3.11"
    try check(
      run(
        "gcc", ["-O2", "-I/usr/include/python3.11", source, "-o", python, "-lpython3.11", "-Wl,-rpath,$ORIGIN/../lib"]),
      "link a shared-libpython interpreter (apt-get install libpython3.11-dev)")
    try fm.removeItem(atPath: source)
    try check(
      run("cp", ["-L", "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", prefix + "/lib/"]), "copy libpython3.11.so.1.0"
    )
    try check(run("cp", ["-a", "/usr/lib/python3.11", prefix + "/lib/"]), "copy the stdlib")
    try fm.createSymbolicLink(atPath: prefix + "/include/python3.11", withDestinationPath: "/usr/include/python3.11")
    return python
  }

  /// The newest pyenv build of CPython `version` ("3.12") on this machine:
  /// `$PYENV_ROOT/versions/3.12.*/bin/python3.12`, PYENV_ROOT defaulting to
  /// `$HOME/.pyenv` as for pyenv itself.
  public static func pyenv(_ version: String) -> String? {
    let env = ProcessInfo.processInfo.environment
    let versions = (env["PYENV_ROOT"] ?? (env["HOME"] ?? NSHomeDirectory()) + "/.pyenv") + "/versions"
    let patch = { (name: String) in Int(name.dropFirst(version.count + 1)) }
    let builds = ((try? FileManager.default.contentsOfDirectory(atPath: versions)) ?? [])
      .filter { $0.hasPrefix(version + ".") && patch($0) != nil }
      .sorted { patch($0)! > patch($1)! }
    return builds.map { "\(versions)/\($0)/bin/python\(version)" }.first {
      FileManager.default.isExecutableFile(atPath: $0)
    }
  }

  private static func check(_ r: ProcessResult, _ what: String) throws {
    guard r.status == 0 else { throw TestSetupError("cannot \(what):\n\(r.output)") }
  }
}
