// The stem's zstd decoder: the vendored library (Sources/CZstd) without its
// compressor (build/zstd-decoder.sh), with the size settings zstd
// documents: one copy of each decoding loop (no runtime BMI2 dispatch) and
// no error strings.
#define DYNAMIC_BMI2 0
#define ZSTD_STRIP_ERROR_STRINGS
#include "zstd_decoder.inc"

#include "stem_support.h"

struct lw_unpacker {
  ZSTD_DCtx *context;
  ZSTD_inBuffer in;
  int ended;
};

lw_unpacker *lw_unpacker_new(const uint8_t *in, size_t in_size) {
  lw_unpacker *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->context = ZSTD_createDCtx();
  // The window is the decoder's one large allocation; a frame asking for
  // more than the format allows is refused instead of served.
  if (!u->context || ZSTD_isError(ZSTD_DCtx_setParameter(u->context, ZSTD_d_windowLogMax, LW_PACK_WINDOW_LOG))) {
    lw_unpacker_free(u);
    return NULL;
  }
  u->in.src = in;
  u->in.size = in_size;
  return u;
}

void lw_unpacker_free(lw_unpacker *u) {
  if (!u) return;
  ZSTD_freeDCtx(u->context);
  free(u);
}

ptrdiff_t lw_unpack(lw_unpacker *u, uint8_t *out, size_t out_size) {
  ZSTD_outBuffer o = {out, out_size, 0};
  while (o.pos < o.size && !u->ended) {
    size_t in_before = u->in.pos, out_before = o.pos;
    size_t rc = ZSTD_decompressStream(u->context, &o, &u->in);
    if (ZSTD_isError(rc)) return -1;
    if (rc == 0) {
      // The frame ended and its checksum held; nothing may follow it.
      u->ended = 1;
      if (u->in.pos != u->in.size) return -1;
    } else if (u->in.pos == in_before && o.pos == out_before) {
      return -1;  // the input ran out inside the frame
    }
  }
  return (ptrdiff_t)o.pos;
}
