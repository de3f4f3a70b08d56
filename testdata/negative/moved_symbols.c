// libmoved_symbols.so: not a negative case itself, but the sysroot test's
// control. stat() has had a symbol of its own since glibc 2.33
// (stat@GLIBC_2.33); against an older glibc it is an inline call of
// __xstat@GLIBC_2.2.5. So this library needs GLIBC_2.33 when built against
// this Debian 12 host and nothing newer than 2.31 when built against a
// Debian 11 sysroot: what shows which glibc the toolchain linked.

#include <sys/stat.h>

#define MOVED_SYMBOLS_EXPORT __attribute__((visibility("default")))

MOVED_SYMBOLS_EXPORT long moved_symbols_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1L;
}
