// libc, zlib and zstd for the Embedded Swift stem, which cannot import Glibc.
// Only what C expresses better than Embedded Swift lives in stem_support.c:
// errno, environ, signal handlers and a directory-tree walk.
#ifndef LACEWING_STEM_SUPPORT_H
#define LACEWING_STEM_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lacewing_format.h"

static inline int lw_errno(void) { return errno; }
extern char **environ;
static inline char **lw_environ(void) { return environ; }

// Variadic libc calls are unavailable to Swift; these fix their arity.
static inline int lw_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
static inline int lw_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0); }
static inline int lw_mmap_failed(const void *p) { return p == MAP_FAILED; }

// argv as the kernel gave it; captured before main because Embedded Swift
// has no CommandLine.
int lw_argc(void);
char **lw_argv(void);

// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to `child` until it exits.
void lw_forward_signals_to(pid_t child);
// Dies of `sig` with its default disposition, unblocked; returns only if
// that disposition is to ignore it.
void lw_die_of(int sig);
// Removes `path` and everything below it without following symlinks.
// Returns 0, or -1 with errno set by the first failure.
int lw_remove_tree(const char *path);

// A packed runtime layer's zstd frame (lacewing_format.h), decoded from
// memory piece by piece with a window of at most 1 << LW_PACK_WINDOW_LOG:
// the decoder's memory is bounded whatever the frame declares.
typedef struct lw_unpacker lw_unpacker;
lw_unpacker *lw_unpacker_new(const uint8_t *in, size_t in_size);
void lw_unpacker_free(lw_unpacker *unpacker);
// Decodes up to `out_size` bytes into `out` and returns how many: fewer only
// once the frame has ended, its checksum holding and no byte following it.
// Returns -1 when the frame is damaged or truncated, wants a larger window,
// or has bytes after it.
ptrdiff_t lw_unpack(lw_unpacker *unpacker, uint8_t *out, size_t out_size);

// SHA-256 (sha256.c), for checking a runtime layer against its digest.
typedef struct lw_sha256 {
  uint32_t h[8];
  uint64_t length;
  uint8_t block[64];
  size_t used;
} lw_sha256;
void lw_sha256_init(lw_sha256 *sha);
void lw_sha256_update(lw_sha256 *sha, const void *data, size_t size);
void lw_sha256_final(lw_sha256 *sha, uint8_t digest[32]);

// Raw-deflate inflater over memory; keeps z_stream's layout out of Swift.
typedef struct lw_inflater lw_inflater;
lw_inflater *lw_inflater_new(void);
void lw_inflater_free(lw_inflater *inflater);
// Returns Z_OK while more output is pending, Z_STREAM_END when done, or a
// zlib error. `*produced` receives the bytes written to `out`.
int lw_inflate(lw_inflater *inflater, const uint8_t *in, size_t in_size, size_t *consumed,
               uint8_t *out, size_t out_size, size_t *produced, int reset);

// ---- Cache lifecycle (Cache.swift) -----------------------------------------
#include <sys/file.h>

// Disk space (allocated blocks) of `path` and everything below it, links not
// followed; -1 when it cannot be walked.
long long lw_tree_bytes(const char *path);

#endif
