// libFuzzer harness over what the tools do with a wheel's bytes: its name
// list, member paths and WHEEL file (Wheel), each shared object's ELF
// headers (as collect-artifacts reads them), and our own zip directory
// reader (ZipIndex) over the same bytes. Compiled with LacewingKit's
// sources as regular Swift with ASan; libzip itself is not instrumented.
import Foundation

nonisolated(unsafe) var wheelPath: String?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  // Wheel reads a path and takes its tags from the name: a native wheel's
  // name, so that every check runs. In tmpfs when there is one: a disk's
  // file system made each run five times slower.
  if wheelPath == nil {
    let dir =
      access("/dev/shm", W_OK) == 0
      ? "/dev/shm" : ProcessInfo.processInfo.environment["LACEWING_FUZZ_SCRATCH"] ?? "/tmp"
    wheelPath = dir + "/lacewing_fuzz_\(getpid())-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
  }
  let path = wheelPath!
  defer { unlink(path) }
  let bytes = Data(bytes: data, count: size)
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  precondition(fd >= 0 && write(fd, data, size) == size && close(fd) == 0, "cannot write \(path)")
  do throws(LacewingError) {
    let wheel = try Wheel(path)
    try wheel.check(runtime: "python3.11")
    for file in wheel.files where Wheel.isSharedObject(file.path) {
      _ = try ELFFile(Wheel.read(file.member, from: path), name: "\(path):\(file.member)")
    }
  } catch {
    // A refusal must name the wheel (its tag checks name it by base name).
    precondition(error.code == .badInput && error.message.contains(FS.basename(path)), error.message)
  }
  do throws(LacewingError) {
    for entry in try ZipIndex.entries(bytes) { _ = entry.data(in: bytes) }
  } catch {
    // ZipIndex reads payloads held in memory; its callers name the file.
    precondition(error.code == .badInput, error.message)
  }
  return 0
}
