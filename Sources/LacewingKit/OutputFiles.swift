import FoundationEssentials
import Glibc

/// Output discipline shared by every action: write atomically, and leave an
/// identical output untouched so Ninja's restat can prune what depends on it.
public enum OutputFile {
  /// Returns true when the file was (re)written.
  @discardableResult
  public static func write(_ data: Data, to path: String, mode: Int = 0o644) throws(LacewingError) -> Bool {
    let fm = FileManager.default
    if let existing = fm.contents(atPath: path), existing == data {
      try setMode(path, mode)
      return false
    }
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    do {
      try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
      // One temp file of our own next to the output, then rename: the
      // action writes nothing else (Foundation's atomic write would add a
      // second temp name of its own).
      let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
      do {
        try data.write(to: URL(fileURLWithPath: tmp))
      } catch {
        throw LacewingError(.io, "cannot write \(tmp): check that \(dir) is writable and the disk is not full")
      }
      try setMode(tmp, mode)
      guard rename(tmp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? fm.removeItem(atPath: tmp)
        throw LacewingError(.io, "cannot move \(tmp) to \(path): \(reason)")
      }
    } catch let error as LacewingError {
      throw error
    } catch {
      throw LacewingError(.io, "cannot create directory \(dir): \(FS.reason(error))")
    }
    return true
  }

  private static func setMode(_ path: String, _ mode: Int) throws(LacewingError) {
    guard chmod(path, mode_t(mode)) == 0 else {
      throw LacewingError(.io, "cannot chmod \(path): \(String(cString: strerror(errno)))")
    }
  }
}

/// Where an action writes: its output, and a depfile naming that output
/// as its target (Ninja reads the depfile's first target only).
public struct ActionOutput: Sendable {
  public var path: String
  public var depfile: String?

  public init(_ path: String, depfile: String? = nil) {
    self.path = path
    self.depfile = depfile
  }

  /// Writes the output as OutputFile.write does.
  public func write(_ data: Data, mode: Int = 0o644) throws(LacewingError) {
    try OutputFile.write(data, to: path, mode: mode)
  }

  /// Writes the depfile, when one was asked for: `inputs` are every file
  /// the action read.
  public func writeDepfile(inputs: [String]) throws(LacewingError) {
    if let depfile { try Depfile(output: path, inputs: inputs).write(to: depfile) }
  }
}

/// A Makefile-syntax depfile as Ninja reads it: one target, its inputs.
public struct Depfile: Equatable {
  /// Exactly the action's first output, relative to root_build_dir.
  public var output: String
  public var inputs: [String]

  public init(output: String, inputs: [String]) {
    self.output = output
    self.inputs = inputs
  }

  /// Inputs are deduplicated and sorted so the depfile is stable.
  public var text: String {
    let unique = Array(Set(inputs)).sorted()
    var out = Depfile.escape(output) + ":"
    for input in unique { out += " \\\n  " + Depfile.escape(input) }
    return out + "\n"
  }

  /// Ninja's depfile parser unescapes "\ " and "$$"; "#" starts a comment in make.
  static func escape(_ path: String) -> String {
    var out = ""
    for c in path {
      switch c {
      case " ": out += "\\ "
      case "$": out += "$$"
      case "#": out += "\\#"
      default: out.append(c)
      }
    }
    return out
  }

  public func write(to path: String) throws(LacewingError) {
    // Every run leaves a depfile with the current content: Ninja rereads it
    // each time it loads the build, so a stale one would hide an input.
    try OutputFile.write(Data(text.utf8), to: path)
  }
}
