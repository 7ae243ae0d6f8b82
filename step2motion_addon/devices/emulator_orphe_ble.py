# SPDX-License-Identifier: GPL-3.0-or-later
"""An emulated ORPHE insole: a BLE GATT server (``bless``) speaking ORPHE's documented protocol.

For tests of :class:`~.ble.OrpheBleSource` on machines with BlueZ (or the
private bluezoo environment of ``tools/ble_test_env.py``); ``bless`` is
imported lazily. One process per insole::

    python -m step2motion_addon.devices.emulator_orphe_ble --mount left --name INS-A1 --adapter hci1

It advertises the name, serves DEVICE_INFORMATION (battery, mount position,
acc/gyro range indices) and, after the ``[0x0D, 4]`` mode write, notifies
type-56 SENSOR_VALUES packets (2 samples each, 50 packets/s) built from a take
(default: a synthetic walk; the 16 cells summed into ORPHE's 6 regions, as
counts of 0.01 N/cm²).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time

import numpy as np

from . import orphe

# ORPHE's 6 regions from the 16-cell layout (toe medial, mid medial, toe lateral, centre, mid lateral, heel).
REGIONS = ((12, 13, 15), (8, 10), (11, 14), (9, 7, 6), (4, 5), (0, 1, 2, 3))
ACC_RANGE_INDEX = 3          # 16 g
GYRO_RANGE_INDEX = 3         # 2000 dps


def device_information(battery: int, mount_left: bool) -> bytes:
    """20 bytes: battery, mount position (bit 0: 0 left, 1 right), ranges at 8/9, firmware at 18, checksum."""
    b = bytearray(20)
    b[0], b[1] = battery, 0 if mount_left else 1
    b[8], b[9], b[18] = ACC_RANGE_INDEX, GYRO_RANGE_INDEX, 1
    b[19] = sum(b[:19]) & 0xFF
    return bytes(b)


def encode_100hz(counter: int, t: float, samples) -> bytes:
    """One type-56 packet: header time = the older sample (at offset 40), offset 8 = 10 ms later.

    ``samples``: two (acc g, gyro dps, cells counts) tuples, oldest first.
    """
    day = t % 86400.0
    ms = int(round((day - int(day)) * 1000)) % 1000
    s = int(day)
    out = bytearray(struct.pack(">BHBBBH", orphe.TYPE_100HZ, counter & 0xFFFF, s // 3600, (s // 60) % 60,
                                s % 60, ms))
    acc_k = 32768.0 / (2.0, 4.0, 8.0, 16.0)[ACC_RANGE_INDEX]
    gyro_k = 32768.0 / (250.0, 500.0, 1000.0, 2000.0)[GYRO_RANGE_INDEX]
    body = {}
    for slot, (acc, gyro, cells) in zip((1, 0), samples):        # older sample at offset 40
        q = (16384, 0, 0, 0)
        g = [int(np.clip(round(v * gyro_k), -32768, 32767)) for v in gyro]
        a = [int(np.clip(round(v * acc_k), -32768, 32767)) for v in acc]
        c = [int(np.clip(round(v), 0, 65535)) for v in cells]
        body[slot] = struct.pack(">4h3h3h6H", *q, *g, *a, *c)
    out += body[0] + body[1]
    return bytes(out)


class OrpheInsoleEmulator:
    def __init__(self, mount: str, name: str, take=None, adapter: str | None = "hci1", battery: int = 64):
        self.mount, self.name, self.take, self.adapter, self.battery = mount, name, take, adapter, battery
        self.server = None
        self.modes: list = []
        self._stream: asyncio.Task | None = None

    async def start(self) -> None:
        from bless import (BlessServer, GATTAttributePermissions as Perm,
                           GATTCharacteristicProperties as Prop)
        from dbus_next import Variant
        if self.take is None:
            from ..core.synthetic import synthetic_walk
            self.take = synthetic_walk(duration=20.0, rate=100.0, seed=0 if self.mount == "left" else 1)
        server = BlessServer(name=self.name, adapter=self.adapter)
        server.write_request_func = self._on_write
        server.read_request_func = lambda char, **kw: char.value
        await server.add_new_service(orphe.SERVICE_INFO)
        await server.add_new_characteristic(orphe.SERVICE_INFO, orphe.CHAR_DEVICE_INFORMATION,
                                            Prop.read | Prop.write, bytearray(device_information(
                                                self.battery, self.mount == "left")),
                                            Perm.readable | Perm.writeable)
        await server.add_new_characteristic(orphe.SERVICE_INFO, orphe.CHAR_DATE_TIME, Prop.read | Prop.write,
                                            bytearray(8), Perm.readable | Perm.writeable)
        await server.add_new_service(orphe.SERVICE_SENSOR)
        await server.add_new_characteristic(orphe.SERVICE_SENSOR, orphe.CHAR_SENSOR_VALUES, Prop.notify, None,
                                            Perm.readable)
        # bless reports Notifying before anyone subscribed; start honest (see emulator_ble).
        server.get_characteristic(orphe.CHAR_SENSOR_VALUES).gatt._notifying = False
        await server.start()
        props = server.adapter.get_interface("org.freedesktop.DBus.Properties")
        await props.call_set("org.bluez.Adapter1", "Discoverable", Variant("b", True))
        self.server = server

    def _on_write(self, char, value, **kwargs) -> None:
        value = bytes(value)
        if str(char.uuid).lower() != orphe.CHAR_DEVICE_INFORMATION or len(value) < 2:
            return
        if value[0] == orphe.CMD_MODE:
            self.modes.append(value[1])
            if value[1] == 4 and (self._stream is None or self._stream.done()):
                self._stream = asyncio.get_event_loop().create_task(self._run_stream())

    async def _run_stream(self) -> None:
        foot = self.take.feet[self.mount]
        n = len(foot)
        cells = np.stack([foot.pressure[:, list(r)].sum(axis=1) for r in REGIONS], axis=1) * 100.0
        start = time.monotonic()
        counter = 0
        while True:
            due = start + counter * 0.02
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            i = (2 * counter) % n
            j = (i + 1) % n
            pkt = encode_100hz(counter, time.time(), [(foot.acc[k], foot.gyro[k], cells[k]) for k in (i, j)])
            char = self.server.get_characteristic(orphe.CHAR_SENSOR_VALUES)
            char.value = bytearray(pkt)
            self.server.update_value(orphe.SERVICE_SENSOR, orphe.CHAR_SENSOR_VALUES)
            counter += 1


async def _main(args) -> None:
    emu = OrpheInsoleEmulator(args.mount, args.name, adapter=args.adapter, battery=args.battery)
    await emu.start()
    print(f"advertising {emu.name} on {args.adapter}", flush=True)
    while True:
        await asyncio.sleep(3600)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Emulated ORPHE BLE insole (needs bless and BlueZ).")
    parser.add_argument("--mount", choices=("left", "right"), required=True)
    parser.add_argument("--name", default=None, help="advertised name (default INS-L / INS-R)")
    parser.add_argument("--adapter", default="hci1")
    parser.add_argument("--battery", type=int, default=64)
    args = parser.parse_args(argv)
    args.name = args.name or ("INS-L" if args.mount == "left" else "INS-R")
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
