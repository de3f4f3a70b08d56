// Stand-in for Fuchsia Controller's internal shared library
// (libfuchsia_controller_internal.so). The Python extension `fidl_codec`
// links against it, so a bundle must ship this library next to the
// extension for the import to succeed.

#ifndef FUCHSIA_CONTROLLER_INTERNAL_H_
#define FUCHSIA_CONTROLLER_INTERNAL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The build may use -fvisibility=hidden; these are the library's ABI, so they
// must stay visible regardless.
#define FCI_EXPORT __attribute__((visibility("default")))

// 32-bit FNV-1a hash of `data`. Used as the integrity trailer of encoded
// messages.
FCI_EXPORT uint32_t fci_checksum(const uint8_t *data, size_t len);

// Version string of this library ("fci-1.0"), so callers can verify which
// copy of the library the dynamic loader actually picked up.
FCI_EXPORT const char *fci_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // FUCHSIA_CONTROLLER_INTERNAL_H_
