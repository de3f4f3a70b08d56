import Foundation
import LacewingKit
import LacewingTestSupport
import Testing

/// The stem's SHA-256 (Sources/StemSupport/sha256.c), which checks runtime
/// layers on cold starts, against libcrypto's, with the x86 SHA extensions
/// where this CPU has them and with the portable rounds alone; inputs fed
/// whole and in pieces that straddle its 64-byte blocks.
@Suite struct StemDigestTests {
  @Test(arguments: ["", "-DLW_SHA256_PORTABLE"])
  func theStemsSHA256IsSHA256(define: String) throws {
    let dir = try makeTemporaryDirectory("stem-sha256")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeText(
      """
      #include "stem_support.h"
      #include <stdio.h>
      int main(int argc, char **argv) {
        static unsigned char buf[1 << 20];
        size_t n, piece = (size_t)atoi(argv[2]);
        lw_sha256 s;
        lw_sha256_init(&s);
        FILE *f = fopen(argv[1], "rb");
        while ((n = fread(buf, 1, piece, f)) > 0) lw_sha256_update(&s, buf, n);
        unsigned char d[32];
        lw_sha256_final(&s, d);
        for (int i = 0; i < 32; i++) printf("%02x", d[i]);
        return 0;
      }
      """, to: dir + "/driver.c")
    // The toolchain's clang, found on PATH as fuzz/run.sh finds it.
    let built = try run(
      "/usr/bin/env",
      ["clang"] + (define.isEmpty ? [] : [define]) + [
        "-O1", "-I", Repo.root + "/Sources/StemSupport/include", "-I", Repo.root + "/Sources/LacewingFormat/include",
        dir + "/driver.c", Repo.root + "/Sources/StemSupport/sha256.c", "-o", dir + "/sha256",
      ])
    try #require(built.status == 0, "\(built.output)")
    try Data().write(to: URL(fileURLWithPath: dir + "/empty"))
    try Data(repeating: 0x61, count: 55).write(to: URL(fileURLWithPath: dir + "/55"))
    try Data(repeating: 0x62, count: 64).write(to: URL(fileURLWithPath: dir + "/64"))
    for file in [dir + "/empty", dir + "/55", dir + "/64", "/usr/bin/python3.11"] {
      let expected = SHA256.hash(try readFile(file)).map { String(format: "%02x", $0) }.joined()
      for piece in ["1", "63", "65", "1048576"] {
        let r = try run(dir + "/sha256", [file, piece])
        #expect(r.stdout == expected, "\(file) in pieces of \(piece)")
      }
    }
  }
}
