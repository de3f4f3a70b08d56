// OpenSSL's SHA-256: the tools hash every payload they write (the stem's
// cache key), and its assembly runs about ten times as fast as portable code.
#include <openssl/sha.h>
