# SPDX-License-Identifier: GPL-3.0-or-later
"""Where each insole went: foot-mounted inertial dead reckoning with zero-velocity updates.

A foot is still for a moment in every stance, so between two mid-stances the
insole's acceleration (rotated to the earth frame by its orientation filter,
gravity removed) integrates to the foot's velocity, which must return to zero:
removing the linear velocity ramp that makes it do so cancels every constant
error of the stride (accelerometer bias, the filter's tilt error) and the
second integral is the stride. The stride length then comes from the insole
alone, not from the reconstructed legs; on the 193 simulated test clips the
summed foot strides are 1.01× (runs) and 1.03× (walks) the true ones, 1–4 %
spread per clip (docs/models.md, "Strides from the insoles themselves").

The path is in the insole's own filter frame (heading zero at its first
sample); :mod:`.inference.odometry` turns the two feet into the hips' path.
"""

from __future__ import annotations

import numpy as np

from .motion import rotations as rot

GRAVITY = 9.80665
STANCE_LOAD = 0.1              # of body weight: the foot is on the ground
MIN_STANCE_S = 0.03            # shorter loaded blips are not a stance
# Without pressure (IMU-only insoles): still enough to call it a stance.
STILL_ACC_G = 0.1
STILL_GYRO_DPS = 60.0


def stance_mask(load: np.ndarray | None, acc_g: np.ndarray, gyro_dps: np.ndarray) -> np.ndarray:
    """(n,) bool: the foot is planted — from its load (force / body weight) when known, else the IMU."""
    if load is not None:
        return np.asarray(load, dtype=np.float64) > STANCE_LOAD
    return ((np.abs(np.linalg.norm(acc_g, axis=1) - 1.0) < STILL_ACC_G)
            & (np.linalg.norm(gyro_dps, axis=1) < STILL_GYRO_DPS))


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of every run of True in a (n,) bool mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]])))
    return edges[::2], edges[1::2]


def mid_stances(stance: np.ndarray, rate: float) -> np.ndarray:
    """Sample index of the middle of every stance of at least ``MIN_STANCE_S``."""
    starts, stops = true_runs(stance)
    keep = stops - starts >= max(2, int(round(MIN_STANCE_S * rate)))
    return ((starts[keep] + stops[keep] - 1) // 2).astype(np.int64)


def _integrate(acc: np.ndarray, dt: float) -> np.ndarray:
    """Trapezoid integral from zero, (m, 3) → (m, 3)."""
    out = np.zeros_like(acc)
    out[1:] = np.cumsum(0.5 * (acc[1:] + acc[:-1]) * dt, axis=0)
    return out


def foot_track(acc_g: np.ndarray, q: np.ndarray, stance: np.ndarray, rate: float) -> np.ndarray | None:
    """(n, 2) horizontal path (m) of the insole in its filter's earth frame; None without two stances.

    ``acc_g`` (n, 3) in g with gravity, ``q`` (n, 4) its orientation (insole → earth,
    ``core.ahrs.estimate_orientation``), ``stance`` (n,) bool. Between mid-stances
    the velocity is de-drifted to zero at both ends; before the first and after the
    last it is integrated from that stance's zero velocity only (a fraction of a
    second at a take's edges: centimetres).
    """
    mids = mid_stances(stance, rate)
    n = acc_g.shape[0]
    if mids.size < 2:
        return None
    dt = 1.0 / rate
    aw = rot.rotate(q, acc_g)                      # earth-frame acceleration without gravity, m/s²
    aw[:, 2] -= 1.0
    aw *= GRAVITY
    pos = np.zeros((n, 3))
    for i0, i1 in zip(mids[:-1], mids[1:]):
        v = _integrate(aw[i0:i1 + 1], dt)
        v -= np.linspace(0.0, 1.0, v.shape[0])[:, None] * v[-1]      # zero velocity at both mid-stances
        pos[i0 + 1:i1 + 1] = pos[i0] + _integrate(v, dt)[1:]
    last, first = int(mids[-1]), int(mids[0])
    if last < n - 1:
        pos[last + 1:] = pos[last] + _integrate(_integrate(aw[last:], dt), dt)[1:]
    if first > 0:                      # backwards in time from the first stance
        pos[first - 1::-1] = pos[first] + _integrate(_integrate(aw[first::-1], -dt), -dt)[1:]
    return pos[:, :2]


def insole_track(acc_g: np.ndarray, gyro_dps: np.ndarray, q: np.ndarray, load: np.ndarray | None,
                 rate: float) -> np.ndarray | None:
    """:func:`foot_track` with the stance found from ``load`` (or the IMU when it is None)."""
    return foot_track(acc_g, q, stance_mask(load, acc_g, gyro_dps), rate)
