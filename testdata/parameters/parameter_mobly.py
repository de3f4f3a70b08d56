"""A Mobly test that prints, as one JSON line before its one test, what the
parameters of its python_mobly_test (see BUILD.gn) gave it: argv
(extra_args), the testbed (local_config_source), user_params (params or
params_source), the FIDL IR ($PARAMETER_FIDL_IR: fidl_ir_env,
test_data_deps), env, data, sources, libraries and c_extensions."""
import json
import os
import sys

from mobly import base_test, test_runner

import parameter_helper
from parameter_lib import value

ARGV = list(sys.argv[1:])


class ParameterMobly(base_test.BaseTestClass):
    def setup_class(self):
        with open(os.path.join(os.environ["PARAMETER_DATA"], "greeting.txt")) as f:
            data = f.read().strip()
        print("parameter_mobly: " + json.dumps({
            "argv": ARGV,
            "testbed": self.testbed_name,
            "user_params": self.user_params,
            "fidl_ir": sorted(os.listdir(os.environ["PARAMETER_FIDL_IR"])),
            "data": data,
            "library": value.VALUE,
            "fidl_codec": parameter_helper.importable("fidl_codec"),
            "xoptions": sorted(sys._xoptions),
        }, sort_keys=True), flush=True)

    def test_nothing(self):
        pass


if __name__ == "__main__":
    sys.argv = [a for a in sys.argv if a != "--parameter-extra"]
    test_runner.main()
