#define _GNU_SOURCE
#include "stem_support.h"

#include <ftw.h>

static int saved_argc;
static char **saved_argv;

// glibc passes (argc, argv, envp) to initializers, static executables included.
__attribute__((constructor)) static void capture_args(int argc, char **argv, char **envp) {
  (void)envp;
  saved_argc = argc;
  saved_argv = argv;
}

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
