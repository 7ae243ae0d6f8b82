# SPDX-License-Identifier: GPL-3.0-or-later
"""Live capture throughput: decoders and the session pipeline vs the 2 × 100 Hz a capture needs.

Reference measured in the same run: ``struct.unpack`` of a 62-byte frame
(the cheapest conceivable decode) — each decoder's cost is given as a ratio
to it; headroom is how many 2 × 100 Hz captures one core could sustain.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from step2motion_addon.devices import moticon_udp, open_frame, orphe
from step2motion_addon.devices.frame import Frame
from step2motion_addon.devices.session import LiveSession, drain

NEEDED = 200.0          # frames per second for two insoles at 100 Hz


def _rate(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


class _Idle:
    async def run(self, session):
        import asyncio
        await asyncio.Future()


def main() -> None:
    frame = open_frame.encode("left", 1, 1000, np.arange(16) * 0.25, [0, 0, 1], [1, 2, 3], 500.0, (0.1, 0.0))
    text = moticon_udp.encode(1.0, {"pressure": np.arange(16) * 0.25, "force": 500.0}, {"force": 400.0})
    packet = struct.pack(">BHBBBH", 56, 1, 1, 2, 3, 4) + bytes(64)
    raw = struct.Struct("<BBHIBB16H6hHhhH")
    n = 20000
    ref = _rate(lambda: raw.unpack(frame), n)
    rows = [("struct.unpack 62 B (reference)", ref, 1)]
    rows.append(("open_frame.decode", _rate(lambda: open_frame.decode(frame), n), 1))
    rows.append(("moticon_udp.decode (2 feet)", _rate(lambda: moticon_udp.decode(text), n // 4), 2))
    rows.append(("orphe.decode (2 samples)", _rate(lambda: orphe.decode(packet), n // 2), 2))
    session = LiveSession(_Idle()).start()
    frames = [Frame("left" if i % 2 else "right", (i // 2) & 0xFFFF, i * 0.005, np.zeros(16, np.float32),
                    host_ns=time.monotonic_ns()) for i in range(n)]
    t = time.perf_counter()
    fut = session.submit(_ingest_all(session, frames))
    fut.result()
    ingest = n / (time.perf_counter() - t)
    drain(session, 10**6)
    session.stop()
    rows.append(("session ingest (seq + clock fit + queue)", ingest, 1))
    print(f"{'stage':42s} {'packets/s':>12s} {'frames/s':>12s} {'x reference':>12s} {'x needed':>10s}")
    for name, rate, per in rows:
        print(f"{name:42s} {rate:12.0f} {rate * per:12.0f} {ref / rate:12.1f} {rate * per / NEEDED:10.0f}")


async def _ingest_all(session, frames):
    for f in frames:
        session.ingest([f])


if __name__ == "__main__":
    main()
