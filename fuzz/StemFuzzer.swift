// libFuzzer harness over the stem's own bundle and zip parsing, and its
// reading of host libraries (HostCheck), compiled from the stem's sources
// as regular (non-Embedded) Swift with ASan.
// Each input is a whole bundle file as the stem would map it; everything it
// holds is extracted into a private scratch dir, then removed.
import StemSupport

nonisolated(unsafe) var scratch: CPath?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  if scratch == nil {
    scratch = CPath(getenvString("LACEWING_FUZZ_SCRATCH") ?? "/tmp").appending("lacewing-fuzz-\(getpid())")
  }
  let root = scratch!
  // The host check reads a host library's bytes, as untrusted as these,
  // from a file: this input, written to one.
  let library = root.appending("library")
  let fd = library.withCString { lw_open($0, O_RDWR | O_CREAT | O_TRUNC, 0o600) }
  if fd >= 0 {
    _ = write(fd, data, size)
    _ = VersionDefinitions(fd, size: size, node: "GLIBC_2.34")
    close(fd)
    _ = library.withCString { unlink($0) }
  }
  do throws(StemFailure) {
    let bundle = try BundleImage(path: CPath("<fuzz input>"), base: UnsafeRawPointer(data), size: size)
    let zip = try bundle.zip()
    _ = root.withCString { mkdir($0, 0o700) }
    defer { _ = root.withCString { lw_remove_tree($0) } }
    // Small limit: the fuzzer must not fill the disk through a valid bomb.
    try Extractor(zip: zip, root: root, sizeLimit: 1 << 22).extractAll()
  } catch {
    // Refusing an input is the expected outcome; crashing is not.
    precondition(error.exitCode == Int32(LW_EXIT_CORRUPT) || error.exitCode == Int32(LW_EXIT_CANNOT_RUN))
  }
  return 0
}
