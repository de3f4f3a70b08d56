"""rtc_test's device checks as a real Mobly test: a BaseTestClass with a Mobly
controller for the simulated RTC device (rtc_device), run through
mobly.test_runner, using the fidl_codec C extension and the FIDL IR.

    mobly_rtc_test [--force-failure] [-c CONFIG] [other Mobly flags]

Built by python_mobly_test: without -c, the testbed is simulated_rtc.yaml;
the params (expected_year, greeting) come from BUILD.gn, --from-gn from its
extra_args, the IR from the controller's deps (in $FIDL_IR_PATH). Before
its tests it prints one line, "mobly_rtc_test setup: " and JSON of what it
was given. Mobly prints its summary and exits 0 only when every test passed.
"""

import json
import os
import sys

import fidl_codec
from mobly import asserts, base_test, test_runner

import rtc_device
from lacewing_utils import fidl_ir
from lacewing_utils.fake_device import RTC_LIBRARY, RTC_PROTOCOL, DeviceError, RtcTime

FORCE_FAILURE = False
ARGV = []


class RtcMoblyTest(base_test.BaseTestClass):
    def setup_class(self):
        self.dut = self.register_controller(rtc_device)[0]
        given = {
            "argv": ARGV,
            "testbed": self.testbed_name,
            "user_params": self.user_params,
            "fidl_ir": sorted(os.listdir(os.environ["FIDL_IR_PATH"])),
            "log_path": self.log_path,
        }
        print("mobly_rtc_test setup: " + json.dumps(given, sort_keys=True), flush=True)

    def test_params_from_gn(self):
        asserts.assert_equal(self.user_params["expected_year"], self.dut.initial_year)

    def test_set_then_get(self):
        wanted = RtcTime(self.dut.initial_year, 2, 29, 13, 37, 42)
        asserts.assert_not_equal(self.dut.pid, os.getpid())
        self.dut.set(wanted)
        asserts.assert_equal(self.dut.get(), wanted)

    def test_invalid_time_is_rejected(self):
        before = self.dut.get()
        asserts.assert_raises(DeviceError, self.dut.set, RtcTime(2023, 2, 30, 0, 0, 0))
        asserts.assert_equal(self.dut.get(), before)

    def test_codec_speaks_the_ir_ordinals(self):
        ordinal = fidl_ir.method_ordinal(fidl_ir.load_ir(RTC_LIBRARY), RTC_PROTOCOL, "Get")
        message = fidl_codec.encode(ordinal, b"{}", txid=7)
        asserts.assert_equal(fidl_codec.decode(message), (7, ordinal, b"{}"))
        asserts.assert_equal(fidl_codec.internal_version(), "fci-1.0")

    def test_not_forced_to_fail(self):
        asserts.assert_false(FORCE_FAILURE, "failure forced by --force-failure")


def main():
    global FORCE_FAILURE
    argv = sys.argv[1:]
    ARGV.extend(argv)
    for flag in ("--force-failure", "--from-gn"):
        while flag in argv:
            argv.remove(flag)
            FORCE_FAILURE = FORCE_FAILURE or flag == "--force-failure"
    sys.argv = [sys.argv[0]] + argv
    test_runner.main()


if __name__ == "__main__":
    main()
