"""A fake RTC device that runs as a child process, plus an asyncio client.

The device speaks a FIDL-like protocol over its stdin/stdout: every message
is a 4-byte little-endian length followed by a `fidl_codec.encode()`d frame
whose payload is JSON. It answers the `Get` and `Set` methods of
`fuchsia.hardware.rtc/Device`; their ordinals come from the FIDL IR and are
handed to the child on its command line, because the child (started with
`-c`) has no meaningful argv[0] from which to locate the IR itself.

The child is started with `sys.executable` since in a hermetic bundle that is
the only interpreter on the machine.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import struct
import sys

import fidl_codec

from lacewing_utils import fidl_ir

_LOG = logging.getLogger(__name__)

RTC_LIBRARY = "fuchsia.hardware.rtc"
RTC_PROTOCOL = "fuchsia.hardware.rtc/Device"

# zx_status_t values used by the real driver.
ZX_OK = 0
ZX_ERR_INVALID_ARGS = -10

_LENGTH = struct.Struct("<I")
# Sanity bound so a corrupted length prefix fails fast instead of making a
# reader wait for gigabytes that will never arrive.
_MAX_MESSAGE_SIZE = 1 << 20


@dataclasses.dataclass(frozen=True)
class RtcTime:
    """Mirrors `fuchsia.hardware.rtc/Time`."""

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int

    def to_datetime(self):
        """Returns the time as a naive datetime; raises ValueError if invalid."""
        return datetime.datetime(
            self.year, self.month, self.day, self.hours, self.minutes, self.seconds
        )

    @classmethod
    def from_json(cls, obj):
        return cls(**{f.name: int(obj[f.name]) for f in dataclasses.fields(cls)})


class DeviceError(Exception):
    """The device rejected a request or broke the protocol."""


# --- Server side (runs in the child process) -------------------------------


def _read_exact(stream, n, what):
    """Reads exactly n bytes, or returns None on EOF before the first byte.

    Loops because a pipe may deliver a message in several pieces.
    """
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            if not data:
                return None
            raise EOFError(f"{what}: stream closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def serve(argv=None):
    """Runs the fake device on stdin/stdout until stdin is closed.

    `argv` (default: `sys.argv[1:]`) must give `--get-ordinal` and
    `--set-ordinal`; `--initial` sets the starting time as JSON.
    """
    parser = argparse.ArgumentParser(prog="fake_rtc_device")
    parser.add_argument("--get-ordinal", type=int, required=True)
    parser.add_argument("--set-ordinal", type=int, required=True)
    parser.add_argument(
        "--initial",
        type=lambda s: RtcTime.from_json(json.loads(s)),
        # Real RTC drivers report this when the clock was never set.
        default=RtcTime(2000, 1, 1, 0, 0, 0),
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    # stdout carries the protocol: send any stray print() to stderr instead
    # of letting it corrupt the framing.
    sys.stdout = sys.stderr

    now = args.initial
    while True:
        header = _read_exact(requests, _LENGTH.size, "length prefix")
        if header is None:
            return  # The client closed the channel: shut down cleanly.
        (length,) = _LENGTH.unpack(header)
        if length > _MAX_MESSAGE_SIZE:
            sys.exit(f"fake_rtc_device: message of {length} bytes is too large")
        message = _read_exact(requests, length, "message")
        if message is None:
            sys.exit("fake_rtc_device: stream closed between length and message")
        txid, ordinal, payload = fidl_codec.decode(message)

        if ordinal == args.get_ordinal:
            response = {"rtc": dataclasses.asdict(now)}
        elif ordinal == args.set_ordinal:
            try:
                requested = RtcTime.from_json(json.loads(payload)["rtc"])
                requested.to_datetime()  # Validates the calendar fields.
            except (KeyError, TypeError, ValueError):
                response = {"status": ZX_ERR_INVALID_ARGS}
            else:
                now = requested
                response = {"status": ZX_OK}
        else:
            # A closed FIDL protocol closes the channel on unknown ordinals.
            sys.exit(f"fake_rtc_device: unknown ordinal {ordinal:#x}")

        reply = fidl_codec.encode(ordinal, json.dumps(response).encode(), txid=txid)
        replies.write(_LENGTH.pack(len(reply)) + reply)
        replies.flush()


# --- Client side ------------------------------------------------------------


def _archive_root():
    """Returns the sys.path entry that provides the `lacewing_utils` package.

    When imported from a zipapp this is the .pyz file itself (which works as
    a sys.path entry); otherwise it is the directory containing the package.
    """
    import lacewing_utils

    return os.path.dirname(os.path.dirname(os.path.abspath(lacewing_utils.__file__)))


def device_command(get_ordinal, set_ordinal, initial=None):
    """Returns the argv that starts the fake device in a child process.

    Both the package's archive and `fidl_codec`'s directory are passed
    explicitly, so the child does not depend on $PYTHONPATH.
    """
    bootstrap = (
        "import sys; sys.path[0:0] = sys.argv[1:3]; "
        "from lacewing_utils.fake_device import serve; serve(sys.argv[3:])"
    )
    codec_dir = os.path.dirname(os.path.abspath(fidl_codec.__file__))
    cmd = [
        sys.executable, "-c", bootstrap, _archive_root(), codec_dir,
        "--get-ordinal", str(get_ordinal),
        "--set-ordinal", str(set_ordinal),
    ]
    if initial is not None:
        cmd += ["--initial", json.dumps(dataclasses.asdict(initial))]
    return cmd


class FakeRtcDevice:
    """asyncio client of a fake RTC device child process.

    Use `FakeRtcDevice.start()`; the child is stopped when the block exits.
    """

    def __init__(self, process, get_ordinal, set_ordinal):
        self._process = process
        self._get_ordinal = get_ordinal
        self._set_ordinal = set_ordinal
        self._next_txid = 1
        # One request in flight at a time keeps replies trivially matched.
        self._lock = asyncio.Lock()

    @property
    def pid(self):
        return self._process.pid

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, ir=None, initial=None):
        """Starts the device; `ir` defaults to the IR of fuchsia.hardware.rtc."""
        if ir is None:
            ir = fidl_ir.load_ir(RTC_LIBRARY)
        get_ordinal = fidl_ir.method_ordinal(ir, RTC_PROTOCOL, "Get")
        set_ordinal = fidl_ir.method_ordinal(ir, RTC_PROTOCOL, "Set")
        process = await asyncio.create_subprocess_exec(
            *device_command(get_ordinal, set_ordinal, initial),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        _LOG.info("started fake RTC device, pid %d", process.pid)
        try:
            yield cls(process, get_ordinal, set_ordinal)
        finally:
            await cls._stop(process)

    @staticmethod
    async def _stop(process):
        # Closing stdin is the device's shutdown signal; kill only as a
        # last resort so a hung child cannot hang the test.
        if process.stdin and not process.stdin.is_closing():
            process.stdin.close()
        try:
            returncode = await asyncio.wait_for(process.wait(), timeout=10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise DeviceError("fake RTC device did not exit after stdin closed")
        _LOG.info("fake RTC device exited with %d", returncode)
        if returncode != 0:
            raise DeviceError(f"fake RTC device exited with status {returncode}")

    async def _call(self, ordinal, request):
        async with self._lock:
            txid = self._next_txid
            self._next_txid += 1
            message = fidl_codec.encode(ordinal, json.dumps(request).encode(), txid=txid)
            self._process.stdin.write(_LENGTH.pack(len(message)) + message)
            try:
                await self._process.stdin.drain()
                (length,) = _LENGTH.unpack(await self._process.stdout.readexactly(_LENGTH.size))
                if length > _MAX_MESSAGE_SIZE:
                    raise DeviceError(f"reply of {length} bytes is too large")
                reply = await self._process.stdout.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                raise DeviceError("fake RTC device closed the channel") from e
        reply_txid, reply_ordinal, payload = fidl_codec.decode(reply)
        if (reply_txid, reply_ordinal) != (txid, ordinal):
            raise DeviceError(
                f"reply (txid {reply_txid}, ordinal {reply_ordinal:#x}) does not "
                f"match request (txid {txid}, ordinal {ordinal:#x})"
            )
        return json.loads(payload)

    async def get(self):
        """Returns the device's current time as an RtcTime."""
        response = await self._call(self._get_ordinal, {})
        return RtcTime.from_json(response["rtc"])

    async def set(self, time):
        """Sets the device's time; raises DeviceError if it is rejected."""
        response = await self._call(self._set_ordinal, {"rtc": dataclasses.asdict(time)})
        if response["status"] != ZX_OK:
            raise DeviceError(f"Set({time}) failed with status {response['status']}")
