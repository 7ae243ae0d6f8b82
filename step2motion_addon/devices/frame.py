# SPDX-License-Identifier: GPL-3.0-or-later
"""The decoded sample every decoder produces, and the only errors decoders raise."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


class FrameError(ValueError):
    """A packet could not be decoded. Decoders raise nothing else."""


class TruncatedFrame(FrameError):
    """The packet is shorter (or longer) than its header says."""


class BadChecksum(FrameError):
    """The CRC does not match: corrupted in transit."""


class BadHeader(FrameError):
    """Unknown version, reserved bits set, impossible cell count..."""


class BadValue(FrameError):
    """A field holds something that is not a number we accept."""


@dataclass(slots=True)
class Frame:
    """One sample of one foot, in take units (see core.take).

    ``seq`` is the device's raw sequence counter (None when the format has
    none); ``device_time`` is the device clock in seconds (None when absent);
    ``host_ns`` is ``time.monotonic_ns()`` at arrival; ``time`` is filled by
    the session: seconds from the session start on the host time axis.
    """

    side: str
    seq: int | None
    device_time: float | None
    pressure: np.ndarray                 # (cells,) float32 N/cm²
    acc: np.ndarray | None = None        # (3,) g
    gyro: np.ndarray | None = None       # (3,) deg/s
    force: float | None = None           # N
    cop: tuple | None = None             # (x, y) normalised
    layout: str = "moticon16"
    host_ns: int = 0
    time: float = float("nan")


class DecodeStats:
    """Counts of packets dropped per error class (bad CRC, truncated, ...)."""

    def __init__(self) -> None:
        self.ok = 0
        self.bad = Counter()

    def count_bad(self, exc: FrameError) -> None:
        self.bad[type(exc).__name__] += 1

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def as_dict(self) -> dict:
        return {"ok": self.ok, "bad": self.bad_total, "bad_by_kind": dict(self.bad)}
