# SPDX-License-Identifier: GPL-3.0-or-later
"""Plays a take as a live device: packet generators and a UDP sender.

Used by ``python -m step2motion_addon emulate`` and by the tests. Each foot
sample becomes one open frame (sequence = sample index, device time = take
time scaled by ``rate``); the Moticon format sends one 51-value vector per
sample of the first foot, pairing the other foot's sample of the same index.
Samples a take marks invalid are not sent, so the receiver sees them as loss.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Iterator

import numpy as np

from . import moticon_udp, open_frame


def _sample(stream, i: int) -> dict:
    return {
        "pressure": stream.pressure[i],
        "acc": None if stream.acc is None else stream.acc[i],
        "gyro": None if stream.gyro is None else stream.gyro[i],
        "force": None if stream.force is None else float(stream.force[i]),
        "cop": None if stream.cop is None else stream.cop[i],
    }


def open_frame_packets(take, rate: float = 1.0) -> Iterator[tuple[float, str, bytes]]:
    """(send time in s from start, side, frame) for every valid sample, time-ordered."""
    t0 = take.start
    items = []
    for side in take.sides:
        s = take.feet[side]
        for i in np.flatnonzero(s.valid):
            items.append(((float(s.time[i]) - t0) / rate, side, int(i)))
    items.sort(key=lambda x: (x[0], x[1]))
    for t, side, i in items:
        s = take.feet[side]
        d = _sample(s, i)
        yield t, side, open_frame.encode(side, i, int(round(t * 1e6)), d["pressure"], d["acc"], d["gyro"],
                                         d["force"], d["cop"])


def moticon_packets(take, rate: float = 1.0) -> Iterator[tuple[float, str, bytes]]:
    """(send time, 'both', 51-value vector) per sample of the first foot."""
    t0 = take.start
    sides = take.sides
    lead = take.feet[sides[0]]
    for i in range(len(lead)):
        if not lead.valid[i]:
            continue
        t = (float(lead.time[i]) - t0) / rate
        feet = {}
        for side in sides:
            s = take.feet[side]
            if i < len(s) and s.valid[i]:
                feet[side] = _sample(s, i)
        yield t, "both", moticon_udp.encode(t, feet.get("left"), feet.get("right"))


def stream_udp(take, host: str, port: int, fmt: str = "open", rate: float = 1.0, drop: float = 0.0,
               seed: int = 0, duration: float | None = None, stop: threading.Event | None = None,
               source_port: int = 0) -> dict:
    """Send a take in real time (scaled by ``rate``); returns counts. Blocking."""
    packets = open_frame_packets(take, rate) if fmt == "open" else moticon_packets(take, rate)
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    if source_port:
        sock.bind(("", source_port))
    sent = dropped = 0
    start = time.monotonic()
    try:
        for t, _side, payload in packets:
            if duration is not None and t > duration:
                break
            if stop is not None and stop.is_set():
                break
            wait = start + t - time.monotonic()
            if wait > 0.0005:
                time.sleep(wait)
            if drop and rng.random() < drop:
                dropped += 1
                continue
            sock.sendto(payload, (host, port))
            sent += 1
    finally:
        sock.close()
    return {"sent": sent, "dropped": dropped, "elapsed_s": round(time.monotonic() - start, 3)}
