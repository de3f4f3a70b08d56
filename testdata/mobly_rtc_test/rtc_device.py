"""A Mobly controller for the simulated RTC device of lacewing_utils.

Mobly drives controllers synchronously; the device client is asyncio, so
each RtcDevice runs its own event loop. Config (from the testbed):
    RtcDevice: [{"name": "rtc0", "initial_year": 2024}]
"""

import asyncio

from lacewing_utils.fake_device import FakeRtcDevice, RtcTime

MOBLY_CONTROLLER_CONFIG_NAME = "RtcDevice"


class RtcDevice:
    def __init__(self, config):
        self.name = config.get("name", "rtc")
        self.initial_year = int(config.get("initial_year", 2024))
        self._loop = asyncio.new_event_loop()
        self._session = FakeRtcDevice.start(initial=RtcTime(self.initial_year, 1, 1, 0, 0, 0))
        self._device = self._loop.run_until_complete(self._session.__aenter__())

    @property
    def pid(self):
        return self._device.pid

    def get(self):
        return self._loop.run_until_complete(self._device.get())

    def set(self, time):
        return self._loop.run_until_complete(self._device.set(time))

    def close(self):
        try:
            self._loop.run_until_complete(self._session.__aexit__(None, None, None))
        finally:
            self._loop.close()


def create(configs):
    return [RtcDevice(config) for config in configs]


def destroy(devices):
    for device in devices:
        device.close()


def get_info(devices):
    return [{"name": d.name, "pid": d.pid} for d in devices]
