"""The in-memory take: what every reader produces and every consumer reads.

A take holds one :class:`FootStream` per recorded foot on its own time axis
(seconds from the take's start) plus metadata, step events and a report of any
repair a reader or a processing step made. Units follow the Moticon export:

* pressure: N/cm² per cell (``cells`` columns; 16 for Moticon, 6 for ORPHE,
  0 for IMU-only devices),
* acceleration: g, gravity included, in the insole frame,
* angular rate: deg/s in the insole frame,
* total force: N, centre of pressure: normalised insole coordinates −0.5…+0.5
  (X heel→toe, +Y medial).

A channel a device does not deliver is ``None``; a sample that is missing
(dropped, empty field, gap) has ``valid == False`` and its values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

SIDES = ("left", "right")

# Moticon step-event codes (left heel strike / toe off = 11 / 15, right = 21 / 25).
EVENT_CODES = {
    ("left", "heel_strike"): 11,
    ("left", "toe_off"): 15,
    ("right", "heel_strike"): 21,
    ("right", "toe_off"): 25,
}
EVENT_FROM_CODE = {code: key for key, code in EVENT_CODES.items()}


@dataclass
class FootStream:
    """All samples of one foot. Arrays share the first axis (``n`` samples)."""

    side: str
    time: np.ndarray                      # (n,) float64, seconds, strictly increasing
    pressure: np.ndarray                  # (n, cells) float32, N/cm²
    acc: np.ndarray | None = None         # (n, 3) float32, g
    gyro: np.ndarray | None = None        # (n, 3) float32, deg/s
    force: np.ndarray | None = None       # (n,) float32, N
    cop: np.ndarray | None = None         # (n, 2) float32, −0.5…0.5
    valid: np.ndarray | None = None       # (n,) bool; None means all valid
    layout: str = "moticon16"             # names the cell layout (see insole.LAYOUTS)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        self.time = np.asarray(self.time, dtype=np.float64)
        n = self.time.shape[0]
        self.pressure = np.asarray(self.pressure, dtype=np.float32).reshape(n, -1)
        for name, width in (("acc", 3), ("gyro", 3), ("cop", 2)):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float32).reshape(n, width))
        if self.force is not None:
            self.force = np.asarray(self.force, dtype=np.float32).reshape(n)
        if self.valid is None:
            self.valid = np.ones(n, dtype=bool)
        else:
            self.valid = np.asarray(self.valid, dtype=bool).reshape(n)

    # -- shape ---------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def cells(self) -> int:
        return int(self.pressure.shape[1])

    @property
    def has_imu(self) -> bool:
        return self.acc is not None and self.gyro is not None

    @property
    def has_pressure(self) -> bool:
        return self.cells > 0

    @property
    def duration(self) -> float:
        return float(self.time[-1] - self.time[0]) if len(self) > 1 else 0.0

    @property
    def rate(self) -> float:
        """Nominal sample rate (Hz) from the median interval; 0 if unknown."""
        if len(self) < 2:
            return 0.0
        dt = float(np.median(np.diff(self.time)))
        return 1.0 / dt if dt > 0 else 0.0

    def channels(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) for every per-sample channel present, time excluded."""
        yield "pressure", self.pressure
        for name in ("acc", "gyro", "force", "cop"):
            value = getattr(self, name)
            if value is not None:
                yield name, value
        yield "valid", self.valid

    def select(self, index: np.ndarray | slice) -> "FootStream":
        """A new stream holding the samples at ``index`` (copies)."""
        def pick(a):
            return None if a is None else np.array(a[index])
        return FootStream(self.side, self.time[index].copy(), pick(self.pressure), pick(self.acc),
                          pick(self.gyro), pick(self.force), pick(self.cop), pick(self.valid),
                          self.layout)


@dataclass
class Event:
    time: float     # seconds from take start
    side: str       # "left" | "right"
    kind: str       # "heel_strike" | "toe_off" | other label
    group: str = ""             # Moticon event column group (e.g. "Left Events"); "" for steps
    value: float | None = None  # value of a Moticon event column, if any

    @property
    def code(self) -> int | None:
        return EVENT_CODES.get((self.side, self.kind))


@dataclass
class TakeMeta:
    device: str = "unknown"              # e.g. "Moticon OpenGo", "simulated", "open-frame"
    serials: dict = field(default_factory=dict)   # side -> serial string
    insole_size: int | None = None
    start_time: str | None = None        # ISO 8601 local time of the first sample
    start_timestamp_ms: int | None = None  # epoch milliseconds, if the device gave one
    body_mass_kg: float | None = None
    name: str = ""
    notes: str = ""
    tag: str = ""
    recording_type: str = ""             # Moticon: "normal" | "live"
    source_format: str = ""              # reader that produced the take
    source_path: str = ""
    extra: dict = field(default_factory=dict)  # further header fields, kept verbatim


@dataclass
class Take:
    feet: dict                            # side -> FootStream
    meta: TakeMeta = field(default_factory=TakeMeta)
    events: list = field(default_factory=list)    # list[Event], time-sorted
    report: list = field(default_factory=list)    # list[str]: repairs made, warnings

    def __post_init__(self) -> None:
        for side, stream in self.feet.items():
            if side != stream.side:
                raise ValueError(f"foot stream stored under {side!r} says side {stream.side!r}")

    @property
    def sides(self) -> list[str]:
        return [s for s in SIDES if s in self.feet]

    @property
    def start(self) -> float:
        return min(float(f.time[0]) for f in self.feet.values() if len(f))

    @property
    def end(self) -> float:
        return max(float(f.time[-1]) for f in self.feet.values() if len(f))

    @property
    def duration(self) -> float:
        return self.end - self.start if self.feet else 0.0

    @property
    def rate(self) -> float:
        rates = [f.rate for f in self.feet.values() if f.rate > 0]
        return max(rates) if rates else 0.0

    def note(self, message: str) -> None:
        """Record a repair or warning in the take's report (shown to the user)."""
        self.report.append(message)
