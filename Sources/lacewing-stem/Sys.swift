import StemSupport

/// A failure of the stem itself: one line on stderr and a documented exit code
/// (see lacewing_format.h). Typed throws keep this Embedded-friendly.
struct StemFailure: Error {
  var exitCode: Int32
  var message: String

  static func corrupt(_ message: String) -> StemFailure {
    StemFailure(exitCode: Int32(LW_EXIT_CORRUPT), message: "corrupt bundle: " + message)
  }

  static func cannotRun(_ message: String) -> StemFailure {
    StemFailure(exitCode: Int32(LW_EXIT_CANNOT_RUN), message: message)
  }

  /// `what` failed with the current errno.
  static func system(_ what: String, _ path: CPath) -> StemFailure {
    cannotRun(what + " " + path.string + ": " + errnoText(lw_errno()))
  }
}

func errnoText(_ code: Int32) -> String {
  guard let text = strerror(code) else { return "errno \(code)" }
  return String(cString: text)
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
  var offset = 0
  while offset < bytes.count {
    let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
    if n < 0 {
      if lw_errno() == EINTR { continue }
      return false
    }
    offset += n
  }
  return true
}

func writeString(_ fd: Int32, _ text: String) {
  var copy = text
  copy.withUTF8 { _ = writeAll(fd, UnsafeRawBufferPointer($0)) }
}

func printError(_ text: String) {
  writeString(2, "lacewing: " + text + "\n")
}

/// Byte equality. String's == would pull Unicode normalization tables into
/// the static stem; every string the stem compares is ASCII anyway.
func same(_ a: String, _ b: String) -> Bool {
  a.utf8.elementsEqual(b.utf8)
}

func getenvString(_ name: String) -> String? {
  guard let value = getenv(name), value[0] != 0 else { return nil }
  return String(cString: value)
}

func monotonicNanos() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A NUL-terminated path built from bytes, so paths never go through
/// String's Unicode machinery on the hot path.
struct CPath {
  private(set) var bytes: [CChar]

  init(_ text: String) {
    bytes = []
    bytes.reserveCapacity(text.utf8.count + 64)
    for b in text.utf8 { bytes.append(CChar(bitPattern: b)) }
    bytes.append(0)
  }

  init(cString: UnsafePointer<CChar>) {
    bytes = []
    var p = cString
    while p.pointee != 0 {
      bytes.append(p.pointee)
      p += 1
    }
    bytes.append(0)
  }

  /// Appends "/" and `component` (raw bytes, no NUL).
  mutating func append(component: UnsafeRawBufferPointer) {
    bytes.removeLast()
    if bytes.last != 0x2F { bytes.append(0x2F) }
    for b in component { bytes.append(CChar(bitPattern: b)) }
    bytes.append(0)
  }

  func appending(_ component: String) -> CPath {
    var copy = self
    var c = component
    c.withUTF8 { copy.append(component: UnsafeRawBufferPointer($0)) }
    return copy
  }

  func appending(bytes component: UnsafeRawBufferPointer) -> CPath {
    var copy = self
    copy.append(component: component)
    return copy
  }

  var string: String {
    bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
    bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
  }
}

/// `mkdir -p` for the directories above a cache entry; every directory it
/// creates is private to the user.
func makeDirectories(_ path: CPath) -> Bool {
  var bytes = path.bytes
  var i = 1
  while i < bytes.count {
    if bytes[i] == 0x2F || bytes[i] == 0 {
      let saved = bytes[i]
      bytes[i] = 0
      let rc = bytes.withUnsafeBufferPointer { mkdir($0.baseAddress!, 0o700) }
      if rc != 0 && lw_errno() != EEXIST { return false }
      bytes[i] = saved
      if saved == 0 { break }
    }
    i += 1
  }
  return true
}

func hex(_ bytes: UnsafeRawBufferPointer) -> String {
  let digits: StaticString = "0123456789abcdef"
  var out: [UInt8] = []
  out.reserveCapacity(bytes.count * 2)
  digits.withUTF8Buffer { d in
    for b in bytes {
      out.append(d[Int(b >> 4)])
      out.append(d[Int(b & 0xF)])
    }
  }
  return String(decoding: out, as: UTF8.self)
}
