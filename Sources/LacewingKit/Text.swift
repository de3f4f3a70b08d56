import FoundationEssentials
import Glibc

// What the tools used from full Foundation for text, which
// FoundationEssentials (the tools link no ICU) does not have; each gives the
// bytes its Foundation counterpart gave.

/// printf-style formatting of numbers, as `String(format:)` without a
/// locale did: in the C locale (no program here calls setlocale), so "%.2f"
/// always has a "." for its decimal point.
func cFormat(_ format: String, _ arguments: CVarArg...) -> String {
  var buffer = [CChar](repeating: 0, count: 128)
  let needed = Int(withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) })
  if needed >= buffer.count {
    buffer = [CChar](repeating: 0, count: needed + 1)
    _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
  }
  return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension StringProtocol {
  /// Without whitespace at either end, as Foundation's
  /// `trimmingCharacters(in: .whitespacesAndNewlines)` (`newlines`) or
  /// `(in: .whitespaces)` trimmed: by Unicode scalar, the White_Space
  /// property being the same set as the former; the latter is the space
  /// separators (Zs) and tab.
  func trimmingWhitespace(newlines: Bool = true) -> String {
    func isSpace(_ u: Unicode.Scalar) -> Bool {
      newlines ? u.properties.isWhitespace : u == "\t" || u.properties.generalCategory == .spaceSeparator
    }
    let scalars = unicodeScalars
    guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
    let last = scalars.lastIndex { !isSpace($0) }!
    return String(String.UnicodeScalarView(scalars[first...last]))
  }
}

extension FS {
  /// Why a FileManager call failed, for an error message: the system's
  /// reason and the path it concerned (FoundationEssentials' errors have no
  /// localized description).
  static func reason(_ error: any Error) -> String {
    guard let cocoa = error as? CocoaError else { return String(describing: error) }
    let why =
      if let posix = cocoa.underlying as? POSIXError {
        String(cString: strerror(posix.code.rawValue))
      } else {
        "error \(cocoa.code.rawValue)"
      }
    return cocoa.filePath.map { "\($0): \(why)" } ?? why
  }
}

/// Standard output and error, written as FileHandle wrote them: unbuffered,
/// each text whole (short writes and EINTR go on). Any other failure drops
/// the rest: there is nowhere left to report it.
public enum Console {
  public static func out(_ text: String) { write(text, to: STDOUT_FILENO) }

  public static func err(_ text: String) { write(text, to: STDERR_FILENO) }

  static func write(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if n > 0 {
        bytes = bytes.dropFirst(n)
      } else if n < 0 && errno == EINTR {
        continue
      } else {
        return
      }
    }
  }
}
