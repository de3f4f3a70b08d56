#define _GNU_SOURCE
#include "stem_support.h"

#include <ftw.h>
#include <stddef.h>
#include <sys/random.h>

#ifndef __GLIBC__
// Embedded Swift seeds its hashing with arc4random_buf, which glibc has and
// musl (the stem's C library, docs/design.md "The stem") does not.
void arc4random_buf(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      abort();  // no entropy at all: nothing sensible to hash with
    }
    p += got;
    n -= (size_t)got;
  }
}
#endif

// The stem's Swift sees the system's (glibc's) declarations of these, and
// this file is built against musl's: the layouts must be the kernel's in both.
_Static_assert(sizeof(struct stat) == 144 && offsetof(struct stat, st_mtim) == 88, "struct stat");
_Static_assert(sizeof(struct dirent) == 280 && offsetof(struct dirent, d_name) == 19, "struct dirent");
_Static_assert(sizeof(struct timespec) == 16 && sizeof(sigset_t) == 128, "timespec, sigset_t");
_Static_assert(sizeof(mode_t) == 4 && sizeof(off_t) == 8 && sizeof(pid_t) == 4, "scalar types");
_Static_assert(O_CLOEXEC == 02000000 && O_NOFOLLOW == 0400000 && O_DIRECTORY == 0200000, "open flags");

static int saved_argc;
static char **saved_argv;

#ifdef __GLIBC__
// glibc passes (argc, argv, envp) to initializers, static executables included.
__attribute__((constructor)) static void capture_args(int argc, char **argv, char **envp) {
  (void)envp;
  saved_argc = argc;
  saved_argv = argv;
}
#else
// musl calls initializers with no arguments, right after pointing environ at
// the initial stack, where the System V ABI lays out argc, argv[0..argc-1],
// NULL, then the environment: argc is the one word below it that equals its
// distance (argv's entries are pointers, never that small).
__attribute__((constructor)) static void capture_args(void) {
  char **env = environ;
  if (env == NULL || env[-1] != NULL) return;
  for (uintptr_t k = 0; k < (1u << 24); k++) {
    if ((uintptr_t)env[-2 - (intptr_t)k] == k) {
      saved_argc = (int)k;
      saved_argv = env - 1 - k;
      return;
    }
  }
}
#endif

int lw_argc(void) { return saved_argc; }
char **lw_argv(void) { return saved_argv; }

static volatile sig_atomic_t forward_pid;

static void forward(int sig, siginfo_t *info, void *context) {
  (void)context;
  // A terminal's ^C or ^\ (SI_KERNEL) already reached the whole foreground
  // process group, the test included; forwarding it would deliver it twice.
  if (info && info->si_code == SI_KERNEL) return;
  if (forward_pid > 0) kill((pid_t)forward_pid, sig);
}

void lw_forward_signals_to(pid_t child) {
  forward_pid = child;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = forward;
  sigemptyset(&sa.sa_mask);
  // SA_RESTART keeps the parent's waitpid going after a forwarded signal.
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

void lw_die_of(int sig) {
  // The handler field's name differs between C libraries; C spells it once.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, sig);
  sigprocmask(SIG_UNBLOCK, &unblock, NULL);
  raise(sig);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)ftw;
  int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
  return (rc == 0 || errno == ENOENT) ? 0 : -1;
}

int lw_remove_tree(const char *path) {
  // FTW_DEPTH: children before their directory; FTW_PHYS: never follow a link.
  return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct lw_inflater {
  z_stream zs;
};

lw_inflater *lw_inflater_new(void) {
  lw_inflater *inf = calloc(1, sizeof *inf);
  if (!inf) return NULL;
  if (inflateInit2(&inf->zs, -MAX_WBITS) != Z_OK) {
    free(inf);
    return NULL;
  }
  return inf;
}

void lw_inflater_free(lw_inflater *inf) {
  if (!inf) return;
  inflateEnd(&inf->zs);
  free(inf);
}

int lw_inflate(lw_inflater *inf, const uint8_t *in, size_t in_size, size_t *consumed,
               uint8_t *out, size_t out_size, size_t *produced, int reset) {
  if (reset && inflateReset(&inf->zs) != Z_OK) return Z_STREAM_ERROR;
  // zlib counts in uInt; the stem feeds at most one entry's bytes at a time
  // and refuses entries over 4 GiB, so clamping here loses nothing.
  inf->zs.next_in = (Bytef *)in;
  inf->zs.avail_in = in_size > 0xffffffffu ? 0xffffffffu : (uInt)in_size;
  inf->zs.next_out = out;
  inf->zs.avail_out = out_size > 0xffffffffu ? 0xffffffffu : (uInt)out_size;
  int rc = inflate(&inf->zs, Z_NO_FLUSH);
  *consumed = (size_t)(inf->zs.next_in - in);
  *produced = (size_t)(inf->zs.next_out - out);
  if (rc == Z_BUF_ERROR && *produced > 0) rc = Z_OK;
  return rc;
}

// ---- Cache lifecycle (Cache.swift) -----------------------------------------
// Kept apart from the extraction helpers above, which change on their own.

static long long tree_bytes_total;

static int add_bytes(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)path; (void)flag; (void)ftw;
  // Blocks, not st_size: what the entry takes from the disk is what a cap is for.
  tree_bytes_total += (long long)sb->st_blocks * 512;
  return 0;
}

long long lw_tree_bytes(const char *path) {
  tree_bytes_total = 0;
  if (nftw(path, add_bytes, 16, FTW_PHYS) != 0) return -1;
  return tree_bytes_total;
}
