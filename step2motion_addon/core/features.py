# SPDX-License-Identifier: GPL-3.0-or-later
"""The one feature pipeline: a take (any rate) → model-rate condition frames.

Training and the add-on runtime both call :func:`extract_features`, so simulated
and real recordings go through exactly the same code. Only what an insole
delivers is used: no mocap orientation (the published work rotated
accelerations with ground-truth foot orientation; a deployed system cannot).

Per foot and model frame (30 Hz, like the published work: enough for
locomotion, and 3× fewer tokens than 100 Hz), grouped into four streams so the
pose model can attend to each stream with its own head:

* ``toes``  (8): cells 9–16 as the fraction of body weight each cell carries,
* ``heel``  (8): cells 1–8, same unit,
* ``imu``  (10): acc xyz (g, insole frame), gyro xyz (deg/s, insole frame),
  earth 'up' in the insole frame (tilt, yaw-free), yaw rate about earth Z (deg/s),
* ``load``  (3): total force / body weight, COP x, y.

Orientation is estimated at the native rate BEFORE resampling (integrating a
30 Hz gyro would alias). Normalisation to zero mean / unit variance is a
separate :class:`Normaliser` whose statistics are stored with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ahrs
from .dead_reckoning import insole_track
from .insole import HEEL_CELLS, TOE_CELLS, cell_areas
from .take import SIDES, FootStream, Take

MODEL_RATE = 30.0
GRAVITY = 9.80665
IMU_FIELDS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "up_x", "up_y", "up_z", "yaw_rate")
LOAD_FIELDS = ("force", "cop_x", "cop_y")
STREAM_KINDS = ("toes", "heel", "imu", "load")
STREAMS = tuple((f"{side}_{kind}", {"toes": 8, "heel": 8, "imu": len(IMU_FIELDS), "load": 3}[kind])
                for side in SIDES for kind in STREAM_KINDS)
FEATURE_DIM = sum(width for _, width in STREAMS)          # 58
IMU_STREAMS = ("left_imu", "right_imu")
PRESSURE_STREAMS = tuple(name for name, _ in STREAMS if not name.endswith("_imu"))
BODY_MASS_RANGE = (30.0, 200.0)


def stream_slices() -> dict[str, slice]:
    """Column range of each stream in a feature vector."""
    out, start = {}, 0
    for name, width in STREAMS:
        out[name] = slice(start, start + width)
        start += width
    return out


def stream_columns(names) -> np.ndarray:
    sl = stream_slices()
    return np.concatenate([np.arange(sl[n].start, sl[n].stop) for n in names])


def mirror_values(values: np.ndarray) -> np.ndarray:
    """Features of the wearer's mirror image (left ↔ right): the two feet's columns swapped.

    Exact, because the left insole's frame is the right's mirror image (+Y medial on
    both feet, its yaw and roll rates negated by the device): the left insole of a
    motion reads what the right one reads in that motion's mirror image. Works on
    (…, FEATURE_DIM) values in physical units and on (…, 8) stream masks alike.
    """
    values = np.asarray(values)
    half = values.shape[-1] // 2
    if values.shape[-1] not in (FEATURE_DIM, len(STREAMS)):
        raise ValueError(f"expected {FEATURE_DIM} feature columns or {len(STREAMS)} streams, "
                         f"not {values.shape[-1]}")
    return np.concatenate([values[..., half:], values[..., :half]], axis=-1)


def feature_names() -> list[str]:
    names = []
    for side in SIDES:
        names += [f"{side}_p{c + 1:02d}" for c in TOE_CELLS]
        names += [f"{side}_p{c + 1:02d}" for c in HEEL_CELLS]
        names += [f"{side}_{f}" for f in IMU_FIELDS]
        names += [f"{side}_{f}" for f in LOAD_FIELDS]
    return names


@dataclass
class Features:
    time: np.ndarray                 # (T,) seconds from the take's start, model rate
    values: np.ndarray               # (T, FEATURE_DIM) float32, physical units (not normalised)
    stream_mask: np.ndarray          # (8,) bool: the stream was measured (False → zeros)
    rate: float
    body_mass_kg: float
    body_mass_source: str            # "meta" | "estimated" | "given"
    ahrs_backend: str
    foot_yaw: np.ndarray = field(default=None)   # (T, 2) rad, each insole's heading from start
    foot_track: np.ndarray = field(default=None)  # (T, 2, 2) m, each insole's dead-reckoned path; NaN: none
    gyro_bias_source: dict = field(default_factory=dict)  # side -> "still" | "stance" | "none" (ahrs.gyro_bias)
    tilt_offset: str = "median"      # ahrs.gyro_bias's x/y offset without a still moment: "median" | "strides"

    @property
    def frames(self) -> int:
        return int(self.values.shape[0])


def estimate_body_mass(take: Take) -> float | None:
    """Body mass (kg) from the insoles' total forces, or None without force data.

    Over whole gait cycles the vertical ground reaction force averages to body
    weight, so the mean of left + right force over the time both feet are
    measured estimates m·g (insoles under-read a little; good enough to scale).
    """
    if not all(s in take.feet for s in SIDES):
        return None
    forces = []
    grid = None
    for side in SIDES:
        foot = take.feet[side]
        f = _foot_force(foot, take.meta.insole_size)
        if f is None:
            return None
        if grid is None:
            grid = foot.time
        forces.append(np.interp(grid, foot.time[foot.valid], f[foot.valid]) if foot.valid.any() else None)
    if any(f is None for f in forces):
        return None
    mass = float(np.mean(forces[0] + forces[1]) / GRAVITY)
    if not mass > 0:
        return None
    return float(np.clip(mass, *BODY_MASS_RANGE))


def _foot_force(foot: FootStream, size) -> np.ndarray | None:
    if foot.force is not None:
        return foot.force.astype(np.float64)
    if foot.cells == 16:
        return (np.nan_to_num(foot.pressure.astype(np.float64)) * cell_areas(size)).sum(axis=1)
    return None


def _fill(time: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over invalid / NaN samples, per column."""
    v = np.array(values, dtype=np.float64, copy=True)
    if v.ndim == 1:
        v = v[:, None]
    for c in range(v.shape[1]):
        ok = valid & np.isfinite(v[:, c])
        if ok.all():
            continue
        v[:, c] = np.interp(time, time[ok], v[ok, c]) if ok.any() else 0.0
    return v


