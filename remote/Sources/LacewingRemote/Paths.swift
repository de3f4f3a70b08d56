import FoundationEssentials

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Lexical path arithmetic. Lexical, not realpath, on purpose: a symlinked
/// input must appear in the input root under the name the tool uses.
public enum Paths {
  /// Collapses `.`, `..` and duplicate slashes of an absolute path. A `..` at
  /// the root stays at the root, as the kernel treats it.
  public static func normalize(absolute path: String) -> String {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == ".." {
        if !parts.isEmpty { parts.removeLast() }
        continue
      }
      parts.append(part)
    }
    return "/" + parts.joined(separator: "/")
  }

  public static func absolute(_ path: String, from cwd: String) -> String {
    normalize(absolute: path.hasPrefix("/") ? path : cwd + "/" + path)
  }

  /// `path` relative to `root` (both absolute and normalized), "" for the
  /// root itself, nil when `path` is not under `root`.
  public static func relative(_ path: String, to root: String) -> String? {
    if path == root { return "" }
    let prefix = root == "/" ? "/" : root + "/"
    guard path.hasPrefix(prefix) else { return nil }
    return String(path.dropFirst(prefix.count))
  }

  public static func currentDirectory() -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The physical path, so an exec root given through a symlink still
  /// contains the (physical) working directory getcwd reports.
  public static func real(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }
}
