#include "fuchsia_controller_internal.h"

// FNV-1a parameters for 32-bit hashes (http://www.isthe.com/chongo/tech/comp/fnv/).
#define FNV32_OFFSET_BASIS 0x811c9dc5u
#define FNV32_PRIME 0x01000193u

uint32_t fci_checksum(const uint8_t *data, size_t len) {
  uint32_t hash = FNV32_OFFSET_BASIS;
  for (size_t i = 0; i < len; i++) {
    hash ^= data[i];
    hash *= FNV32_PRIME;  // Wraps modulo 2^32, as FNV intends.
  }
  return hash;
}

const char *fci_version(void) { return "fci-1.0"; }
