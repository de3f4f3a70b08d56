"""rtc_test's device checks as a real Mobly test: a BaseTestClass with a Mobly
controller for the simulated RTC device (rtc_device), run through
mobly.test_runner on a generated testbed config, using the fidl_codec C
extension and the FIDL IR data files.

    mobly_rtc_test [--force-failure] [-c CONFIG] [other Mobly flags]

Without -c, the testbed config (one simulated device) is generated in a
fresh temp dir, which also holds Mobly's logs. Mobly prints its summary and
exits 0 only when every test passed.
"""

import json
import os
import sys
import tempfile

import fidl_codec
from mobly import asserts, base_test, test_runner

import rtc_device
from lacewing_utils import fidl_ir
from lacewing_utils.fake_device import RTC_LIBRARY, RTC_PROTOCOL, DeviceError, RtcTime

FORCE_FAILURE = False


class RtcMoblyTest(base_test.BaseTestClass):
    def setup_class(self):
        self.dut = self.register_controller(rtc_device)[0]

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
    if "--force-failure" in argv:
        FORCE_FAILURE = True
        argv.remove("--force-failure")
    if "-c" not in argv and "--config" not in argv:
        log_dir = tempfile.mkdtemp(prefix="mobly_rtc_test-")
        config = os.path.join(log_dir, "testbed.yaml")
        testbed = {
            "TestBeds": [
                {"Name": "SimulatedRtc", "Controllers": {"RtcDevice": [{"name": "rtc0", "initial_year": 2024}]}}
            ],
            "MoblyParams": {"LogPath": log_dir},
        }
        with open(config, "w") as f:
            json.dump(testbed, f)  # JSON is YAML
        argv = ["-c", config] + argv
    sys.argv = [sys.argv[0]] + argv
    test_runner.main()


if __name__ == "__main__":
    main()
