# SPDX-License-Identifier: GPL-3.0-or-later
"""Live reconstruction: insole samples in as they arrive, the latest canonical pose out.

The offline pipeline (``features.extract_features`` + ``reconstruct``) needs the
whole take. Here every stage is causal and bounded:

* **Features**, incrementally per foot. Each sample is converted once (cells ×
  area, force, COP, acc, gyro) and its orientation advanced by a filter whose
  state is carried across calls (the same imufusion settings / complementary
  filter as ``core.ahrs``); the gyro bias, which the offline path takes from the
  whole take's still periods, is the median of the still samples seen so far.
  A 30 Hz feature frame is emitted once every present foot has the samples the
  offline box filter + linear interpolation would use, so the values equal the
  offline ones up to the bias and body-mass estimates (docs/live-blender.md).
* **Pose**: every ``hop`` new feature frames, one window of the few-step
  sampler ending at the newest frame, its already committed frames inpainted
  (``sampler.ddim_windows`` with ``known``), noise drawn from the same seeded
  stream as the offline sampler. With ``hop = window/2`` and
  ``first_window = window`` this is exactly ``reconstruct(mode="sequential")``.
  Smaller hops give fresher poses for ``window/hop`` times the compute.
* **Root**: the root model on the same window, the new frames' displacements
  integrated onto the running position / heading.

Cost per call is bounded (at most ``max_windows`` windows; when the caller
falls more than a window behind, the stale frames are skipped and counted).
Everything lives in ring buffers of a few seconds. Not thread-safe: one owner
thread (the add-on runs it on a worker, never on Blender's main thread).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from .. import ahrs
from ..features import GRAVITY, STREAMS, stream_slices
from ..insole import HEEL_CELLS, TOE_CELLS, cell_areas
from ..take import SIDES
from .model_set import ModelSet
from .pose import CONTACT_COLS, HEIGHT_COL, pose_to_rotations
from .sampler import check_temperature, ddim_windows

# Per-sample columns kept per foot (all linear in the raw values, so box filter and
# interpolation commute with the later division by body weight).
_P = slice(0, 16)          # cell force, N (pressure × cell area)
_F = 16                    # total force, N
_COP = slice(17, 19)
_IMU = slice(19, 29)       # acc (3), gyro (3), up (3), yaw rate
_COLS = 29
_RATE_SAMPLES = 16         # samples per foot used to fix its nominal rate
_KEEP_SAMPLES = 1024       # per-foot ring (≈10 s at 100 Hz)
_STILL_KEEP = 6000         # still gyro samples kept for the bias median
STALL_S = 0.5              # a foot silent this long no longer holds the body back


@dataclass
class LivePose:
    """One reconstructed frame (canonical skeleton, see ``Reconstruction``)."""
    frame: int                  # feature frame index since the stream started (model rate)
    time: float                 # seconds on the input time axis
    rotations: np.ndarray       # (22, 4) local quaternions wxyz, root includes heading
    root_pos: np.ndarray        # (3,) metres, Z up, start at the origin
    heading: float              # rad
    contact: np.ndarray         # (2,) probability left / right foot on the ground
    pose: np.ndarray            # (135,) normalised pose vector (what the next window inpaints)


class _Orientation:
    """One insole's orientation filter with its state carried between calls."""

    def __init__(self, rate: float, backend: str):
        self.rate, self.backend = rate, backend
        self.gain = ahrs.DEFAULT_GAIN[backend]
        self._ahrs = None
        self.q = None

    def start(self, acc0: np.ndarray) -> None:
        q0 = ahrs.tilt_quaternion(acc0)
        if self.backend == "imufusion":
            import imufusion
            # Same settings as core.ahrs._imufusion (the model's training filter).
            a = imufusion.Ahrs()
            s = imufusion.AhrsSettings()
            s.convention = imufusion.CONVENTION_NWU
            s.gain = self.gain
            s.gyroscope_range = 2000.0
            s.acceleration_rejection = 10.0
            s.magnetic_rejection = 0.0
            s.rejection_timeout = int(5 * self.rate)
            s.sample_rate = self.rate
            a.set_settings(s)
            a.set_quaternion(q0)
            a.skip_startup()
            self._ahrs = a
        self.q = np.asarray(q0, dtype=np.float64)

    def update(self, acc: np.ndarray, gyro_dps: np.ndarray) -> np.ndarray:
        """(n, 4) orientations after each sample (bias already removed from ``gyro_dps``)."""
        out = np.empty((acc.shape[0], 4))
        if self._ahrs is not None:
            a = self._ahrs
            for i in range(acc.shape[0]):
                a.update_no_magnetometer(gyro_dps[i], acc[i])
                out[i] = a.get_quaternion()
            self.q = out[-1].copy() if len(out) else self.q
            return out
        # The offline complementary filter, continued from the last orientation.
        out = ahrs._complementary(acc, gyro_dps, 1.0 / self.rate, self.gain, 0.1, 60.0, q0=self.q)
        self.q = out[-1].copy() if len(out) else self.q
        return out


