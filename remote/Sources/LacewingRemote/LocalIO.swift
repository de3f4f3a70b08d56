import FoundationEssentials

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes `data` to `path` (relative to the working directory) through a
/// temporary file and a rename, so Ninja never sees a half-written output.
func writeOutput(_ path: String, _ data: Data, executable: Bool) throws(LauncherError) {
  guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
    throw .remote("the server returned output \(path), outside the build directory")
  }
  let parent = path.split(separator: "/").dropLast().joined(separator: "/")
  if !parent.isEmpty {
    do {
      try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    } catch {
      throw .usage("cannot create the directory of output \(path): \(error)")
    }
  }
  let mode: mode_t = executable ? 0o755 : 0o644
  // An output already there with these bytes and mode is left alone, mtime
  // and all: the tools do the same, and Ninja's restat then prunes what
  // depends on it exactly as in a local build.
  var existing = stat()
  if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) == S_IFREG, existing.st_mode & 0o7777 == mode,
    Int(existing.st_size) == data.count, FileManager.default.contents(atPath: path) == data
  {
    return
  }
  let temporary = "\(path).lacewing-remote.\(getpid())"
  let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
  guard fd >= 0 else {
    throw .usage(
      "cannot create output \(path): \(String(cString: strerror(errno))); check the build directory's permissions")
  }
  let written = data.withUnsafeBytes { writeFully(fd, $0) }
  // open() applies the umask; the mode must be exactly what the action produced.
  let chmodded = fchmod(fd, mode) == 0
  let closed = close(fd) == 0
  guard written, chmodded, closed, rename(temporary, path) == 0 else {
    let reason = String(cString: strerror(errno))
    unlink(temporary)
    throw .usage("cannot write output \(path): \(reason); check free space and permissions")
  }
}

private func writeFully(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
  var offset = 0
  while offset < buffer.count {
    let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
    if n < 0 {
      if errno == EINTR { continue }
      return false
    }
    offset += n
  }
  return true
}

func writeAll(_ data: Data, to fd: Int32) {
  guard !data.isEmpty else { return }
  _ = data.withUnsafeBytes { writeFully(fd, $0) }
}

/// Runs the tool here, in the working directory with the caller's
/// environment, and returns its exit status (128+N for a signal, as shells do).
func runLocally(_ arguments: [String]) throws(LauncherError) -> Int32 {
  guard let tool = arguments.first else {
    throw .usage("no tool to run; put it after \"--\": lacewing-remote [options] -- TOOL ARG...")
  }
  var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
  argv.append(nil)
  defer { for pointer in argv { free(pointer) } }
  var pid = pid_t()
  let spawned = posix_spawnp(&pid, tool, nil, nil, argv, environ)
  guard spawned == 0 else {
    throw .usage("cannot run \(tool) locally: \(String(cString: strerror(spawned))); check the tool path")
  }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 {
    guard errno == EINTR else {
      throw .usage("lost track of the local \(tool): \(String(cString: strerror(errno)))")
    }
  }
  // WIFEXITED and friends are macros Swift does not import.
  let signal = status & 0x7f
  return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// One line per action, appended with a single write so parallel actions
/// do not interleave.
func appendLog(_ path: String, _ digest: String, _ how: String, _ outputs: [String], _ started: ContinuousClock.Instant)
{
  let elapsed = ContinuousClock.now - started
  let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  let outputsText = outputs.isEmpty ? "-" : outputs.joined(separator: ",")
  let rounded = (seconds * 1000).rounded() / 1000
  let line = "\(digest) \(how) \(outputsText) \(rounded)\n"
  let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
  guard fd >= 0 else { return }
  _ = Data(line.utf8).withUnsafeBytes { writeFully(fd, $0) }
  close(fd)
}
