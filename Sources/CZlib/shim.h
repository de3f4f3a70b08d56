// zlib, for the tools' CRC-32: the same code the stem checks entries with.
#include <zlib.h>
