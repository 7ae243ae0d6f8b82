# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-foot clock model (device time → host time) and sequence/loss accounting.

Host arrival times are the device's sample times plus a latency that is never
negative but bursty (BLE connection events, OS scheduling). A plain
least-squares fit would be pulled by the bursts, so the model works on the
lower envelope: the fastest packets of a sliding window are the ones closest
to the true device-to-host relation. The drift is a least-squares line through
the fastest packet of each of up to 20 bins of the window; the offset puts the
line under the window's fastest packet.
"""

from __future__ import annotations

from collections import deque

import numpy as np

SEQ_MOD = 1 << 16
DEVICE_TIME_WRAP = (1 << 32) * 1e-6      # open frame: u32 microseconds


class SequenceTracker:
    """Unwraps a u16 sequence and counts received, lost, duplicated/late samples."""

    def __init__(self, modulus: int = SEQ_MOD, restart_jump: int = 1000):
        self.modulus = modulus
        self.restart_jump = restart_jump   # a backward jump larger than this = device restarted
        self.last: int | None = None       # unwrapped
        self.received = 0
        self.lost = 0
        self.late = 0                      # duplicates or out-of-order: dropped
        self.restarts = 0

    def update(self, seq: int) -> tuple[int | None, int]:
        """(unwrapped sequence or None if the sample must be dropped, samples lost just before it)."""
        if self.last is None:
            self.last = seq
            self.received += 1
            return seq, 0
        half = self.modulus // 2
        delta = (seq - self.last) % self.modulus
        if delta == 0 or delta > half:
            back = self.modulus - delta if delta else 0
            if delta and back > self.restart_jump:
                # Far backwards: the device rebooted or reconnected with a fresh counter.
                self.restarts += 1
                self.last = seq
                self.received += 1
                return seq, 0
            self.late += 1
            return None, 0
        self.last += delta
        self.received += 1
        self.lost += delta - 1
        return self.last, delta - 1

    def reset(self) -> None:
        """Forget the last value (after a reconnect the counter may restart)."""
        self.last = None


class TimeUnwrapper:
    """Unwraps a device clock that wraps (u32 µs = 71.6 min)."""

    def __init__(self, wrap: float = DEVICE_TIME_WRAP):
        self.wrap = wrap
        self.offset = 0.0
        self.last: float | None = None

    def __call__(self, t: float) -> float:
        if self.last is not None and t < self.last - self.wrap / 2:
            self.offset += self.wrap
        self.last = t
        return t + self.offset

    def reset(self) -> None:
        self.last = None
        self.offset = 0.0


class ClockModel:
    """Running fit host = offset + (1 + drift) · device over the last ``window`` samples."""

    def __init__(self, window: int = 2000, refit_every: int = 25):
        self.window = window
        self.refit_every = refit_every
        self._d: deque = deque(maxlen=window)
        self._h: deque = deque(maxlen=window)
        self._d0: float | None = None      # origin: keeps the fit in small numbers
        self._h0 = 0.0
        self._since_fit = 0
        self.slope = 1.0
        self.offset = 0.0                  # host − h0 at device d0 (on the lower envelope)
        self.count = 0

    def add(self, device_s: float, host_s: float) -> None:
        if self._d0 is None:
            self._d0, self._h0 = device_s, host_s
        self._d.append(device_s - self._d0)
        self._h.append(host_s - self._h0)
        self.count += 1
        self._since_fit += 1
        if self.count <= 3 or self._since_fit >= self.refit_every:
            self.fit()

    def fit(self) -> None:
        self._since_fit = 0
        d = np.fromiter(self._d, dtype=np.float64, count=len(self._d))
        h = np.fromiter(self._h, dtype=np.float64, count=len(self._h))
        if len(d) >= 40 and np.ptp(d) > 1.0:
            # Least squares through the lower envelope: the fastest packet of each of
            # k time bins. Latency bursts only ever push points up, so these points
            # carry almost no jitter and the drift comes out in ppm, not tens of ppm.
            k = min(20, len(d) // 20)
            r = h - d
            idx = np.array([a[np.argmin(r[a])] for a in np.array_split(np.arange(len(d)), k)])
            de, he = d[idx], h[idx]
            dm = de.mean()
            slope = float(np.dot(de - dm, he - he.mean()) / np.dot(de - dm, de - dm))
            # Clocks of real insoles drift by ppm, not percent: refuse nonsense fits.
            self.slope = slope if abs(slope - 1.0) < 0.01 else 1.0
        self.offset = float(np.min(h - self.slope * d))

    def to_host(self, device_s: float) -> float:
        if self._d0 is None:
            raise ValueError("clock model has no sample yet")
        return self._h0 + self.offset + self.slope * (device_s - self._d0)

    def jitter(self) -> np.ndarray:
        """Arrival delay of each sample of the window above the fastest one (s)."""
        d = np.fromiter(self._d, dtype=np.float64, count=len(self._d))
        h = np.fromiter(self._h, dtype=np.float64, count=len(self._h))
        return h - (self.offset + self.slope * d)

    def reset(self) -> None:
        """After a reconnect the device clock may have restarted: start over."""
        self.__init__(self.window, self.refit_every)


class FootClock:
    """Everything one foot needs: sequence, device time unwrap, clock fit."""

    def __init__(self):
        self.seq = SequenceTracker()
        self.unwrap = TimeUnwrapper()
        self.model = ClockModel()
        self.last_time = -np.inf
        self.last_device: float | None = None     # unwrapped device seconds of the latest sample

    def host_time(self, device_time: float | None, host_s: float) -> float:
        """Host-axis time of a sample; strictly increasing per foot."""
        if device_time is None:
            t = host_s
        else:
            d = self.unwrap(device_time)
            self.last_device = d
            self.model.add(d, host_s)
            t = self.model.to_host(d)
        # The fit moves a little as it learns; never let a foot's time go backwards.
        if t <= self.last_time:
            t = self.last_time + 1e-6
        self.last_time = t
        return t

    def reset(self) -> None:
        self.seq.reset()
        self.unwrap.reset()
        self.model.reset()


def align_offset(left_times: np.ndarray, right_times: np.ndarray) -> float:
    """Common origin of two feet already on the host axis: the earlier first sample."""
    firsts = [float(t[0]) for t in (left_times, right_times) if len(t)]
    return min(firsts) if firsts else 0.0
