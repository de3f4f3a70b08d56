// OpenSSL's SHA-256 through the EVP interface (the SHA256_* calls are
// deprecated in OpenSSL 3): the tools hash every payload they write (the
// stem's cache key), and its assembly runs about ten times as fast as
// portable code.
#include <openssl/evp.h>
