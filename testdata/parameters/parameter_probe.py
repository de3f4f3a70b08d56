"""Prints, as JSON, what the non-default template parameters of its bundle
did (see BUILD.gn): interpreter_args, env and data, stdlib_exclude,
exclude_modules, stdlib_sources, c_extensions, sources and libraries."""
import inspect
import json
import os
import sys
import textwrap

import parameter_helper
from parameter_lib import value


def main():
    try:
        stdlib_source = "def dedent" in inspect.getsource(textwrap.dedent)
    except OSError:
        stdlib_source = False
    with open(os.path.join(os.environ["PARAMETER_DATA"], "greeting.txt")) as f:
        data = f.read().strip()
    print(json.dumps({
        "xoptions": sorted(sys._xoptions),
        "dont_write_bytecode": sys.flags.dont_write_bytecode,
        "data": data,
        "xmlrpc": parameter_helper.importable("xmlrpc"),
        "sqlite3": parameter_helper.importable("_sqlite3"),
        "fidl_codec": parameter_helper.importable("fidl_codec"),
        "stdlib_source": stdlib_source,
        "library": value.VALUE,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
