// libFuzzer harness over the tools' ELF reader (ELFFile), compiled with its
// few LacewingKit sources as regular Swift with ASan. Each input is a whole
// file, as collect-artifacts and ldd-allowlist-check read a wheel's .so.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let name = "<fuzz input>"
  do throws(LacewingError) {
    let elf = try ELFFile(Data(bytes: data, count: size), name: name)
    // What the allowlist check asks of a parsed file.
    _ = (elf.searchPath, elf.maxGlibcVersion, elf.maxVersion("GLIBCXX_"))
  } catch {
    // Refusing an input is the expected outcome, if it says which file.
    precondition(error.code == .badInput && error.message.hasPrefix(name), error.message)
  }
  return 0
}