def _resample(time: np.ndarray, values: np.ndarray, grid: np.ndarray, native_rate: float,
              rate: float) -> np.ndarray:
    """Box-filter anti-aliasing (width = native/model samples), then linear interpolation."""
    return np.stack([_resample_column(time, values[:, c], grid, native_rate, rate)
                     for c in range(values.shape[1])], axis=1)


def _resample_column(time: np.ndarray, column: np.ndarray, grid: np.ndarray, native_rate: float,
                     rate: float) -> np.ndarray:
    """:func:`_resample` of one column (each column is filtered on its own anyway)."""
    k = int(round(native_rate / rate)) if native_rate > rate else 1
    v = column
    if k > 1:
        pad = np.pad(v, (k // 2, k - 1 - k // 2), mode="edge")
        v = np.convolve(pad, np.ones(k) / k, mode="valid")
    return np.interp(grid, time, v)


def extract_features(take: Take, rate: float = MODEL_RATE, body_mass_kg: float | None = None,
                     ahrs_backend: str = "auto", tilt_offset: str = "median") -> Features:
    """Model-rate condition frames of a take. See the module docstring for the layout.

    ``ahrs_backend`` and ``tilt_offset`` pick the orientation filter and its gyro-offset
    estimate (:func:`.ahrs.estimate_orientation`); a model set names the ones it was
    trained on (:meth:`.inference.model_set.ModelSet.feature_options`).
    """
    if not take.feet:
        raise ValueError("take has no foot streams")
    start, end = take.start, take.end
    n_frames = int(np.floor((end - start) * rate + 1e-6)) + 1
    grid = start + np.arange(n_frames) / rate

    source = "given"
    if body_mass_kg is None:
        if take.meta.body_mass_kg:
            body_mass_kg, source = float(take.meta.body_mass_kg), "meta"
        else:
            body_mass_kg, source = estimate_body_mass(take), "estimated"
            if body_mass_kg is None:
                body_mass_kg, source = 70.0, "default"
    # float32 from the start: each float64 column is rounded on assignment exactly as the
    # whole float64 array was by astype before (an hour: 50 MB less).
    values = np.zeros((n_frames, FEATURE_DIM), dtype=np.float32)
    mask = np.zeros(len(STREAMS), dtype=bool)
    foot_yaw = np.zeros((n_frames, 2))
    foot_track = np.full((n_frames, 2, 2), np.nan)
    used_backend = "none"
    bias_sources: dict = {}
    for si, side in enumerate(SIDES):
        foot = take.feet.get(side)
        if foot is None or len(foot) < 2:
            continue
        backend = _foot_features(foot, side, si, grid, rate, body_mass_kg * GRAVITY, take.meta.insole_size,
                                 ahrs_backend, values, mask, foot_yaw, foot_track, bias_sources, tilt_offset)
        used_backend = backend or used_backend
    return Features(time=grid - start, values=values, stream_mask=mask, rate=rate,
                    body_mass_kg=float(body_mass_kg), body_mass_source=source,
                    ahrs_backend=used_backend, foot_yaw=foot_yaw, foot_track=foot_track,
                    gyro_bias_source=bias_sources, tilt_offset=tilt_offset)


def _foot_features(foot: FootStream, side: str, si: int, grid: np.ndarray, rate: float, weight: float,
                   insole_size, ahrs_backend: str, values: np.ndarray, mask: np.ndarray,
                   foot_yaw: np.ndarray, foot_track: np.ndarray, bias_sources: dict,
                   tilt_offset: str = "median") -> str | None:
    """One foot's streams into ``values`` / ``mask`` / ``foot_yaw`` / ``foot_track``; the AHRS backend used, if any.

    Column by column at the native rate, so an hour at 100 Hz holds a few (n,) columns
    at a time instead of whole-foot (n, 16) / (n, 11) float64 arrays and their filtered
    copies; every column goes through the same operations as before.
    """
    sl = stream_slices()
    names = [n for n, _ in STREAMS]
    t = foot.time
    native = foot.rate or rate

    def put(col: int, x: np.ndarray) -> None:
        values[:, col] = _resample_column(t, x, grid, native, rate)

    if foot.cells == 16:
        areas = cell_areas(insole_size)
        cols = {c: sl[f"{side}_toes"].start + i for i, c in enumerate(TOE_CELLS)}
        cols.update({c: sl[f"{side}_heel"].start + i for i, c in enumerate(HEEL_CELLS)})
        for c in range(16):                      # body-weight fraction per cell
            put(cols[c], _fill(t, foot.pressure[:, c], foot.valid)[:, 0] * areas[c] / weight)
        mask[names.index(f"{side}_toes")] = mask[names.index(f"{side}_heel")] = True
    force = _foot_force(foot, insole_size)
    load_bw = None
    if force is not None:
        load = sl[f"{side}_load"].start
        load_bw = _fill(t, force, foot.valid)[:, 0] / weight
        put(load, load_bw)
        del force
        for c in range(2):
            put(load + 1 + c, _fill(t, foot.cop[:, c], foot.valid)[:, 0] if foot.cop is not None
                else np.zeros(len(t)))
        mask[names.index(f"{side}_load")] = True
    if not foot.has_imu:
        return None
    acc = _fill(t, foot.acc, foot.valid)
    gyro = _fill(t, foot.gyro, foot.valid)
    info: dict = {}
    q, backend = ahrs.estimate_orientation(acc, gyro, native, ahrs_backend, info=info, tilt_offset=tilt_offset)
    bias_sources[side] = info.get("bias_source", "none")
    imu = sl[f"{side}_imu"].start
    for c in range(3):
        put(imu + c, acc[:, c])
        put(imu + 3 + c, gyro[:, c])
    up = ahrs.earth_up(q)                                   # earth Z in the insole frame (= R^T z)
    for c in range(3):
        put(imu + 6 + c, up[:, c])
    put(imu + 9, np.einsum("nj,nj->n", up, gyro))           # earth-Z component of ω (deg/s)
    del up
    track = insole_track(acc, gyro, q, load_bw, native)
    del acc, gyro, load_bw
    yaw = _resample_column(t, ahrs.flat_heading(q), grid, native, rate)
    # The left insole's frame is a mirror image (+Y medial on both feet), so its
    # filter runs in a mirrored world where turns go the other way (and paths mirror).
    mirror = -1.0 if side == "left" else 1.0
    foot_yaw[:, si] = mirror * yaw
    if track is not None:
        for c in range(2):
            foot_track[:, si, c] = (mirror if c == 1 else 1.0) * np.interp(grid, t, track[:, c])
    mask[names.index(f"{side}_imu")] = True
    return backend


@dataclass
class Normaliser:
    """Per-dimension z-score statistics, stored in the model's metadata JSON."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, arrays, min_std: float = 1e-3) -> "Normaliser":
        x = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1]) for a in arrays])
        return cls(x.mean(axis=0).astype(np.float32), np.maximum(x.std(axis=0), min_std).astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def invert(self, z: np.ndarray) -> np.ndarray:
        return (z * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> "Normaliser":
        return cls(np.asarray(d["mean"], dtype=np.float32), np.asarray(d["std"], dtype=np.float32))
