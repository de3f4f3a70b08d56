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
