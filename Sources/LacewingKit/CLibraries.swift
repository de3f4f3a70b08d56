import CLibcrypto
import Glibc

/// What the C libraries the tools link would otherwise take from the host
/// they run on, set once, before the first zip is opened or digest started:
/// the same output on any host, and no read of a host file that a remote
/// execution worker need not have.
enum CLibraries {
  static let configured: Void = {
    // libzip converts every entry's DOS time with localtime() or mktime(),
    // writing and reading: pinned to UTC, the bytes written do not depend
    // on the host's TZ, and /etc/localtime is never read.
    setenv("TZ", "UTC", 1)
    tzset()
    // OpenSSL 3 reads openssl.cnf (/usr/lib/ssl, /etc/ssl, or $OPENSSL_CONF)
    // when its library context starts: for libzip's temp file names
    // (RAND_bytes) and SHA-256, neither of which needs any of it.
    OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_LOAD_CONFIG), nil)
  }()
}
