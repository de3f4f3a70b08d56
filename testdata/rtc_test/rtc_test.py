"""End-to-end test of a (fake) RTC device, in the style of a Lacewing test.

Exercises the pieces a bundled Python test typically needs: a compiled
extension (`fidl_codec`) that links a further shared library, FIDL IR data
files, a helper package inside the archive, child processes started with
`sys.executable`, asyncio, sqlite3, ssl and ctypes.

Run as `python3 rtc_test.pyz [--year N] [--force-failure] [--echo-argv] ...`.
Exits 0 if all tests pass, 1 otherwise.
"""

import ctypes
import datetime
import json
import logging
import os
import ssl
import subprocess
import sys
import unittest

import fidl_codec
import rtc_helpers
from lacewing_utils import fidl_ir
from lacewing_utils.fake_device import (
    RTC_LIBRARY,
    RTC_PROTOCOL,
    DeviceError,
    FakeRtcDevice,
    RtcTime,
)

_LOG = logging.getLogger("rtc_test")

# Replaced by main() with the parsed command line; the defaults let the
# tests also run under a plain unittest runner.
OPTIONS = rtc_helpers.parse_options([])[0]


class FidlIrTest(unittest.TestCase):
    def test_ir_files_found_and_parse(self):
        _LOG.info("FIDL IR directory: %s", fidl_ir.fidl_ir_dir())
        libraries = fidl_ir.available_libraries()
        self.assertIn(RTC_LIBRARY, libraries)
        self.assertIn("fuchsia.io", libraries)
        for name in (RTC_LIBRARY, "fuchsia.io"):
            ir = fidl_ir.load_ir(name)
            self.assertEqual(ir["name"], name)
            self.assertTrue(ir["protocol_declarations"], f"{name} declares no protocols")

    def test_rtc_ordinals_from_ir(self):
        ir = fidl_ir.load_ir(RTC_LIBRARY)
        get = fidl_ir.method_ordinal(ir, RTC_PROTOCOL, "Get")
        set_ = fidl_ir.method_ordinal(ir, "Device", "Set")
        # fidlc ordinals are 63-bit hashes: nonzero, distinct, top bit clear.
        for ordinal in (get, set_):
            self.assertIsInstance(ordinal, int)
            self.assertGreater(ordinal, 0)
            self.assertLess(ordinal, 1 << 63)
        self.assertNotEqual(get, set_)
        with self.assertRaises(KeyError):
            fidl_ir.method_ordinal(ir, RTC_PROTOCOL, "NoSuchMethod")


class FidlCodecTest(unittest.TestCase):
    def test_round_trip(self):
        ordinal = fidl_ir.method_ordinal(fidl_ir.load_ir(RTC_LIBRARY), RTC_PROTOCOL, "Set")
        payload = json.dumps({"rtc": {"year": 2024}}).encode()
        message = fidl_codec.encode(ordinal, payload, txid=42)
        self.assertEqual(len(message), fidl_codec.HEADER_SIZE + len(payload) + fidl_codec.TRAILER_SIZE)
        self.assertEqual(fidl_codec.decode(message), (42, ordinal, payload))

    def test_rejects_corruption(self):
        message = bytearray(fidl_codec.encode(1, b"payload"))
        message[fidl_codec.HEADER_SIZE] ^= 0xFF  # Flip a payload byte.
        with self.assertRaisesRegex(ValueError, "checksum"):
            fidl_codec.decode(bytes(message))
        with self.assertRaisesRegex(ValueError, "too short"):
            fidl_codec.decode(b"\x00" * 8)

    def test_internal_library_version(self):
        self.assertEqual(fidl_codec.internal_version(), "fci-1.0")


class FakeDeviceTest(unittest.IsolatedAsyncioTestCase):
    async def test_set_then_get(self):
        wanted = RtcTime(OPTIONS.year, 2, 29 if _is_leap(OPTIONS.year) else 28, 13, 37, 42)
        async with FakeRtcDevice.start() as device:
            self.assertNotEqual(device.pid, os.getpid())
            before = await device.get()
            _LOG.info("device time before Set: %s", before)
            await device.set(wanted)
            self.assertEqual(await device.get(), wanted)

    async def test_invalid_time_is_rejected(self):
        async with FakeRtcDevice.start() as device:
            before = await device.get()
            with self.assertRaises(DeviceError):
                await device.set(RtcTime(2023, 2, 30, 0, 0, 0))
            self.assertEqual(await device.get(), before)

    async def test_readings_logged_to_sqlite(self):
        log = rtc_helpers.ReadingLog()
        self.addCleanup(log.close)
        start = RtcTime(OPTIONS.year, 12, 31, 23, 59, 58)
        async with FakeRtcDevice.start(initial=start) as device:
            first = await device.get()
            self.assertEqual(first, start)
            log.record("device", first.to_datetime())
            await device.set(RtcTime(OPTIONS.year, 12, 31, 23, 59, 59))
            log.record("device", (await device.get()).to_datetime())
        log.record("host", datetime.datetime.now())
        self.assertEqual(log.count(), 3)
        self.assertEqual(log.count("device"), 2)
        self.assertEqual(log.latest("device"), f"{OPTIONS.year:04d}-12-31T23:59:59")


class RuntimeTest(unittest.TestCase):
    """Checks standard-library pieces that depend on bundled native code."""

    def test_ssl(self):
        context = ssl.create_default_context()
        self.assertEqual(context.verify_mode, ssl.CERT_REQUIRED)
        self.assertTrue(ssl.OPENSSL_VERSION)
        _LOG.info("ssl: %s", ssl.OPENSSL_VERSION)

    def test_ctypes(self):
        libc = ctypes.CDLL(None)  # The symbols already loaded in this process.
        self.assertEqual(libc.getpid(), os.getpid())

    def test_subprocess_uses_same_interpreter(self):
        result = subprocess.run(
            [sys.executable, "-c", "import sys; print(sys.version_info[:3])"],
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertEqual(result.stdout.strip(), str(sys.version_info[:3]))


class ForcedFailureTest(unittest.TestCase):
    def test_not_forced_to_fail(self):
        # Lets harnesses check that a failing test yields a failing exit status.
        self.assertFalse(OPTIONS.force_failure, "failure forced by --force-failure")


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def main():
    global OPTIONS
    OPTIONS, extra = rtc_helpers.parse_options(sys.argv[1:])
    if OPTIONS.echo_argv:
        # The raw argv, not the parsed one: callers compare it byte for byte.
        print(json.dumps(sys.argv[1:]), flush=True)
    rtc_helpers.configure_logging()
    if extra:
        _LOG.info("ignoring extra arguments: %r", extra)

    # unittest must not see our options; it only gets the program name.
    result = unittest.main(argv=[sys.argv[0]], verbosity=2, exit=False).result
    # An empty run would otherwise count as success (e.g. if the test module
    # was not the one unittest looked in).
    ok = result.wasSuccessful() and result.testsRun > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
