# SPDX-License-Identifier: GPL-3.0-or-later
"""Root translation from the loaded feet: a planted foot does not move.

While an insole carries load, the ball of that foot stays where it is on the
floor, so the hips move by minus the foot's motion relative to them. That
motion comes from the reconstructed pose (forward kinematics of the legs with
the heading applied); the load comes from the insoles themselves. Measured on
100 simulated test clips with the true pose, this odometry alone drifts 3.3 %
of the distance; with the reconstructed pose its errors and the root model's
are of similar size and largely independent, so the two are averaged
(``weight``): 10.4 % → 8.9 % drift (docs/models.md, "Pose vector and models").

With ``"strides"`` the distance comes from the insoles themselves: each
insole's dead-reckoned path (:mod:`..dead_reckoning`, stride lengths within a
few per cent) turned into the runtime's heading frame, the hips following the
midpoint of the two feet; the fused path above only orients it (one constant
angle per foot, fitted over the take) and fills frames without both tracks.
Test split, MLP poses: 10.2 % → 7.3 % drift (docs/models.md, "Strides from the insoles themselves").

While both feet stand still (loaded, the insoles feel only gravity and barely
turn) the person is standing: the root model's small steps there are pure
wander (≈ 16 cm per standing test clip), so only the feet move the hips then.
"""

from __future__ import annotations

import numpy as np

from ..dead_reckoning import STANCE_LOAD, true_runs
from ..motion.skeleton import CANONICAL_PARENTS, JOINT_INDEX
from ..motion import rotations as rot
from ..motion.kinematics import gaussian_smooth
from .pose import heading

TRANSLATION_SOURCES = ("model", "fused", "strides", "strides_feet")
# Standing: both insoles within STILL_ACC_G of 1 g and turning slower than STILL_GYRO_DPS, for
# STILL_HOLD_S at least. On the test split this finds every standing clip and no frame of any walk
# or run; 10 or 40 dps, 0.15 or 0.5 s give the same drift (docs/models.md, "Pose vector and models").
STILL_ACC_G = 0.1
STILL_GYRO_DPS = 20.0
STILL_HOLD_S = 0.3
BALLS = ("LeftToeBase", "RightToeBase")
FEET = ("LeftFoot", "RightFoot")
SMOOTH_S = 0.5               # strides_translation: the feet's path below ≈ 0.5 Hz, the hips' above


def _chain(joint: str) -> list[int]:
    out, j = [], JOINT_INDEX[joint]
    while j >= 0:
        out.append(j)
        j = CANONICAL_PARENTS[j]
    return out[::-1]


