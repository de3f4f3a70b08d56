"""Locates and loads FIDL IR (the JSON that fidlc emits for a library).

The IR directory is taken from, in order:

1. ``$FIDL_IR_PATH`` -- a hermetic bundle sets this to its extracted
   ``fidl_ir`` directory.
2. ``<pyz path without .pyz>_runfiles/fidl_ir`` -- the layout the build
   produces next to ``rtc_test.pyz`` for non-hermetic runs, e.g.
   ``out/x/rtc_test.pyz`` -> ``out/x/rtc_test_runfiles/fidl_ir``.
"""

import json
import os
import sys

ENV_VAR = "FIDL_IR_PATH"
_IR_SUFFIX = ".fidl.json"


class FidlIrNotFoundError(FileNotFoundError):
    """Raised when no FIDL IR directory or file can be found."""


def _pyz_path():
    """Returns the absolute path of the running .pyz archive.

    ``sys.argv[0]`` is the archive, except when the archive's ``__main__``
    runs the test module through ``runpy`` with ``alter_sys=True``: then
    argv[0] is the module's ``__file__`` inside the archive
    (``.../rtc_test.pyz/rtc_test.py``), so we strip back to the ``.pyz``.
    """
    path = os.path.abspath(sys.argv[0])
    candidate = path
    while True:
        if candidate.endswith(".pyz"):
            return candidate
        parent = os.path.dirname(candidate)
        if parent == candidate:
            return path  # Not in a .pyz: fall back to argv[0] as given.
        candidate = parent


def default_ir_dir():
    """Returns the ``<pyz>_runfiles/fidl_ir`` path (which may not exist)."""
    stem = os.path.splitext(_pyz_path())[0]
    return os.path.join(stem + "_runfiles", "fidl_ir")


def fidl_ir_dir():
    """Returns the directory holding ``*.fidl.json`` files.

    An explicitly set ``$FIDL_IR_PATH`` wins and is never silently ignored:
    if it points nowhere we fail instead of falling back, because a wrong
    setting would otherwise go unnoticed.
    """
    default = default_ir_dir()
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        if os.path.isdir(from_env):
            return from_env
        raise FidlIrNotFoundError(
            f"${ENV_VAR} is set to {from_env!r}, which is not a directory "
            f"(the default location would be {default!r})"
        )
    if os.path.isdir(default):
        return default
    raise FidlIrNotFoundError(
        f"FIDL IR not found: ${ENV_VAR} is not set and the default "
        f"directory {default!r} does not exist"
    )


def available_libraries():
    """Returns the sorted names of the libraries whose IR is available."""
    return sorted(
        name[: -len(_IR_SUFFIX)]
        for name in os.listdir(fidl_ir_dir())
        if name.endswith(_IR_SUFFIX)
    )


def load_ir(library_name):
    """Loads and returns the IR of ``library_name`` (e.g. "fuchsia.io")."""
    path = os.path.join(fidl_ir_dir(), library_name + _IR_SUFFIX)
    try:
        with open(path, encoding="utf-8") as f:
            ir = json.load(f)
    except FileNotFoundError:
        raise FidlIrNotFoundError(
            f"no IR for FIDL library {library_name!r}: {path!r} does not exist"
        ) from None
    if ir.get("name") != library_name:
        raise ValueError(f"{path!r} holds IR for {ir.get('name')!r}, not {library_name!r}")
    return ir


def method_ordinal(ir, protocol, method):
    """Returns the 64-bit ordinal of ``protocol.method`` in ``ir``.

    ``protocol`` may be fully qualified ("fuchsia.hardware.rtc/Device") or
    short ("Device"); short names are qualified with the IR's library name,
    as in FIDL source.
    """
    qualified = protocol if "/" in protocol else f"{ir['name']}/{protocol}"
    for decl in ir.get("protocol_declarations", []):
        if decl["name"] != qualified:
            continue
        for m in decl.get("methods", []):
            if m["name"] == method:
                return m["ordinal"]
        raise KeyError(f"protocol {qualified!r} has no method {method!r}")
    raise KeyError(f"library {ir['name']!r} has no protocol {qualified!r}")
