#include "lacewing_format.h"

#include <stdio.h>
#include <string.h>

int lw_launcher(const char *interpreter, const char *pyz, char *path, size_t path_size, char *target,
                size_t target_size) {
  const char *slash = strrchr(interpreter, '/');
  const char *file = slash ? slash + 1 : interpreter;
  int n, m;
  if (pyz == NULL) {
    n = snprintf(path, path_size, "%s%s", LW_LAUNCHER_DIR, file);
    m = snprintf(target, target_size, "../%s/%s", LW_RUNTIME_LINK, interpreter);
  } else {
    size_t dir = strlen(LW_TEST_DIR), len = strlen(pyz), ext = strlen(".pyz");
    if (len <= dir + ext || strncmp(pyz, LW_TEST_DIR, dir) != 0 || strcmp(pyz + len - ext, ".pyz") != 0) return -1;
    int name = (int)(len - dir - ext);
    if (memchr(pyz + dir, '/', (size_t)name) != NULL) return -1;
    n = snprintf(path, path_size, "%s%.*s/%s", LW_LAUNCHER_DIR, name, pyz + dir, file);
    m = snprintf(target, target_size, "../../%s/%s", LW_RUNTIME_LINK, interpreter);
  }
  if (*file == '\0' || n < 0 || (size_t)n >= path_size || m < 0 || (size_t)m >= target_size) return -1;
  return 0;
}

// An instruction whose operand the filter converts is at most this long.
#define LW_X86_LOOKAHEAD 7

static int rip_relative(const uint8_t *b) {
  if (b[0] != 0x48 && b[0] != 0x4C) return 0;
  switch (b[1]) {
    case 0x03: case 0x2B: case 0x39: case 0x3B: case 0x63: case 0x85: case 0x89: case 0x8B: case 0x8D:
      return (b[2] & 0xC7) == 0x05;
    default:
      return 0;
  }
}

size_t lw_x86_filter(uint8_t *buf, size_t size, uint64_t pos, int encode, int last) {
  size_t i = 0;
  while (i + LW_X86_LOOKAHEAD <= size) {
    uint8_t *b = buf + i;
    uint32_t at = (uint32_t)(pos + i);
    if (b[0] == 0xE8 || b[0] == 0xE9) {
      // The test reads b[4], which this conversion writes back as 00 or FF,
      // and no later one can reach: the skip is the same either way.
      if (b[4] == 0x00 || b[4] == 0xFF) {
        uint32_t v = (uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 | (uint32_t)(b[4] & 1) << 24;
        v = (encode ? v + at + 5 : v - (at + 5)) & 0x1FFFFFFu;
        b[1] = (uint8_t)v;
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)(v >> 16);
        b[4] = (v >> 24) & 1 ? 0xFF : 0x00;
      }
      i += 5;
    } else if (rip_relative(b)) {
      uint32_t v = (uint32_t)b[3] | (uint32_t)b[4] << 8 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 24;
      v = encode ? v + at + 7 : v - (at + 7);
      b[3] = (uint8_t)v;
      b[4] = (uint8_t)(v >> 8);
      b[5] = (uint8_t)(v >> 16);
      b[6] = (uint8_t)(v >> 24);
      i += 7;
    } else {
      i += 1;
    }
  }
  return last ? size : i;
}