class _Foot:
    """Per-foot ring of converted samples + the causal orientation and gyro-bias state."""

    def __init__(self, side: str, model_rate: float, backend: str, areas: np.ndarray):
        self.side = side
        self.model_rate = model_rate
        self.backend = backend
        self.areas = areas
        self.rate = 0.0
        self.k = 1
        self.pending: list = []            # sample batches received before the rate is known
        self.t = np.zeros(0)
        self.v = np.zeros((0, _COLS))
        self.first_index = 0               # global index of self.t[0]
        self.count = 0                     # samples converted so far
        self.last_rx = -math.inf           # time of the newest sample received (converted or not)
        self.cells = 0
        self.has_force = self.has_imu = False
        self.orient: _Orientation | None = None
        self.last_p = None
        self.hist_an = np.zeros(0)         # recent |acc| and gyro for the still test (centred window)
        self.hist_g = np.zeros((0, 3))
        self.still = deque(maxlen=_STILL_KEEP)
        self.bias = np.zeros(3)
        self._bias_at = 0

    # -- input
    def add(self, t, p, acc, gyro, force, cop) -> None:
        """``n`` samples (arrays with a leading sample axis; acc/gyro/force/cop may be None)."""
        self.last_rx = float(t[-1])
        if not self.rate:
            self.pending.append((t, p, acc, gyro, force, cop))
            if sum(len(x[0]) for x in self.pending) >= _RATE_SAMPLES:
                self._start_from_pending()
            return
        self._convert(t, p, acc, gyro, force, cop)

    def _start_from_pending(self) -> None:
        batches, self.pending = self.pending, []
        ts = np.concatenate([b[0] for b in batches])
        dt = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
        self.rate = 1.0 / dt if dt > 0 else self.model_rate
        self.k = int(round(self.rate / self.model_rate)) if self.rate > self.model_rate else 1
        for b in batches:
            self._convert(*b)

    def flush_pending(self) -> None:
        """End of stream before the rate was known: use what there is."""
        if self.pending and not self.rate:
            self._start_from_pending()

    def _convert(self, t, p, acc, gyro, force, cop) -> None:
        n = len(t)
        rows = np.zeros((n, _COLS))
        p = np.asarray(p, dtype=np.float64)
        if p.shape[1] == 16:
            self.cells = 16
            if not np.isfinite(p).all():        # a dropped value: hold the last one (causal fill)
                p = p.copy()
                for i in range(n):
                    bad = ~np.isfinite(p[i])
                    if bad.any():
                        p[i, bad] = self.last_p[bad] if self.last_p is not None else 0.0
                    self.last_p = p[i]
            self.last_p = p[-1]
            rows[:, _P] = p * self.areas
        if force is not None:
            f = np.asarray(force, dtype=np.float64)
            rows[:, _F] = np.where(np.isfinite(f), f, rows[:, _P].sum(axis=1))
            self.has_force = True
        elif p.shape[1] == 16:
            rows[:, _F] = rows[:, _P].sum(axis=1)
            self.has_force = True
        if cop is not None:
            rows[:, _COP] = np.nan_to_num(np.asarray(cop, dtype=np.float64))
        if acc is not None and gyro is not None:
            a = np.ascontiguousarray(acc, dtype=np.float64)
            g = np.ascontiguousarray(gyro, dtype=np.float64)
            if self.orient is None:
                self.orient = _Orientation(self.rate, self.backend)
                self.orient.start(a[0])
            self.has_imu = True
            self._observe_still(a, g)
            q = np.empty((n, 4))
            pos = 0
            while pos < n:                      # constant-bias segments: the result ignores the chunking
                self._maybe_refresh_bias(self.count + pos)
                end = n if self.count + pos - self._bias_at < self.rate else pos + 1
                if end == n and self.rate:
                    end = min(n, max(pos + 1, int(math.ceil(self._bias_at + self.rate)) - self.count))
                q[pos:end] = self.orient.update(a[pos:end], np.ascontiguousarray(g[pos:end] - self.bias))
                pos = end
            r = ahrs.quat_to_matrix(q)
            rows[:, 19:22], rows[:, 22:25], rows[:, 25:28] = a, g, r[:, 2, :]
            rows[:, 28] = np.einsum("nj,nj->n", r[:, 2, :], g)
        self.t = np.concatenate([self.t, np.asarray(t, dtype=np.float64)])
        self.v = np.concatenate([self.v, rows])
        self.count += n
        if len(self.t) > _KEEP_SAMPLES + 256:       # trim in blocks: amortised O(1)
            cut = len(self.t) - _KEEP_SAMPLES
            self.t, self.v = self.t[cut:], self.v[cut:]
            self.first_index += cut

    def _observe_still(self, acc: np.ndarray, gyro: np.ndarray) -> None:
        """Causal version of ``ahrs.gyro_bias``: still = |a|≈1 g and the gyro steady over ±0.25 s.

        Records (global sample index of the window centre, gyro) of every still sample.
        """
        k = max(1, int(round(0.25 * self.rate)))
        an = np.concatenate([self.hist_an, np.linalg.norm(acc, axis=1)])
        g = np.concatenate([self.hist_g, gyro])
        g0 = self.count - len(self.hist_an)            # global index of an[0]
        if len(an) >= 2 * k + 1:
            win = np.lib.stride_tricks.sliding_window_view(g, 2 * k + 1, axis=0)     # (m, 3, 2k+1)
            spread = np.abs(win - np.median(win, axis=-1, keepdims=True)).max(axis=(1, 2))
            centre = np.arange(len(win)) + k
            still = (spread < 5.0) & (np.abs(an[centre] - 1.0) < 0.03)
            self.still.extend(zip((g0 + centre[still]).tolist(), g[centre[still]]))
        keep = 2 * k                     # the next batch's windows need the last 2k samples
        self.hist_an, self.hist_g = an[-keep:], g[-keep:]

    def _maybe_refresh_bias(self, index: int) -> None:
        """Before sample ``index``: once a second, the median of the still samples known by then."""
        if not self.rate or index - self._bias_at < self.rate:
            return
        k = max(1, int(round(0.25 * self.rate)))
        known = [gy for c, gy in self.still if c <= index - 1 - k]     # windows complete before this sample
        if len(known) >= 0.3 * self.rate:
            self.bias = np.median(np.asarray(known), axis=0)
            self._bias_at = index

    # -- output
    def ready_until(self) -> float:
        """Latest time at which the box-filtered signal can be interpolated exactly."""
        right = self.k - 1 - self.k // 2
        if self.pending or len(self.t) < right + 1:
            return -math.inf
        return float(self.t[len(self.t) - 1 - right])

    def sample(self, grid: np.ndarray) -> np.ndarray:
        """(len(grid), _COLS): box filter (edge-padded at the stream start) then linear interpolation."""
        n, k = len(self.t), self.k
        if n == 0:
            return np.zeros((len(grid), _COLS))
        lo = max(0, int(np.searchsorted(self.t, grid[0])) - 2)
        hi = min(n, int(np.searchsorted(self.t, grid[-1])) + 2)
        idx = np.arange(lo, hi)
        if k > 1:
            g_idx = idx[:, None] + (np.arange(k) - k // 2)[None] + self.first_index
            g_idx = np.clip(g_idx, 0, self.first_index + n - 1) - self.first_index
            vb = self.v[np.clip(g_idx, 0, n - 1)].mean(axis=1)
        else:
            vb = self.v[idx]
        tt = self.t[idx]
        # np.interp for every column at once: same clamping at both ends.
        j = np.clip(np.searchsorted(tt, grid, side="right") - 1, 0, len(tt) - 1)
        j1 = np.minimum(j + 1, len(tt) - 1)
        span = tt[j1] - tt[j]
        w = np.where(span > 0, (grid - tt[j]) / np.where(span > 0, span, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)[:, None]
        return vb[j] * (1 - w) + vb[j1] * w


class StreamingReconstructor:
    """Frames in (per foot, any rate), the latest canonical pose out, with bounded work per call.

    ``hop``: new feature frames per window (default: the model set's streaming hop);
    ``first_window``: frames before the first window (default: a full window when
    ``hop`` is the model's, else ``hop``: the first poses come after ``hop`` frames,
    padded like a short take). ``time_scale`` multiplies the input times (a replay
    at 2× speed: 2). ``body_mass_kg``: from a calibration; else estimated from the
    forces received so far (70 kg until both feet have sent 2 s). ``temperature``: of the
    sampler's starting noise, default the model set's (see ``sampler.sample_take``).
    """

    def __init__(self, models: ModelSet, hop: int | None = None, first_window: int | None = None,
                 seed: int = 0, guidance: float | None = None, body_mass_kg: float | None = None,
                 insole_size: int = 5, time_scale: float = 1.0, max_windows: int = 1,
                 keep_poses: int = 300, temperature: float | None = None):
        self.models = models
        self.window = models.window
        self.hop = int(hop or models.hop)
        if not 1 <= self.hop <= self.window:
            raise ValueError(f"hop must be 1..{self.window}, not {self.hop}")
        self.first_window = int(first_window or (self.window if self.hop == models.hop else self.hop))
        self.rate = models.rate
        self.time_scale = float(time_scale)
        self.max_windows = max(1, int(max_windows))
        sampler = models.meta["sampler"]
        self.timesteps, self.alphas = sampler["timesteps"], sampler["alphas_cumprod"]
        self.guidance = sampler.get("guidance", 1.0) if guidance is None else guidance
        self.temperature = check_temperature(models.temperature if temperature is None else temperature)
        trained = models.meta["features"].get("ahrs_backend")
        self.backend = trained if trained == "complementary" or (trained == "imufusion" and ahrs.has_imufusion()) \
            else ("imufusion" if ahrs.has_imufusion() else "complementary")
        self.body_mass_given = body_mass_kg
        self.areas = cell_areas(insole_size)
        self.dim = models.pose_norm.mean.shape[0]
        self.feet: dict[str, _Foot] = {}
        self.start: float | None = None
        self._rng = np.random.default_rng(seed)
        self._noise = np.zeros((0, self.dim), np.float32)
        self._noise0 = 0                             # global frame of _noise[0]
        # Feature frames (physical units, un-normalised) and committed normalised poses, both rings.
        self._feat = np.zeros((0, sum(w for _, w in STREAMS)), np.float32)
        self._feat0 = 0
        self._mask = np.zeros(len(STREAMS), bool)
        self._pose = np.zeros((0, self.dim), np.float32)
        self._pose0 = 0
        self.frames = 0                              # feature frames emitted
        self.committed = 0                           # pose frames produced (or skipped)
        self.skipped = 0
        self.windows = 0
        self._xy = np.zeros(2)
        self._psi = 0.0
        self.poses: deque = deque(maxlen=keep_poses)
        self._force_sum = 0.0
        self._force_n = 0
        # Measurements.
        self._arrivals: deque = deque(maxlen=20000)  # (input time, arrival monotonic ns)
        self.last_covered_arrival_ns = 0             # arrival of the newest input a pose now covers
        self.latency: deque = deque(maxlen=20000)    # s, arrival → a pose covering its time exists
        self.window_cost: deque = deque(maxlen=2000)  # s wall per window
        self.cpu_s = 0.0                             # thread CPU time in push/step
        self.input_s = 0.0                           # seconds of input covered by emitted frames

    # -- input ---------------------------------------------------------------------------------
    def push(self, side: str, time_s, pressure, acc=None, gyro=None, force=None, cop=None,
             arrival_ns: int | None = None) -> None:
        """``k`` samples of one foot (arrays with a leading sample axis, take units)."""
        c0 = time.thread_time()
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64)) * self.time_scale
        p = np.atleast_2d(np.asarray(pressure))
        acc = None if acc is None else np.atleast_2d(acc)
        gyro = None if gyro is None else np.atleast_2d(gyro)
        force = None if force is None else np.atleast_1d(force)
        cop = None if cop is None else np.atleast_2d(cop)
        foot = self._foot(side)
        if self.start is None:
            self.start = float(t[0])
        foot.add(t, p, acc, gyro, force, cop)
        if arrival_ns is not None:
            self._arrivals.append((float(t[-1]), arrival_ns))
        self._emit_features()
        self.cpu_s += time.thread_time() - c0

    def push_frames(self, frames) -> None:
        """Live ``devices.frame.Frame`` objects (``time`` on the session's host axis), any order of feet.

        Consecutive frames of a foot become one batch (one conversion, one feature pass).
        """
        by_side: dict = {}
        for f in frames:
            if math.isfinite(f.time):
                by_side.setdefault(f.side, []).append(f)
        for side, fs in by_side.items():
            fs.sort(key=lambda f: f.time)
            cells = {len(f.pressure) for f in fs}
            if len(cells) > 1:                   # a layout change mid-batch: one frame at a time
                for f in fs:
                    self.push_frames_one(f)
                continue
            imu = all(f.acc is not None and f.gyro is not None for f in fs)
            self.push(side, [f.time for f in fs], np.stack([f.pressure for f in fs]),
                      np.stack([f.acc for f in fs]) if imu else None,
                      np.stack([f.gyro for f in fs]) if imu else None,
                      [np.nan if f.force is None else f.force for f in fs]
                      if any(f.force is not None for f in fs) else None,
                      np.stack([np.asarray(f.cop, dtype=np.float64) if f.cop is not None else np.zeros(2)
                                for f in fs]) if any(f.cop is not None for f in fs) else None)
            self._arrivals.extend((f.time * self.time_scale, f.host_ns) for f in fs if f.host_ns)

    def push_frames_one(self, f) -> None:
        self.push(f.side, [f.time], f.pressure[None], None if f.acc is None else f.acc[None],
                  None if f.gyro is None else f.gyro[None], None if f.force is None else [f.force],
                  None if f.cop is None else np.asarray(f.cop)[None], arrival_ns=f.host_ns or None)

    def push_features(self, values: np.ndarray, mask: np.ndarray) -> None:
        """Precomputed feature frames (physical units): bypasses the feature stage (tests, files)."""
        self._mask = np.asarray(mask, dtype=bool).copy()
        if self.start is None:
            self.start = 0.0
        self._append_features(np.asarray(values, dtype=np.float32))

    def _foot(self, side: str) -> _Foot:
        if side not in SIDES:
            raise ValueError(f"side must be left or right, not {side!r}")
        f = self.feet.get(side)
        if f is None:
            f = self.feet[side] = _Foot(side, self.rate, self.backend, self.areas)
        return f

    # -- features --------------------------------------------------------------------------------
    def body_mass(self) -> float:
        if self.body_mass_given:
            return float(self.body_mass_given)
        if self._force_n >= 2 * self.rate:
            return float(np.clip(self._force_sum / self._force_n / GRAVITY, 30.0, 200.0))
        return 70.0

    def _emit_features(self, final: bool = False) -> None:
        seen = list(self.feet.values())
        if not seen or self.start is None:
            return
        newest = max(f.last_rx for f in seen)
        if not final and len(seen) < len(SIDES) and newest - self.start < STALL_S:
            return                             # give the other foot a moment to show up
        # A foot silent for over STALL_S while the other streams must not stall the body: its
        # values are held (interpolation clamps at its last sample).
        active = [f for f in seen if newest - f.last_rx <= STALL_S]
        until = newest if final else min(f.ready_until() for f in active)
        feet = [f for f in seen if f.count]
        if not feet or not math.isfinite(until):
            return
        last = int(math.floor((until - self.start) * self.rate + 1e-6))
        if last < self.frames:
            return
        grid = self.start + np.arange(self.frames, last + 1) / self.rate
        sl = stream_slices()
        values = np.zeros((len(grid), self._feat.shape[1]), np.float64)
        mask = np.zeros(len(STREAMS), bool)
        names = [n for n, _ in STREAMS]
        weight = self.body_mass() * GRAVITY
        forces = np.zeros(len(grid))
        for foot in feet:
            side = foot.side
            r = foot.sample(grid)
            if foot.cells == 16:
                cells = r[:, _P] / weight
                values[:, sl[f"{side}_toes"]] = cells[:, list(TOE_CELLS)]
                values[:, sl[f"{side}_heel"]] = cells[:, list(HEEL_CELLS)]
                mask[names.index(f"{side}_toes")] = mask[names.index(f"{side}_heel")] = True
            if foot.has_force:
                values[:, sl[f"{side}_load"]] = np.concatenate([r[:, _F:_F + 1] / weight, r[:, _COP]], axis=1)
                mask[names.index(f"{side}_load")] = True
                forces += r[:, _F]
            if foot.has_imu:
                values[:, sl[f"{side}_imu"]] = r[:, _IMU]
                mask[names.index(f"{side}_imu")] = True
        if len(feet) == 2 and all(f.has_force for f in feet):
            self._force_sum += float(forces.sum())
            self._force_n += len(grid)
        self._mask = mask
        self.input_s += len(grid) / self.rate
        self._append_features(values.astype(np.float32))

    def _append_features(self, values: np.ndarray) -> None:
        self._feat = np.concatenate([self._feat, values])
        self.frames += len(values)
        keep = 3 * self.window
        if len(self._feat) > keep + self.window:
            cut = len(self._feat) - keep
            self._feat, self._feat0 = self._feat[cut:], self._feat0 + cut

    # -- sampling ----------------------------------------------------------------------------------
    def due(self) -> bool:
        pending = self.frames - self.committed
        if self.committed == 0 and self.windows == 0:
            return self.frames >= self.first_window
        return pending >= self.hop

    def step(self, final: bool = False) -> LivePose | None:
        """Run the windows that are due (at most ``max_windows``); the newest pose if any was made.

        ``final``: the stream ended: emit the last feature frames and cover them with a last window.
        """
        c0 = time.thread_time()
        made = None
        if final:
            for f in self.feet.values():
                f.flush_pending()
            self._emit_features(final=True)
        for _ in range(self.max_windows):
            if not (self.due() or (final and self.frames > self.committed)):
                break
            made = self._window(final)
        self.cpu_s += time.thread_time() - c0
        return made

    def _noise_rows(self, s: int, e: int) -> np.ndarray:
        # The offline sampler draws one (frames, dim) field from default_rng(seed); drawing it in
        # consecutive blocks from the same generator yields the same rows.
        while self._noise0 + len(self._noise) < e:
            block = self._rng.standard_normal((self.window, self.dim)).astype(np.float32)
            self._noise = np.concatenate([self._noise, block])
        if s < self._noise0:
            raise RuntimeError("noise rows already discarded")
        out = self._noise[s - self._noise0:e - self._noise0]
        if s - self._noise0 > 2 * self.window:      # rows before this window are never needed again
            cut = s - self._noise0 - self.window
            self._noise, self._noise0 = self._noise[cut:], self._noise0 + cut
        return out

    def _window(self, final: bool = False) -> LivePose:
        t0 = time.perf_counter()
        m = self.models
        w = self.window
        if self.frames - self.committed > 2 * w:    # fell far behind: skip the stale frames, start afresh
            n = self.frames
            s = n - w
            self.skipped += s - self.committed
            self.committed = s
            self._pose, self._pose0 = self._pose[:0], s
        else:
            # Windows end every ``hop`` frames whatever the input chunking (same windows as offline);
            # only the last window of a finished stream ends flush with the last frame.
            first = self.committed == 0 and self.windows == 0
            n = min(self.frames, self.first_window if first else self.committed + self.hop)
            if final and not self.due():
                n = self.frames
            s = max(0, n - w)
        kf = self.committed - s
        feat = self._feat[s - self._feat0:n - self._feat0]
        if len(feat) < w:                      # short stream / first poses: pad like the offline sampler
            feat = np.concatenate([feat, np.repeat(feat[-1:], w - len(feat), axis=0)])
        cond = m.features_norm.apply(feat)
        mask = self._mask.astype(np.float32).copy()
        cond = self._fill_pressure(cond, mask)
        noise = self._noise_rows(s, s + w) * np.float32(self.temperature)   # as sampler.sample_take
        mem = m.run("pose_cond", cond=cond[None], cond_mask=mask[None])
        null = m.run("pose_cond", cond=cond[None], cond_mask=np.zeros((1, len(mask)), np.float32)) \
            if self.guidance != 1.0 else None
        known = self._pose[s - self._pose0:self.committed - self._pose0][None] if kf else None
        out = ddim_windows(lambda x, t, mem_: m.run("pose", x_t=x, t=t, memory=mem_), mem, noise[None],
                           self.timesteps, self.alphas, self.guidance, null, known=known, known_frames=kf)[0]
        new = out[kf:n - s]
        # Root: the root model on the same window, new frames integrated onto the running state.
        if m.has("root") and mask[[i for i, (nm, _) in enumerate(STREAMS) if nm.endswith("_imu")]].all():
            root = m.root_norm.invert(m.run("root", imu=cond[None][:, :, m.imu_columns])[0])[kf:n - s]
            if self.committed == 0:
                root[0] = 0.0
        else:
            root = np.zeros((len(new), 3), np.float32)
        self._commit(new, root)
        self.windows += 1
        self.window_cost.append(time.perf_counter() - t0)
        return self.poses[-1]

    def _fill_pressure(self, cond: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """IMU-only insoles: pressure streams estimated by the model set's IMU→pressure model."""
        m = self.models
        names = [nm for nm, _ in STREAMS]
        imu_ok = all(mask[names.index(nm)] for nm in ("left_imu", "right_imu"))
        missing = [i for i, nm in enumerate(names) if not nm.endswith("_imu") and not mask[i]]
        if not (m.has("pressure") and imu_ok and missing):
            return cond
        est = m.run("pressure", imu=cond[None][:, :, m.imu_columns])[0]
        sl = stream_slices()
        for i in missing:
            cols = np.arange(sl[names[i]].start, sl[names[i]].stop)
            cond[:, cols] = est[:, np.searchsorted(m.pressure_columns, cols)]
            mask[i] = 1.0
        return cond

    def _commit(self, new_norm: np.ndarray, root: np.ndarray) -> None:
        m = self.models
        first = self.committed
        self._pose = np.concatenate([self._pose, new_norm.astype(np.float32)])
        if first - self._pose0 + len(new_norm) != len(self._pose):
            # After a skip the ring restarts at the first new frame.
            self._pose = new_norm.astype(np.float32).copy()
            self._pose0 = first
        if len(self._pose) > 2 * self.window:
            cut = len(self._pose) - self.window
            self._pose, self._pose0 = self._pose[cut:], self._pose0 + cut
        self.committed += len(new_norm)
        pose = m.pose_norm.invert(new_norm)
        root = np.asarray(root, dtype=np.float64)
        psi = self._psi + np.cumsum(root[:, 2])
        prev = np.concatenate([[self._psi], psi[:-1]])
        c, sn = np.cos(prev), np.sin(prev)
        xy = self._xy + np.cumsum(np.stack([c * root[:, 0] - sn * root[:, 1],
                                            sn * root[:, 0] + c * root[:, 1]], axis=-1), axis=0)
        self._xy, self._psi = xy[-1].copy(), float(psi[-1])
        rots = pose_to_rotations(pose, psi)
        contact = np.clip(pose[:, list(CONTACT_COLS)], 0.0, 1.0)
        for i in range(len(new_norm)):
            f = first + i
            self.poses.append(LivePose(f, (self.start + f / self.rate) / self.time_scale,
                                       rots[i], np.array([xy[i, 0], xy[i, 1], pose[i, HEIGHT_COL]]),
                                       float(psi[i]), contact[i], new_norm[i]))
        # Latency: inputs whose time is now covered by a pose.
        covered = (self.start + (self.committed - 1) / self.rate) if self.start is not None else -math.inf
        now = time.monotonic_ns()
        a = self._arrivals
        while a and a[0][0] <= covered + 1e-9:
            t_in, arrival = a.popleft()
            self.latency.append((now - arrival) * 1e-9)
            self.last_covered_arrival_ns = arrival

    # -- results -------------------------------------------------------------------------------------
    def latest(self) -> LivePose | None:
        return self.poses[-1] if self.poses else None

    def features(self) -> tuple[int, np.ndarray]:
        """(index of the first kept frame, kept feature frames in physical units): the ring, for checks."""
        return self._feat0, self._feat.copy()

    def buffered(self) -> dict:
        """Sizes of every ring (bounded whatever the stream length)."""
        return {"features": len(self._feat), "poses": len(self._pose), "noise": len(self._noise),
                "samples": {s: len(f.t) for s, f in self.feet.items()}, "pose_history": len(self.poses)}

    def stats(self) -> dict:
        lat = np.array(self.latency) * 1e3
        cost = np.array(self.window_cost) * 1e3
        return {
            "frames": self.frames, "committed": self.committed, "skipped": self.skipped, "windows": self.windows,
            "hop": self.hop, "body_mass_kg": self.body_mass(), "ahrs_backend": self.backend,
            "gyro_bias_dps": {s: [round(float(v), 3) for v in f.bias] for s, f in self.feet.items()},
            "latency_ms_p50": float(np.percentile(lat, 50)) if len(lat) else None,
            "latency_ms_p95": float(np.percentile(lat, 95)) if len(lat) else None,
            "window_ms_p50": float(np.percentile(cost, 50)) if len(cost) else None,
            "window_ms_p95": float(np.percentile(cost, 95)) if len(cost) else None,
            "cpu_s_per_input_s": self.cpu_s / self.input_s if self.input_s else None,
        }


def replay_take(take, models: ModelSet, chunk_s: float = 0.05, **kw) -> tuple[StreamingReconstructor, list]:
    """Feed a whole take in arrival order (``chunk_s`` of samples per call, both feet interleaved)
    and finish it; returns the reconstructor and every pose it produced, in order."""
    rec = StreamingReconstructor(models, insole_size=take.meta.insole_size, **kw)
    t0, t1 = take.start, take.end
    out = []
    edges = np.arange(t0, t1 + chunk_s, chunk_s)
    for a, b in zip(edges[:-1], edges[1:]):
        for side in SIDES:
            foot = take.feet.get(side)
            if foot is None:
                continue
            i, j = np.searchsorted(foot.time, [a, b], side="left")
            if b >= t1:
                j = len(foot)
            if j > i:
                sl = slice(i, j)
                rec.push(side, foot.time[sl], foot.pressure[sl],
                         None if foot.acc is None else foot.acc[sl], None if foot.gyro is None else foot.gyro[sl],
                         None if foot.force is None else foot.force[sl], None if foot.cop is None else foot.cop[sl])
        before = rec.committed
        while rec.step() is not None:
            pass
        out.extend(list(rec.poses)[-(rec.committed - before):] if rec.committed > before else [])
    before = rec.committed
    rec.step(final=True)
    if rec.committed > before:
        out.extend(list(rec.poses)[-(rec.committed - before):])
    return rec, out
