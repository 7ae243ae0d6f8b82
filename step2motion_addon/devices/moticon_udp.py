# SPDX-License-Identifier: GPL-3.0-or-later
"""Moticon OpenGo desktop live UDP output: one ASCII float vector per datagram.

The desktop software sends whitespace-separated numbers; which channels appear,
and so the column order, depends on what the user enabled. The default map is
the full 51-value vector (time; left acc, gyro, COP, 16 pressures, force; right
the same). Parsing is ``float()`` on each token, nothing is ever evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .frame import BadValue, Frame, TruncatedFrame

MAX_DATAGRAM = 4096     # a 51-value vector is < 1 kB; anything much larger is not ours


@dataclass(frozen=True)
class FootColumns:
    """Column index of each channel of one foot (None: channel not sent)."""
    acc: tuple | None = None        # 3 indices
    gyro: tuple | None = None       # 3 indices
    cop: tuple | None = None        # 2 indices
    pressure: tuple = ()            # one index per cell
    force: int | None = None


def _foot(base: int) -> FootColumns:
    return FootColumns(acc=tuple(range(base, base + 3)), gyro=tuple(range(base + 3, base + 6)),
                       cop=(base + 6, base + 7), pressure=tuple(range(base + 8, base + 24)), force=base + 24)


@dataclass(frozen=True)
class ColumnMap:
    time: int | None = 0
    time_scale: float = 1.0                     # multiply to get seconds
    feet: dict = field(default_factory=lambda: {"left": _foot(1), "right": _foot(26)})

    @property
    def width(self) -> int:
        """Smallest number of values a datagram must carry."""
        idx = [self.time] if self.time is not None else []
        for f in self.feet.values():
            for part in (f.acc, f.gyro, f.cop, f.pressure):
                idx.extend(part or ())
            if f.force is not None:
                idx.append(f.force)
        return max(idx) + 1

    @classmethod
    def from_dict(cls, spec: dict) -> "ColumnMap":
        """Build from plain JSON-like data: {"time": 0, "left": {"pressure": [...], ...}, ...}."""
        feet = {}
        for side in ("left", "right"):
            if side in spec:
                f = spec[side]
                feet[side] = FootColumns(
                    acc=tuple(f["acc"]) if f.get("acc") is not None else None,
                    gyro=tuple(f["gyro"]) if f.get("gyro") is not None else None,
                    cop=tuple(f["cop"]) if f.get("cop") is not None else None,
                    pressure=tuple(f.get("pressure", ())),
                    force=f.get("force"))
        return cls(time=spec.get("time", 0), time_scale=float(spec.get("time_scale", 1.0)), feet=feet)


DEFAULT_MAP = ColumnMap()


def decode(data: bytes, cmap: ColumnMap = DEFAULT_MAP, host_ns: int = 0) -> list[Frame]:
    """One frame per foot present in the map; raises only FrameError subclasses."""
    if len(data) > MAX_DATAGRAM:
        raise TruncatedFrame(f"{len(data)}-byte datagram is larger than {MAX_DATAGRAM}")
    try:
        text = bytes(data).decode("ascii")
    except UnicodeDecodeError:
        raise BadValue("datagram is not ASCII text") from None
    tokens = text.split()
    if len(tokens) < cmap.width:
        raise TruncatedFrame(f"{len(tokens)} values, the column map needs {cmap.width}")
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise BadValue("a value is not a number") from None
    if not all(math.isfinite(v) for v in values):
        # NaN is allowed for a pressure cell but time must be finite
        if cmap.time is not None and not math.isfinite(values[cmap.time]):
            raise BadValue("time is not finite")
    t = values[cmap.time] * cmap.time_scale if cmap.time is not None else None
    frames = []
    for side, cols in cmap.feet.items():
        pressure = np.array([values[i] for i in cols.pressure], dtype=np.float32)
        acc = np.array([values[i] for i in cols.acc], dtype=np.float32) if cols.acc else None
        gyro = np.array([values[i] for i in cols.gyro], dtype=np.float32) if cols.gyro else None
        cop = (values[cols.cop[0]], values[cols.cop[1]]) if cols.cop else None
        force = values[cols.force] if cols.force is not None else None
        frames.append(Frame(side, None, t, pressure, acc, gyro, force, cop,
                            "moticon16" if len(cols.pressure) == 16 else f"cells{len(cols.pressure)}", host_ns))
    return frames


def encode(time: float, left: dict | None, right: dict | None) -> bytes:
    """The default 51-value vector (used by the emulator). Missing foot → zeros."""
    values = [time]
    for foot in (left, right):
        foot = foot or {}
        values += list(_or(foot.get("acc"), 3)) + list(_or(foot.get("gyro"), 3)) + list(_or(foot.get("cop"), 2))
        values += list(_or(foot.get("pressure"), 16)) + [_or(foot.get("force"), 1)[0]]
    return " ".join(f"{v:.6g}" for v in values).encode("ascii")


def _or(value, n):
    if value is None:
        return [0.0] * n
    arr = np.asarray(value, dtype=float).reshape(-1)
    return [0.0 if not np.isfinite(v) else float(v) for v in arr]