def balls_relative(rotations: np.ndarray, offsets: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(T, 2, 2) horizontal positions of both balls of the feet relative to the hips.

    Forward kinematics of the two leg chains only, ``chunk`` frames at a time.
    """
    t = rotations.shape[0]
    out = np.empty((t, 2, 2))
    chains = [_chain(b) for b in BALLS]
    for s in range(0, t, chunk):
        q = np.asarray(rotations[s:s + chunk], dtype=np.float64)
        for k, chain in enumerate(chains):
            g = q[:, chain[0]]
            p = np.zeros((q.shape[0], 3))
            for j in chain[1:]:
                p = p + rot.rotate(g, offsets[j])
                g = rot.mul(g, q[:, j])
            out[s:s + chunk, k] = p[:, :2]
    return out


def foot_angles(rotations: np.ndarray, psi: np.ndarray, load: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(2,) each foot's long axis relative to the heading frame, averaged over its stances (rad).

    The reconstructed legs know how each foot points relative to the hips (toe-out,
    a turned stance foot); the insole lies along the foot, so this is the angle
    that takes an insole's own path into the heading frame. As an angle in the
    ground plane (0 = +X): the foot joint's heading minus ψ, minus π/2 (heading 0
    faces −Y). Circular mean over the frames the foot carries load (there it is
    flat and its heading exact); NaN for a foot that never does.
    """
    psi = np.asarray(psi, dtype=np.float64)
    on = np.asarray(load, dtype=np.float64) > STANCE_LOAD
    sums = np.zeros(2, dtype=complex)
    chains = [_chain(f) for f in FEET]
    for s in range(0, rotations.shape[0], chunk):
        q = np.asarray(rotations[s:s + chunk], dtype=np.float64)
        for k, chain in enumerate(chains):
            g = q[:, chain[0]]
            for j in chain[1:]:
                g = rot.mul(g, q[:, j])
            rel = heading(g) - psi[s:s + chunk]                  # the foot's toes point along −Y at rest
            sums[k] += np.sum(np.exp(1j * rel[on[s:s + chunk, k]]))
    return np.where(np.abs(sums) > 0, np.angle(sums) - np.pi / 2, np.nan)


def stance_weights(load: np.ndarray, threshold: float = STANCE_LOAD) -> np.ndarray:
    """(T, 2) 0…1 per foot from its force / body weight: a soft ramp from ``threshold`` to 2×."""
    return np.clip((np.asarray(load, dtype=np.float64) - threshold) / threshold, 0.0, 1.0)


def standing(acc_g: np.ndarray, gyro_dps: np.ndarray, load: np.ndarray, rate: float) -> np.ndarray:
    """(T,) bool: both feet loaded and still for at least ``STILL_HOLD_S``.

    ``acc_g`` (T, 2, 3) in g and ``gyro_dps`` (T, 2, 3) in deg/s of left, right;
    ``load`` (T, 2) force / body weight.
    """
    ok = ((np.abs(np.linalg.norm(acc_g, axis=-1) - 1.0) < STILL_ACC_G).all(axis=1)
          & (np.linalg.norm(gyro_dps, axis=-1) < STILL_GYRO_DPS).all(axis=1)
          & (np.asarray(load) > STANCE_LOAD).all(axis=1))
    # Keep only runs of at least k frames (a mid-stance instant of a slow walk is not standing).
    k = max(1, int(round(STILL_HOLD_S * rate)))
    out = np.zeros(len(ok), dtype=bool)
    for start, stop in zip(*true_runs(ok)):
        if stop - start >= k:
            out[start:stop] = True
    return out


def fused_translation(model_xy: np.ndarray, rotations: np.ndarray, offsets: np.ndarray,
                      load: np.ndarray, weight: float = 0.5, still: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) ground path: the root model's steps averaged with the planted feet's.

    ``model_xy`` (T, 2) the root model's integrated path; ``rotations`` (T, 22, 4)
    with the heading; ``load`` (T, 2) force / body weight of left, right. Frames
    without a planted foot (flight, missing pressure) keep the model's step.
    ``still`` (T,) bool (see :func:`standing`): there the feet alone move the hips.
    """
    model_xy = np.asarray(model_xy, dtype=np.float64)
    step_model = np.diff(model_xy, axis=0)
    balls = balls_relative(rotations, offsets)
    w = stance_weights(load)
    w = w[1:] * w[:-1]                               # planted at both ends of the step
    den = w.sum(axis=1)
    step_feet = -(w[:, :, None] * np.diff(balls, axis=0)).sum(axis=1) / np.maximum(den, 1e-9)[:, None]
    # A foot planted on only part of the frame (den small) trusts the model more.
    a = weight * np.clip(den, 0.0, 1.0)[:, None]
    if still is not None:
        still = np.asarray(still, dtype=bool)
        a[still[1:] & still[:-1]] = 1.0
    step = a * step_feet + (1.0 - a) * step_model
    out = np.empty_like(model_xy)
    out[0] = model_xy[0]
    out[1:] = model_xy[0] + np.cumsum(step, axis=0)
    return out


def strides_translation(xy: np.ndarray, psi: np.ndarray, foot_yaw: np.ndarray, track: np.ndarray,
                        rate: float, lag_s: float = 1.0, smooth_s: float = SMOOTH_S,
                        angles: np.ndarray | None = None) -> np.ndarray | None:
    """(T, 2) ground path: the midpoint of the two insoles' dead-reckoned paths.

    ``xy`` (T, 2) the path to orient by (the fused one), ``psi`` (T,) its heading,
    ``foot_yaw`` (T, 2) each insole's heading and ``track`` (T, 2, 2) its path in
    its own filter frame (NaN where unknown, see ``Features.foot_track``). A track
    step is turned by ψ − ψ_foot into the heading frame, then by one constant angle
    per foot (where the insole points in the heading frame): ``angles`` (2,), the
    reconstructed feet's own (:func:`foot_angles`), or, for a foot without one
    (NaN, or no ``angles``), fitted so that its ``lag_s`` displacements best match
    ``xy``'s. The midpoint of the feet moves
    in surges (one foot swings while the other stands), the hips do not: only its
    slow part is kept (zero-phase Gaussian, σ = ``smooth_s``), the within-stride
    motion stays ``xy``'s, whose planted feet do not slide. None unless both feet
    have a track (of at least ``lag_s``).
    """
    xy = np.asarray(xy, dtype=np.float64)
    z = xy[:, 0] + 1j * xy[:, 1]
    t_len = z.shape[0]
    lag = max(1, int(round(lag_s * rate)))
    if track is None or t_len < lag + 2:
        return None
    track = np.asarray(track, dtype=np.float64)
    ok = np.isfinite(track).all(axis=2)                         # (T, 2)
    if ok.sum(axis=0).min() < lag + 2:
        return None
    paths = []
    for k in range(2):
        tr = np.where(ok[:, k], track[:, k, 0] + 1j * track[:, k, 1], 0.0)
        d = np.zeros(t_len, dtype=complex)
        d[1:] = np.where(ok[1:, k] & ok[:-1, k], np.diff(tr), 0.0)
        path = np.cumsum(d * np.exp(1j * (np.asarray(psi, dtype=np.float64) - foot_yaw[:, k])))
        if angles is not None and np.isfinite(angles[k]):
            paths.append(path * np.exp(1j * angles[k]))
            continue
        both = ok[lag:, k] & ok[:-lag, k]
        fit = np.sum(((z[lag:] - z[:-lag]) * np.conj(path[lag:] - path[:-lag]))[both])
        paths.append(path * (np.exp(1j * np.angle(fit)) if abs(fit) > 0 else 1.0))
    mid = 0.5 * (paths[0] + paths[1])
    both = ok.all(axis=1)
    step = np.diff(z)
    use = both[1:] & both[:-1]
    step[use] = np.diff(mid)[use]
    out = np.empty_like(z)
    out[0] = z[0]
    out[1:] = z[0] + np.cumsum(step)
    gap = out - z
    gap = gaussian_smooth(np.stack([gap.real, gap.imag], axis=-1), smooth_s * rate)
    return xy + gap
