# SPDX-License-Identifier: GPL-3.0-or-later
"""BLE sources: open-frame insoles over the Nordic UART Service, and ORPHE insoles (bleak 3.x).

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
import threading
import time
import warnings

from . import open_frame as of
from .frame import FrameError


_apartment = threading.local()


def ensure_mta() -> None:
    """On Windows, leave the single-threaded COM apartment bleak's WinRT backend cannot use.

    Once per thread, before its first Bluetooth call: ``uninitialize_sta`` tears down
    whatever COM holds, so a second call would undo what WinRT set up since. A no-op
    elsewhere, or when bleak is missing (the scan reports that).
    """
    if sys.platform != "win32" or getattr(_apartment, "done", False):
        return
    _apartment.done = True
    try:
        from bleak.backends.winrt.util import uninitialize_sta
        uninitialize_sta()
    except Exception:
        pass


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
        ensure_mta()
        self._lock = asyncio.Lock()
        found = await self._scan(set(self.feet), self.scan_timeout)
        missing = [s for s in self.feet if s not in found]
        if not found:
            raise RuntimeError(f"no insole found in {self.scan_timeout:g} s (looking for {self._looking_for()})")
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
                self._last_rx[side] = None
                await self._start_stream(session, side, device, client)
                session.device_event(self.side_of(side), "connected", device.name or "")
                delay = self.backoff[0]
                reason = await self._watch(side, disconnected)
            except MtuTooSmall:
                await _quiet_disconnect(client)
                raise
            except asyncio.CancelledError:
                if client is not None and client.is_connected:
                    try:
                        await asyncio.wait_for(self._stop_stream(client), 1)
                    except Exception:
                        pass
                await _quiet_disconnect(client)
                raise
            except (BleakError, asyncio.TimeoutError, OSError, EOFError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            await _quiet_disconnect(client)
            kind = "stalled" if reason.startswith("no data") else "disconnected"
            session.device_event(self.side_of(side), kind, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
            # The insole may come back with a new address or object: look for it again.
            found = await self._scan({side}, min(self.scan_timeout, 10.0))
            if side in found:
                self.devices[side] = found[side][0]

    def side_of(self, slot: str) -> str:
        """The foot a connection slot streams (the same for open frames: the name says it)."""
        return slot

    def _looking_for(self) -> str:
        return f"names {', '.join(of.NAME_PREFIX[s] + '*' for s in self.feet)} with the NUS service"

    async def _start_stream(self, session, side: str, device, client) -> None:
        """Open frame over NUS: MTU check, battery, notifications on TX, start command on RX."""
        from bleak.exc import BleakError
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
        await client.start_notify(tx, self._callback(session, side))
        await client.write_gatt_char(of.NUS_RX, of.command_start(self.rate_hz), response=True)

    async def _stop_stream(self, client) -> None:
        await client.write_gatt_char(of.NUS_RX, of.command_stop(), response=False)

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
            except FrameError as exc:      # counted and kept raw (marked rejected), never decoded
                session.bad_packet(exc, "open", bytes(data), "open_frame", side, host_ns)
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


class OrpheBleSource(BleSource):
    """ORPHE INSOLE / CORE over BLE (protocol facts from ORPHE's public SDK, see ``devices/orphe.py``).

    The insoles advertise a name containing ``INS`` and do not say which foot
    they are: the scan gives each found device a connection slot, and once
    connected the mount position read from DEVICE_INFORMATION (byte 1, bit 0:
    0 left, 1 right) decides the foot its frames and events belong to. Then:
    write ``[0x0D, mode]`` (4: 100 Hz, 2 samples per notification) to
    DEVICE_INFORMATION, wait for the device to switch, subscribe to
    SENSOR_VALUES. Accelerometer and gyro ranges come from DEVICE_INFORMATION
    bytes 8 and 9, the battery from byte 0. DATE_TIME is not written: the
    session's clock fit maps the device's time of day onto the host axis anyway.
    """

    ACC_RANGES = (2.0, 4.0, 8.0, 16.0)
    GYRO_RANGES = (250.0, 500.0, 1000.0, 2000.0)

    def __init__(self, feet=("left", "right"), mode: int = 4, mode_settle_s: float = 0.5,
                 pressure_scale: float = 1.0, **kw):
        kw.setdefault("min_mtu", 23)          # 72-byte notifications: any negotiated MTU that carries them
        super().__init__(feet=feet, rate_hz=100 if mode == 4 else 200, **kw)
        self.mode = int(mode)
        self.mode_settle_s = float(mode_settle_s)
        self.pressure_scale = float(pressure_scale)
        self.names: dict = {}                 # slot -> device name (found again by name after a drop)
        self.mounted: dict = {}               # slot -> foot from the mount position
        self.info: dict = {}                  # slot -> decoded DEVICE_INFORMATION

    def side_of(self, slot: str) -> str:
        return self.mounted.get(slot, slot)

    def _looking_for(self) -> str:
        return "ORPHE insoles (advertised name containing 'INS')"

    async def _scan(self, wanted: set, timeout: float) -> dict:
        from bleak import BleakScanner
        from . import orphe
        found: dict = {}
        done = asyncio.Event()
        by_name = {self.names[s]: s for s in wanted if s in self.names}
        seen_devices: dict = {}

        def seen(device, adv) -> None:
            name = adv.local_name or device.name or ""
            if orphe.NAME_PREFIX not in name:
                return
            if by_name:                       # a reconnect: the same device, by name
                slot = by_name.get(name)
                if slot is not None and slot not in found:
                    found[slot] = (device, adv)
            else:
                seen_devices.setdefault(name, (device, adv))
            if by_name and found.keys() >= set(by_name.values()):
                done.set()
            if not by_name and len(seen_devices) >= len(wanted):
                done.set()

        async with BleakScanner(seen, **self._kw()):
            try:
                await asyncio.wait_for(done.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        if not by_name:
            # Slots in name order; the mount position read at connect time decides the real foot.
            for slot, name in zip(sorted(wanted), sorted(seen_devices)):
                found[slot] = seen_devices[name]
                self.names[slot] = name
        return found

    async def _start_stream(self, session, side: str, device, client) -> None:
        from bleak.exc import BleakError
        from . import orphe
        info = bytes(await client.read_gatt_char(orphe.CHAR_DEVICE_INFORMATION))
        if len(info) < 10:
            raise BleakError(f"{device.name}: DEVICE_INFORMATION is {len(info)} bytes, expected at least 10")
        foot = "right" if info[1] & 1 else "left"
        other = [s for s, f in self.mounted.items() if f == foot and s != side]
        if other:
            session.errors.append(f"two ORPHE insoles are mounted as {foot} ({self.names.get(other[0])}, "
                                  f"{device.name}): set one to the other foot in ORPHE's app")
            raise BleakError(f"{device.name}: second {foot} insole")
        self.mounted[side] = foot
        config = orphe.OrpheConfig(side=foot, acc_range_g=self.ACC_RANGES[min(info[8], 3)],
                                   gyro_range_dps=self.GYRO_RANGES[min(info[9], 3)],
                                   pressure_scale=self.pressure_scale)
        self.info[side] = {"battery": info[0], "mount": info[1], "acc_range_g": config.acc_range_g,
                           "gyro_range_dps": config.gyro_range_dps,
                           "firmware": info[18] if len(info) > 18 else None}
        session.device_event(foot, "battery", str(int(info[0])))
        await client.write_gatt_char(orphe.CHAR_DEVICE_INFORMATION, bytes([orphe.CMD_MODE, self.mode]),
                                     response=True)
        await asyncio.sleep(self.mode_settle_s)      # the device ignores reads/notifies while it switches
        await client.start_notify(orphe.CHAR_SENSOR_VALUES, self._orphe_callback(session, side, config))

    async def _stop_stream(self, client) -> None:
        from . import orphe
        await client.stop_notify(orphe.CHAR_SENSOR_VALUES)

    def _orphe_callback(self, session, slot: str, config):
        from . import orphe

        def on_notify(_char, data: bytearray) -> None:
            host_ns = time.monotonic_ns()
            self._last_rx[slot] = host_ns * 1e-9
            try:
                frames = orphe.decode(bytes(data), config, host_ns)
            except FrameError as exc:
                session.bad_packet(exc, "orphe", bytes(data), "orphe", self.side_of(slot), host_ns)
                return
            session.good_packet("orphe")
            session.ingest(frames, bytes(data), "orphe")
        return on_notify

    def stats(self) -> dict:
        out = super().stats()
        out.update(kind="ble-orphe", devices={self.side_of(s): n for s, n in self.names.items()},
                   device_information={self.side_of(s): v for s, v in self.info.items()})
        return out


async def _quiet_disconnect(client) -> None:
    if client is None:
        return
    try:
        await asyncio.wait_for(client.disconnect(), 3.0)
    except Exception:
        pass
