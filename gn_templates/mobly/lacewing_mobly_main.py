"""The __main__ of every python_mobly_test: gives the test's module the
argv its GN target asks for, then runs it as __main__.

The target's settings ride in the .pyz (_lacewing_mobly/settings.json),
with its testbed config and params, so the bundle and the unbundled .pyz
behave alike:

* argv is the target's extra_args, then the caller's (argparse lets the
  later of two values win);
* without -c/--config, the testbed config is the target's
  local_config_source (if it has one);
* the target's params (GN's params, or params_source) become every
  testbed's TestParams, under what the config itself says;
* a config with no MoblyParams.LogPath logs into a fresh temp directory.

The config Mobly reads is written to that temp directory.
"""

import json
import os
import runpy
import sys
import tempfile

import yaml

_DIR = "_lacewing_mobly"


def _read(name):
    # The loader reads from the .pyz (zipimport) or from a directory alike.
    return __loader__.get_data(os.path.join(os.path.dirname(__file__), _DIR, name))


def _config_arg(argv):
    """The index of -c/--config's value in argv, or None."""
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            return i + 1
        if arg.startswith("--config="):
            return i
    return None


def main():
    settings = json.loads(_read("settings.json"))
    argv = list(settings["extra_args"]) + sys.argv[1:]
    index = _config_arg(sys.argv[1:])
    if index is not None:
        index += len(settings["extra_args"])
        given = argv[index].split("=", 1)[1] if argv[index].startswith("--config=") else argv[index]
        with open(given) as f:
            config = yaml.safe_load(f)
    elif settings["config"]:
        config = yaml.safe_load(_read(settings["config"]))
    else:
        config = None

    if config is not None:
        params = yaml.safe_load(_read(settings["params"])) if settings["params"] else {}
        for testbed in config.get("TestBeds", []):
            testbed["TestParams"] = {**params, **(testbed.get("TestParams") or {})}
        work = tempfile.mkdtemp(prefix=settings["name"] + "-")
        mobly_params = config.setdefault("MoblyParams", {})
        mobly_params.setdefault("LogPath", work)
        path = os.path.join(work, "config.yaml")
        with open(path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        if index is None:
            argv = ["-c", path] + argv
        elif argv[index].startswith("--config="):
            argv[index] = "--config=" + path
        else:
            argv[index] = path

    sys.argv = [sys.argv[0]] + argv
    runpy.run_module(settings["main"], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
