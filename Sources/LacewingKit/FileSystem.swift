import FoundationEssentials
import Glibc

/// Thin helpers over the real filesystem, with errors a user can act on.
public enum FS {
  static func exists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
  }

  static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
  }

  static func isExecutable(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & 0o111) != 0
  }

  static func read(_ path: String, what: String) throws(LacewingError) -> Data {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(path, exists(path) ? "permission denied or not a file" : "no such file (\(what))")
    }
    return data
  }

  /// An empty directory at `path`, whatever was there: an action's work
  /// directory, left over from a run that was killed.
  static func makeFreshDirectory(_ path: String) throws(LacewingError) {
    try? FileManager.default.removeItem(atPath: path)
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw LacewingError(.io, "cannot create work directory \(path): \(FS.reason(error))")
    }
  }

  /// Resolves symlinks; the path as given if it does not exist.
  static func realPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  static func list(_ dir: String) throws(LacewingError) -> [String] {
    do {
      return try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    } catch {
      throw .unreadable(dir, "cannot list directory")
    }
  }

  public static func basename(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
  }

  static func dirname(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// Joins and removes "." and ".." lexically (for paths inside the bundle).
  static func normalize(_ path: String) -> String {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == "..", let last = parts.last, last != ".." {
        parts.removeLast()
      } else {
        parts.append(part)
      }
    }
    return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
  }

  static func matches(_ pattern: String, _ path: String) -> Bool {
    fnmatch(pattern, path, 0) == 0
  }
}
