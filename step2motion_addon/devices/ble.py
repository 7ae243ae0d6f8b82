# SPDX-License-Identifier: GPL-3.0-or-later
"""BLE source for open-frame insoles over the Nordic UART Service (bleak 3.x).

One scan finds both feet (NUS service UUID + ``OI-L-``/``OI-R-`` name); the
``BLEDevice`` objects go to ``BleakClient``. Connects are serialised with one
``asyncio.Lock`` (BlueZ and most adapters handle one connection attempt at a
time), then the feet stream concurrently. Each foot has a
``disconnected_callback`` *and* a no-data watchdog: some stacks (and a
peripheral that dies) never report a disconnect, so ~10 missing frame periods
(at least ``min_stall_s``) count as a stall and the foot is reconnected with exponential backoff. The
notification callback only timestamps, decodes and hands over.

bleak is imported inside :meth:`BleSource.run` so the rest of the package
works where it is not installed.
"""

from __future__ import annotations

import asyncio
import sys
import time
import warnings

from . import open_frame as of
from .frame import FrameError


class MtuTooSmall(RuntimeError):
    """The link cannot carry one frame per notification: retrying will not help."""


def negotiated_mtu(client, tx_char) -> int:
    """ATT MTU of a connected client, from the public API of each backend.

    BlueZ reports it per characteristic (``MTU`` property, BlueZ ≥ 5.62) as the
    maximum write size + 3, while ``client.mtu_size`` there is a 23 placeholder
    with a warning unless acquired; other backends report ``mtu_size`` directly.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mtu = int(client.mtu_size)
    if caught and tx_char is not None:
        mtu = int(tx_char.max_write_without_response_size) + 3
    return mtu


class BleSource:
    def __init__(self, feet=("left", "right"), adapter: str | None = None, scan_timeout: float = 20.0,
                 rate_hz: int = 100, stall_periods: int = 10, min_stall_s: float = 0.5,
                 first_data_timeout: float = 3.0,
                 connect_timeout: float = 15.0, backoff: tuple = (0.5, 8.0), cells: int = 16,
                 min_mtu: int | None = None):
        self.feet = tuple(feet)
        self.adapter = adapter
        self.scan_timeout = scan_timeout
        self.rate_hz = rate_hz
        # ~10 missed frame periods, but never less than min_stall_s: OS scheduling and BLE
        # connection events deliver in bursts, and a false stall costs a reconnect.
        self.stall_s = max(stall_periods / rate_hz, min_stall_s)
        self.first_data_timeout = first_data_timeout
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.min_mtu = min_mtu or of.required_mtu(cells, True, True)
        self.devices: dict = {}
        self.mtu: dict = {}
        self.attempts = {s: 0 for s in self.feet}
        self._lock: asyncio.Lock | None = None
        self._last_rx: dict = {}

    def _kw(self) -> dict:
        return {"bluez": {"adapter": self.adapter}} if self.adapter else {}

    async def _scan(self, wanted: set, timeout: float) -> dict:
        """side -> (BLEDevice, AdvertisementData), one scan for every wanted foot."""
        from bleak import BleakScanner
        found: dict = {}
        done = asyncio.Event()

        def seen(device, adv) -> None:
            side = of.side_from_name(adv.local_name or device.name)
            if side in wanted and side not in found:
                found[side] = (device, adv)
                if wanted <= found.keys():
                    done.set()

        async with BleakScanner(seen, service_uuids=[of.NUS_SERVICE], **self._kw()):
            try:
                await asyncio.wait_for(done.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return found

    async def run(self, session) -> None:
        if sys.platform == "win32":
            # WinRT needs a multi-threaded apartment; our loop thread must not be STA.
            try:
                from bleak.backends.winrt.util import uninitialize_sta
                uninitialize_sta()
            except Exception:
                pass
        self._lock = asyncio.Lock()
        found = await self._scan(set(self.feet), self.scan_timeout)
        missing = [s for s in self.feet if s not in found]
        if not found:
            raise RuntimeError(f"no insole found in {self.scan_timeout:g} s (looking for names "
                               f"{', '.join(of.NAME_PREFIX[s] + '*' for s in self.feet)} with the NUS service)")
        for side in missing:
            session.errors.append(f"{side} insole not found; capturing the other foot only")
        for side, (dev, adv) in found.items():
            self.devices[side] = dev
            if adv.rssi is not None:
                session.device_event(side, "rssi", str(adv.rssi))
        try:
            # A TaskGroup: when one foot fails for good (MTU), the other is cancelled too.
            async with asyncio.TaskGroup() as group:
                for side in found:
                    group.create_task(self._foot(session, side))
        except* MtuTooSmall as eg:
            raise eg.exceptions[0] from None

    async def _foot(self, session, side: str) -> None:
        from bleak import BleakClient
        from bleak.exc import BleakError
        delay = self.backoff[0]
        while True:
            disconnected = asyncio.Event()
            client = None
            reason = ""
            self.attempts[side] += 1
            try:
                async with self._lock:
                    device = self.devices[side]
                    client = BleakClient(device, disconnected_callback=lambda _c: disconnected.set(),
                                         timeout=self.connect_timeout, **self._kw())
                    await client.connect()
                tx = client.services.get_characteristic(of.NUS_TX)
                if tx is None:
                    raise BleakError(f"{device.name} has no NUS TX characteristic")
                mtu = negotiated_mtu(client, tx)
                self.mtu[side] = mtu
                if mtu < self.min_mtu:
                    raise MtuTooSmall(f"{side} insole {device.name}: ATT MTU {mtu} < {self.min_mtu} needed for "
                                      f"one {self.min_mtu - 3}-byte frame per notification; the firmware must "
                                      f"accept a larger MTU")
                await self._read_battery(session, side, client)
                self._last_rx[side] = None
                await client.start_notify(tx, self._callback(session, side))
                await client.write_gatt_char(of.NUS_RX, of.command_start(self.rate_hz), response=True)
                session.device_event(side, "connected", device.name or "")
                delay = self.backoff[0]
                reason = await self._watch(side, disconnected)
            except MtuTooSmall:
                await _quiet_disconnect(client)
                raise
            except asyncio.CancelledError:
                if client is not None and client.is_connected:
                    try:
                        await asyncio.wait_for(client.write_gatt_char(of.NUS_RX, of.command_stop(), response=False), 1)
                    except Exception:
                        pass
                await _quiet_disconnect(client)
                raise
            except (BleakError, asyncio.TimeoutError, OSError, EOFError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            await _quiet_disconnect(client)
            kind = "stalled" if reason.startswith("no data") else "disconnected"
            session.device_event(side, kind, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
            # The insole may come back with a new address or object: look for it again.
            found = await self._scan({side}, min(self.scan_timeout, 10.0))
            if side in found:
                self.devices[side] = found[side][0]

    async def _watch(self, side: str, disconnected: asyncio.Event) -> str:
        """Return why the link is considered lost: a disconnect or no data for ~10 periods."""
        start = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(disconnected.wait(), self.stall_s / 2)
                return "disconnected by the device or the OS"
            except asyncio.TimeoutError:
                pass
            last = self._last_rx.get(side)
            now = time.monotonic()
            if last is None:
                if now - start > self.first_data_timeout:
                    return f"no data within {self.first_data_timeout:g} s of connecting"
            elif now - last > self.stall_s:
                return f"no data for {now - last:.2f} s (watchdog)"

    def _callback(self, session, side: str):
        decode = of.decode

        def on_notify(_char, data: bytearray) -> None:
            host_ns = time.monotonic_ns()
            self._last_rx[side] = host_ns * 1e-9
            try:
                frame = decode(data, host_ns)
            except FrameError as exc:
                session.bad_packet(exc, "open")
                return
            session.good_packet("open")
            if frame.side != side:
                # A mislabelled insole: trust the connection, not the flag.
                frame.side = side
            session.ingest([frame], bytes(data), "open_frame")
        return on_notify

    async def _read_battery(self, session, side: str, client) -> None:
        char = client.services.get_characteristic("00002a19-0000-1000-8000-00805f9b34fb")
        if char is None:
            return
        try:
            value = await asyncio.wait_for(client.read_gatt_char(char), 2.0)
            if value:
                session.device_event(side, "battery", str(int(value[0])))
        except Exception:       # optional information: never fail a connection on it
            pass

    def stats(self) -> dict:
        return {"kind": "ble", "devices": {s: getattr(d, "name", None) for s, d in self.devices.items()},
                "mtu": dict(self.mtu), "connect_attempts": dict(self.attempts)}


async def _quiet_disconnect(client) -> None:
    if client is None:
        return
    try:
        await asyncio.wait_for(client.disconnect(), 3.0)
    except Exception:
        pass
