// `fidl_codec`: a CPython extension standing in for Fuchsia Controller's FIDL
// codec. It frames payloads the way FIDL frames transactional messages (a
// 16-byte header carrying txid, flags, magic number and method ordinal) and
// appends a checksum computed by libfuchsia_controller_internal.so, so that
// importing this module exercises a real dependency on another shared library.
//
// Wire format (all integers little-endian):
//   bytes 0..3    txid (u32)
//   bytes 4..6    flags (always 0 when encoding, ignored when decoding)
//   byte  7       magic number, 0x01
//   bytes 8..15   method ordinal (u64)
//   bytes 16..n   payload
//   last 4 bytes  fci_checksum(header + payload) (u32)

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "fuchsia_controller_internal.h"

enum {
  kHeaderSize = 16,
  kTrailerSize = 4,
  kMagicOffset = 7,
  kOrdinalOffset = 8,
  kMagic = 0x01,
};

// Explicit byte-by-byte (de)serialization keeps the format little-endian
// regardless of the host's byte order.
static void put_u32_le(uint8_t *out, uint32_t value) {
  for (int i = 0; i < 4; i++) out[i] = (uint8_t)(value >> (8 * i));
}

static void put_u64_le(uint8_t *out, uint64_t value) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(value >> (8 * i));
}

static uint32_t get_u32_le(const uint8_t *in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) value |= (uint32_t)in[i] << (8 * i);
  return value;
}

static uint64_t get_u64_le(const uint8_t *in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value |= (uint64_t)in[i] << (8 * i);
  return value;
}

PyDoc_STRVAR(encode_doc,
             "encode(ordinal, payload, txid=0) -> bytes\n\n"
             "Frame `payload` (a bytes-like object) as a message for the method "
             "with the given 64-bit `ordinal`: 16-byte header, payload, 4-byte "
             "checksum trailer.");

static PyObject *codec_encode(PyObject *Py_UNUSED(module), PyObject *args,
                              PyObject *kwargs) {
  static char *kwlist[] = {"ordinal", "payload", "txid", NULL};
  PyObject *ordinal_obj;
  Py_buffer payload;
  PyObject *txid_obj = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Oy*|O:encode", kwlist,
                                   &ordinal_obj, &payload, &txid_obj)) {
    return NULL;
  }

  PyObject *result = NULL;

  // The "K"/"I" format units would silently truncate out-of-range values;
  // converting by hand turns those into OverflowError instead.
  unsigned long long ordinal = PyLong_AsUnsignedLongLong(ordinal_obj);
  if (ordinal == (unsigned long long)-1 && PyErr_Occurred()) goto done;

  unsigned long txid = 0;
  if (txid_obj != NULL) {
    txid = PyLong_AsUnsignedLong(txid_obj);
    if (txid == (unsigned long)-1 && PyErr_Occurred()) goto done;
    if (txid > UINT32_MAX) {
      PyErr_SetString(PyExc_OverflowError, "txid does not fit in 32 bits");
      goto done;
    }
  }

  if (payload.len > PY_SSIZE_T_MAX - kHeaderSize - kTrailerSize) {
    PyErr_SetString(PyExc_OverflowError, "payload too large");
    goto done;
  }
  Py_ssize_t body_len = kHeaderSize + payload.len;

  result = PyBytes_FromStringAndSize(NULL, body_len + kTrailerSize);
  if (result == NULL) goto done;
  uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);

  memset(out, 0, kHeaderSize);
  put_u32_le(out, (uint32_t)txid);
  out[kMagicOffset] = kMagic;
  put_u64_le(out + kOrdinalOffset, ordinal);
  if (payload.len > 0) memcpy(out + kHeaderSize, payload.buf, payload.len);
  put_u32_le(out + body_len, fci_checksum(out, (size_t)body_len));

done:
  PyBuffer_Release(&payload);
  return result;
}

PyDoc_STRVAR(decode_doc,
             "decode(message) -> (txid, ordinal, payload)\n\n"
             "Parse a message produced by encode(). Raises ValueError if the "
             "message is truncated, has the wrong magic number or fails its "
             "checksum.");

static PyObject *codec_decode(PyObject *Py_UNUSED(module), PyObject *arg) {
  Py_buffer message;
  if (PyObject_GetBuffer(arg, &message, PyBUF_SIMPLE) < 0) return NULL;

  PyObject *result = NULL;
  const uint8_t *in = (const uint8_t *)message.buf;

  if (message.len < kHeaderSize + kTrailerSize) {
    PyErr_Format(PyExc_ValueError,
                 "message too short: %zd bytes, need at least %d "
                 "(%d-byte header + %d-byte checksum)",
                 message.len, kHeaderSize + kTrailerSize, kHeaderSize,
                 kTrailerSize);
    goto done;
  }
  if (in[kMagicOffset] != kMagic) {
    PyErr_Format(PyExc_ValueError, "bad magic number 0x%02x, expected 0x%02x",
                 in[kMagicOffset], kMagic);
    goto done;
  }

  Py_ssize_t body_len = message.len - kTrailerSize;
  uint32_t expected = get_u32_le(in + body_len);
  uint32_t actual = fci_checksum(in, (size_t)body_len);
  if (expected != actual) {
    PyErr_Format(PyExc_ValueError,
                 "checksum mismatch: message carries 0x%08x, computed 0x%08x",
                 expected, actual);
    goto done;
  }

  result = Py_BuildValue("(IKy#)", (unsigned int)get_u32_le(in),
                         (unsigned long long)get_u64_le(in + kOrdinalOffset),
                         (const char *)(in + kHeaderSize),
                         body_len - kHeaderSize);

done:
  PyBuffer_Release(&message);
  return result;
}

PyDoc_STRVAR(internal_version_doc,
             "internal_version() -> str\n\n"
             "Version of the libfuchsia_controller_internal.so actually loaded.");

static PyObject *codec_internal_version(PyObject *Py_UNUSED(module),
                                        PyObject *Py_UNUSED(ignored)) {
  return PyUnicode_FromString(fci_version());
}

static PyMethodDef codec_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))codec_encode,
     METH_VARARGS | METH_KEYWORDS, encode_doc},
    {"decode", codec_decode, METH_O, decode_doc},
    {"internal_version", codec_internal_version, METH_NOARGS,
     internal_version_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef codec_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fidl_codec",
    .m_doc = "Test stand-in for Fuchsia Controller's FIDL message codec.",
    .m_size = -1,
    .m_methods = codec_methods,
};

PyMODINIT_FUNC PyInit_fidl_codec(void) {
  PyObject *module = PyModule_Create(&codec_module);
  if (module == NULL) return NULL;
  // Exposed so Python callers can reason about framing overhead without
  // hard-coding the numbers.
  if (PyModule_AddIntConstant(module, "HEADER_SIZE", kHeaderSize) < 0 ||
      PyModule_AddIntConstant(module, "TRAILER_SIZE", kTrailerSize) < 0 ||
      PyModule_AddIntConstant(module, "MAGIC", kMagic) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}
