# SPDX-License-Identifier: GPL-3.0-or-later
"""An emulated open-frame insole: a BLE GATT server (NUS + Battery) built with ``bless``.

For tests and demos on machines with BlueZ (or the private bluezoo environment
of ``tools/ble_test_env.py``). ``bless`` is imported lazily: the extension
does not bundle it. Run one process per insole so a test can kill one::

    python -m step2motion_addon.devices.emulator_ble --side left --adapter hci1 [--take T.s2m]

It advertises ``OI-L-xxxx``/``OI-R-xxxx`` with the NUS service, waits for the
start command on RX and then notifies one open frame per sample on TX at the
requested rate, looping over the take (default: a synthetic walk).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from . import open_frame as of

BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


class BleInsoleEmulator:
    def __init__(self, side: str, take=None, adapter: str | None = "hci1", serial: str = "0001",
                 battery: int = 87):
        self.side = side
        self.name = of.NAME_PREFIX[side] + serial
        self.adapter = adapter
        self.take = take
        self.battery = battery
        self.server = None
        self.sent = 0
        self.commands: list[tuple] = []
        self._stream: asyncio.Task | None = None
        self._clock0 = time.monotonic()

    async def start(self) -> None:
        from bless import (BlessServer, GATTAttributePermissions as Perm,
                           GATTCharacteristicProperties as Prop)
        from dbus_next import Variant
        if self.take is None:
            from ..core.synthetic import synthetic_walk
            self.take = synthetic_walk(duration=20.0, rate=100.0, seed=1 if self.side == "right" else 0)
        server = BlessServer(name=self.name, adapter=self.adapter)
        server.write_request_func = self._on_write
        server.read_request_func = lambda char, **kw: char.value
        # NUS first: bless advertises only the first service's UUID.
        await server.add_new_service(of.NUS_SERVICE)
        await server.add_new_characteristic(of.NUS_SERVICE, of.NUS_RX,
                                            Prop.write | Prop.write_without_response, None, Perm.writeable)
        await server.add_new_characteristic(of.NUS_SERVICE, of.NUS_TX, Prop.notify, None, Perm.readable)
        await server.add_new_service(BATTERY_SERVICE)
        await server.add_new_characteristic(BATTERY_SERVICE, BATTERY_LEVEL, Prop.read | Prop.notify,
                                            bytearray([self.battery]), Perm.readable)
        for uuid in (of.NUS_TX, BATTERY_LEVEL):
            # bless reports Notifying=true before anyone subscribed; BlueZ (and bluezoo) then
            # never forward the central's StartNotify. Start honest: not notifying.
            server.get_characteristic(uuid).gatt._notifying = False
        await server.start()
        # Make the adapter discoverable so a scanning central sees the advertisement.
        props = server.adapter.get_interface("org.freedesktop.DBus.Properties")
        await props.call_set("org.bluez.Adapter1", "Discoverable", Variant("b", True))
        self.server = server

    def _on_write(self, char, value, **kwargs) -> None:
        if str(char.uuid).lower() != of.NUS_RX:
            return
        try:
            cmd, arg = of.parse_command(bytes(value))
        except of.FrameError:
            return
        self.commands.append((cmd, arg))
        loop = asyncio.get_event_loop()
        if cmd == of.CMD_START:
            if self._stream is None or self._stream.done():
                self._stream = loop.create_task(self._run_stream(float(arg or 100)))
        elif cmd == of.CMD_STOP and self._stream is not None:
            self._stream.cancel()
        elif cmd == of.CMD_TIME_SYNC:
            self._clock0 = time.monotonic() - arg * 1e-6

    async def _run_stream(self, rate: float) -> None:
        foot = self.take.feet[self.side]
        n = len(foot)
        start = time.monotonic()
        seq = 0
        while True:
            i = seq % n
            due = start + seq / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t_us = int((time.monotonic() - self._clock0) * 1e6)
            frame = of.encode(self.side, seq, t_us, foot.pressure[i],
                              None if foot.acc is None else foot.acc[i],
                              None if foot.gyro is None else foot.gyro[i],
                              None if foot.force is None else float(foot.force[i]),
                              None if foot.cop is None else foot.cop[i])
            char = self.server.get_characteristic(of.NUS_TX)
            char.value = bytearray(frame)
            self.server.update_value(of.NUS_SERVICE, of.NUS_TX)
            self.sent += 1
            seq += 1

    async def stop(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        if self.server is not None:
            await self.server.stop()


async def _main(args) -> None:
    take = None
    if args.take:
        from ..core.formats import load_take
        take = load_take(args.take)
    emu = BleInsoleEmulator(args.side, take, args.adapter, args.serial)
    await emu.start()
    print(f"advertising {emu.name} on {args.adapter}", flush=True)
    while True:
        await asyncio.sleep(3600)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Emulated open-frame BLE insole (needs bless and BlueZ).")
    parser.add_argument("--side", choices=("left", "right"), required=True)
    parser.add_argument("--adapter", default="hci1")
    parser.add_argument("--serial", default=None, help="4 characters after OI-L-/OI-R- (default by side)")
    parser.add_argument("--take", default=None, help="take to stream (default: a synthetic walk)")
    args = parser.parse_args(argv)
    args.serial = args.serial or ("00A1" if args.side == "left" else "00B2")
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
