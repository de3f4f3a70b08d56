// libstray.so: a shared library that a bundle must NOT be able to find unless
// it is explicitly declared as a dependency. stray_ext links against it, so
// bundling stray_ext without libstray.so should fail at import time.

#define STRAY_EXPORT __attribute__((visibility("default")))

STRAY_EXPORT int stray_value(void) { return 42; }
