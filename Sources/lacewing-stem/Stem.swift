import StemSupport

/// The front of every bundle. It finds the payload behind itself, makes sure an
/// extracted copy exists (a per-user cache entry keyed by the payload digest,
/// or a private temp dir), and runs the bundled interpreter on the test.
///
/// Options come from the environment only; argv belongs to the test:
///   LACEWING_EXTRACT=temp      extract to a private temp dir, run, delete it
///   LACEWING_CACHE_DIR=DIR     cache root (default $XDG_CACHE_HOME/lacewing or ~/.cache/lacewing)
///   LACEWING_LIST=1            print the bundle's config and entries, run nothing
///   LACEWING_CACHE=list|prune  list the cache's entries, or evict now; run nothing
///   LACEWING_CACHE_MAX_AGE_DAYS=N  cold starts evict entries unused for N days (default 7)
///   LACEWING_CACHE_MAX_BYTES=N     and idle ones past N bytes, oldest first (default 2 GiB)
///
/// A multi-test bundle also reads its first argument (or the name it was run
/// as) to choose the test; `--list` prints its tests.
///   LACEWING_TIMINGS=1         print extraction and start-up timings to stderr
///   LACEWING_TIMINGS_FILE=F    append one line per extraction (time, size, digest) to F
///   LACEWING_MAX_EXTRACT_BYTES refuse payloads that expand past this (default 8 GiB)
@main
enum Stem {
  static func main() {
    let start = monotonicNanos()
    do throws(StemFailure) {
      if let command = getenvString("LACEWING_CACHE") { try Cache.command(command, root: Launcher.cacheRoot()) }
      let bundle = try BundleImage.openSelf()
      if getenvString("LACEWING_LIST") != nil {
        try list(bundle)
        exit(0)
      }
      try Launcher(bundle: bundle, start: start).run()
    } catch {
      printError(error.message)
      exit(error.exitCode)
    }
  }

  static func list(_ bundle: BundleImage) throws(StemFailure) {
    let zip = try bundle.zip()
    var out = "digest sha256:" + bundle.digestHex + "\n"
    out += "payload \(bundle.payload.count) bytes, \(zip.entries.count) entries\n"
    out += "interpreter " + bundle.config.interpreter + "\n"
    for arg in bundle.config.arguments { out += "arg " + arg + "\n" }
    if let main = bundle.config.main { out += "main " + main + "\n" }
    for test in bundle.config.tests { out += "test " + test.name + "=" + test.path + "\n" }
    for e in bundle.config.env { out += "env " + e + "\n" }
    if let runtime = bundle.config.runtime { out += "runtime " + runtime + "\n" }
    if let loader = bundle.config.loader { out += "loader " + loader + "\n" }
    if let glibc = bundle.config.glibc, let library = bundle.config.glibcLibrary {
      out += "glibc " + glibc + "\nglibc_library " + library + "\n"
    }
    for entry in zip.entries {
      let crc = withUnsafeBytes(of: entry.crc.bigEndian) { hex($0) }
      out +=
        "\(entry.size) \(entry.compressedSize) \(crc) " + String(decoding: zip.name(of: entry), as: UTF8.self) + "\n"
    }
    writeString(1, out)
  }
}
