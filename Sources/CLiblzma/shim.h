// xz: the runtime layer is packed as one solid stream (see lacewing_format.h).
#include <lzma.h>
