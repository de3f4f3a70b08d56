// `stray_ext`: a CPython extension whose only purpose is to depend on
// libstray.so. Used by negative tests: if the bundler forgets libstray.so, the
// dynamic loader fails when `import stray_ext` runs.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// Declared here rather than in a header: libstray.so has exactly one symbol,
// and keeping it local makes the dependency visible in this one file.
int stray_value(void);

static PyObject *stray_ext_value(PyObject *Py_UNUSED(module),
                                 PyObject *Py_UNUSED(ignored)) {
  return PyLong_FromLong(stray_value());
}

static PyMethodDef stray_ext_methods[] = {
    {"value", stray_ext_value, METH_NOARGS,
     "value() -> int\n\nReturn stray_value() from libstray.so (42)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef stray_ext_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stray_ext",
    .m_doc = "Extension that depends on libstray.so (negative-test fixture).",
    .m_size = -1,
    .m_methods = stray_ext_methods,
};

PyMODINIT_FUNC PyInit_stray_ext(void) {
  return PyModule_Create(&stray_ext_module);
}
