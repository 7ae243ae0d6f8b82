# SPDX-License-Identifier: GPL-3.0-or-later
"""Any take played back as a live source at its real rate (scaled by ``rate``).

Frames go straight into the session without encoding; the sequence is the
sample index and the device time the take time divided by ``rate``, so the
session's clock model and loss accounting see exactly what a device sends.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from .frame import Frame


class ReplaySource:
    def __init__(self, take, rate: float = 1.0, loop: bool = False):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.take, self.rate, self.loop = take, rate, loop
        self.sent = 0

    def _items(self):
        t0 = self.take.start
        items = []
        for side in self.take.sides:
            s = self.take.feet[side]
            for i in np.flatnonzero(s.valid):
                items.append(((float(s.time[i]) - t0) / self.rate, side, int(i)))
        items.sort(key=lambda x: (x[0], x[1]))
        return items

    async def run(self, session) -> None:
        items = self._items()
        for side in self.take.sides:
            session.device_event(side, "connected", "replay")
        lap = 0.0
        span = items[-1][0] + 1e-3 if items else 0.0
        start = time.monotonic()
        while True:
            for t, side, i in items:
                delay = start + lap + t - time.monotonic()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                s = self.take.feet[side]
                frame = Frame(side, i & 0xFFFF, lap + t, s.pressure[i].copy(),
                              None if s.acc is None else s.acc[i].copy(),
                              None if s.gyro is None else s.gyro[i].copy(),
                              None if s.force is None else float(s.force[i]),
                              None if s.cop is None else (float(s.cop[i][0]), float(s.cop[i][1])),
                              s.layout, time.monotonic_ns())
                session.ingest([frame])
                self.sent += 1
            if not self.loop:
                break
            lap += span
            for side in self.take.sides:
                # A new lap restarts the sequence: tell the session it is a fresh connection.
                session.device_event(side, "connected", "replay lap")

    def stats(self) -> dict:
        return {"kind": "replay", "rate": self.rate, "sent": self.sent}
