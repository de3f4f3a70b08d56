// `newer_glibc_ext`: a CPython extension compiled against the build host's
// glibc (it takes //gn_templates:sysroot off its configs) that calls
// arc4random(), new in glibc 2.36: it needs GLIBC_2.36, so a build whose
// floor is older (lacewing_sysroot set to Debian 11's, glibc 2.31) must
// refuse the bundle that carries it, naming this ELF and GLIBC_2.36.

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

static PyObject *newer_glibc_ext_random(PyObject *Py_UNUSED(module),
                                        PyObject *Py_UNUSED(ignored)) {
  return PyLong_FromUnsignedLong(arc4random());
}

static PyMethodDef newer_glibc_ext_methods[] = {
    {"random", newer_glibc_ext_random, METH_NOARGS,
     "random() -> int\n\nReturn arc4random() (glibc 2.36 or newer)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef newer_glibc_ext_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "newer_glibc_ext",
    .m_doc = "Extension that needs GLIBC_2.36 (negative-test fixture).",
    .m_size = -1,
    .m_methods = newer_glibc_ext_methods,
};

PyMODINIT_FUNC PyInit_newer_glibc_ext(void) {
  return PyModule_Create(&newer_glibc_ext_module);
}
