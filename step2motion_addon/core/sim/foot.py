# SPDX-License-Identifier: GPL-3.0-or-later
"""The foot as the simulator sees it: a flat sole frame, the insole's cells on it, contact.

The sole frame (x toe-ward, y to the wearer's left, z up) is the canonical
foot rotation corrected so the sole lies flat during the clip's stance phases.
The insole is placed under the foot from the ankle and toe joints: the toe joint
(metatarsal heads) sits ≈72 % of the insole length from the heel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import insole
from ..motion import rotations as rot

BALL_FROM_CENTRE = 0.22      # metatarsal heads, fraction of insole length ahead of the centre
ANKLE_TO_BALL = 0.50         # ankle → metatarsal heads (3-D distance), fraction of the foot length
BALL_HEIGHT = 0.03           # m, toe joint above the outsole when flat (shod foot)
CONTACT_HEIGHT = 0.015       # m, cells within this of the foot's lowest point carry load
LIFT_TOLERANCE = 0.03        # m, a foot hovering up to this above the ground still ranks its cells
STANCE_HEIGHT = 0.025        # m, the foot's lowest cells below this (above ground) are in stance
CONTACT_SOFTNESS = 0.008     # m, width of the load ramp (sole and floor compliance)
SLIDE_SPEED = 0.8            # m/s, horizontal speed above which a foot cannot carry load

TOE_SHARE_MAX = 0.60         # the toes carry at most this share of a foot's load (toe flexors/windlass)
LEAN_PER_LENGTH = 2.0        # load lean towards the COM per insole length of COM offset
LEAN_MAX = 3.0               # bound of the lean (per insole length along the foot)
ROLL_EARLY = 1.0             # lean towards the lateral edge, per insole width, at contact and mid-stance
ROLL_LATE = 0.6              # ... and in push-off, when the load crosses towards the first metatarsal
ROLL_PIVOT = 0.25            # COM offset ahead of the ankle (insole lengths) between the two
ROLL_WIDTH = 0.12            # how quickly the lean changes

TOE_CELLS = np.flatnonzero(insole.CELL_X > 0.3)     # hallux and lesser toes: ahead of the toe joint
HINGE_CELLS = np.flatnonzero((insole.CELL_X > 0.15) & (insole.CELL_X <= 0.3))   # metatarsal heads

# Foot-local canonical axes (toe along −Y at rest, left on +X) → sole axes.
SOLE_FROM_FOOT = rot.from_axis_angle(np.array([0.0, 0, 1]), np.array(-np.pi / 2))


@dataclass
class FootGeometry:
    side: str
    size: int
    length: float              # insole length, m
    correction: np.ndarray     # (4,) flat-sole correction applied after SOLE_FROM_FOOT
    cells: np.ndarray          # (16, 3) cell points in the sole frame, relative to the ankle
    imu: np.ndarray            # (3,) IMU position in the sole frame
    foot_length: float         # estimated from the skeleton, m


def sole_rotation(foot_q: np.ndarray) -> np.ndarray:
    return rot.mul(foot_q, SOLE_FROM_FOOT[None])


def flat_correction(sole_q: np.ndarray, ankle: np.ndarray, rate: float) -> np.ndarray:
    """Rotation making the sole level on average over the stance phases of the clip."""
    speed = np.linalg.norm(np.gradient(ankle, 1.0 / rate, axis=0), axis=1)
    z = ankle[:, 2]
    still = (speed <= np.percentile(speed, 30)) & (z <= np.percentile(z, 40))
    if still.sum() < 3:
        still = speed <= np.percentile(speed, 30)
    x_axis = rot.rotate(sole_q[still], np.array([1.0, 0, 0]))
    y_axis = rot.rotate(sole_q[still], np.array([0.0, 1, 0]))
    pitch = np.arcsin(np.clip(np.median(x_axis[:, 2]), -1, 1))     # toe up > 0
    roll = np.arcsin(np.clip(np.median(y_axis[:, 2]), -1, 1))      # left edge up > 0
    q_pitch = rot.from_axis_angle(np.array([0.0, 1, 0]), np.array(pitch))
    q_roll = rot.from_axis_angle(np.array([1.0, 0, 0]), np.array(-roll))
    return rot.mul(q_pitch, q_roll)


def build_geometry(side: str, toe_offset_sole: np.ndarray, size: int | None) -> FootGeometry:
    """Place the insole and its cells under the foot (sole frame, origin at the ankle joint)."""
    ball_x = max(float(toe_offset_sole[0]), 0.05)
    foot_length = float(np.linalg.norm(toe_offset_sole)) / ANKLE_TO_BALL
    if size is None:
        size = insole.size_for_foot_length(foot_length)
    length = insole.insole_length(size)
    centre_x = ball_x - BALL_FROM_CENTRE * length
    sole_z = float(toe_offset_sole[2]) - BALL_HEIGHT
    medial = 1.0 if side == "right" else -1.0      # medial is the wearer's left on the right foot
    cells = np.stack([centre_x + insole.CELL_X * length,
                      medial * insole.CELL_Y * length * insole.WIDTH_RATIO,
                      np.full(16, sole_z)], axis=1)
    imu = np.array([centre_x, 0.0, sole_z + 0.006])
    return FootGeometry(side, int(size), length, np.array(rot.IDENTITY), cells, imu, foot_length)


def contact_weights(height: np.ndarray) -> np.ndarray:
    """Relative load of each cell (n, 16) from its height above the foot's lowest point.

    A soft-plus ramp: the cells lowest under the foot carry more, so the load
    rolls from heel to toe as the foot pitches, and a lifted cell fades out over
    a few millimetres rather than switching.
    """
    lowest = height.min(axis=1, keepdims=True)
    rel = height - np.clip(lowest, 0.0, LIFT_TOLERANCE)
    depth = (CONTACT_HEIGHT - rel) / CONTACT_SOFTNESS
    return np.maximum(np.logaddexp(0.0, depth) - np.logaddexp(0.0, -4.0), 0.0)


def foot_contact(height: np.ndarray, hspeed: np.ndarray) -> np.ndarray:
    """Probability-like contact state (n,) of a foot from its lowest cells' height and speed.

    Mocap feet float and sink by a centimetre or two during stance, so contact
    needs both: low (within a couple of centimetres of the ground) and slow.
    """
    order = np.argsort(height, axis=1)[:, :3]
    h = np.take_along_axis(height, order, axis=1).mean(1)
    v = np.take_along_axis(hspeed, order, axis=1).mean(1)
    low = 1.0 / (1.0 + np.exp((h - STANCE_HEIGHT) / 0.005))
    slow = 1.0 / (1.0 + (v / SLIDE_SPEED) ** 4)
    return low * slow


def lean_towards(shape: np.ndarray, areas: np.ndarray, u: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Lean each frame's load along the foot towards the body's centre of mass.

    ``shape`` (n, 16) is the relative pressure from contact, ``u`` (n, 16) the
    cells' position along the foot's heading and ``offset`` (n,) how far the COM
    is ahead of the ankle, both in insole lengths. The ground reaction points at
    the COM and the ankle muscles stiffen as the shank rolls over the foot, so the
    load shifts smoothly with the COM: an exponential lean exp(λu), λ growing
    with the offset and bounded (the sole and heel pad keep spreading the load).
    Total load is unchanged.
    """
    lam = np.clip(LEAN_PER_LENGTH * offset, -LEAN_MAX, LEAN_MAX)
    return _exp_lean(shape, areas, u - u.mean(1, keepdims=True), lam)


def roll_across(shape: np.ndarray, areas: np.ndarray, v: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Lean each frame's load across the foot towards its lateral edge.

    A shod foot lands slightly supinated and loads its lateral column through
    mid-stance; in push-off the load crosses the metatarsal heads towards the
    first and the lean eases. Mocap feet hardly roll, so the cell heights alone
    keep the COP near the midline (COP y std 0.051 against 0.070 real); this
    lean, driven by how far the body's centre of mass is ahead of the ankle
    (``offset``, insole lengths), adds what the real walks show (fitted with
    tools/calibrate_simulator.py). ``v`` (16,) is each cell's medial coordinate
    (insole widths, medial > 0). Total load is unchanged.
    """
    late = 1.0 / (1.0 + np.exp(-(offset - ROLL_PIVOT) / ROLL_WIDTH))
    lam = -(ROLL_EARLY + (ROLL_LATE - ROLL_EARLY) * late)
    return _exp_lean(shape, areas, v - v.mean(), lam)


def _exp_lean(shape: np.ndarray, areas: np.ndarray, centred: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Weight each frame's cells by exp(λ·coordinate), keeping each frame's total load."""
    leaned = shape * np.exp(lam[:, None] * centred)
    total = (shape * areas).sum(1)
    return leaned * (total / np.maximum((leaned * areas).sum(1), 1e-300))[:, None]


def limit_toe_share(shape: np.ndarray, areas: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Cap the toes' share of the load; the rest goes to the metatarsal heads.

    In push-off the foot pivots on the metatarsal heads; the toes press down
    only as hard as the toe flexors and the plantar fascia (windlass) pull, so
    however the mocap toes bend, the heads keep most of the forefoot load.
    """
    weight = shape * areas
    total = weight.sum(1)
    toes = weight[:, TOE_CELLS].sum(1)
    excess = np.maximum(toes - TOE_SHARE_MAX * total, 0.0)
    out = shape.copy()
    keep = np.where(toes > 0, 1.0 - excess / np.maximum(toes, 1e-12), 1.0)
    out[:, TOE_CELLS] *= keep[:, None]
    heads = weight[:, HINGE_CELLS]
    fallback = (profile[HINGE_CELLS] * areas[HINGE_CELLS])[None]
    share = np.where(heads.sum(1, keepdims=True) > 1e-9 * np.maximum(total, 1e-12)[:, None], heads, fallback)
    share = share / share.sum(1, keepdims=True)
    out[:, HINGE_CELLS] += excess[:, None] * share / areas[HINGE_CELLS][None]
    return out


def touching(contact: np.ndarray, on: float, off: float) -> np.ndarray:
    """Hysteresis of a contact state: set where contact > on, cleared where < off."""
    state = np.where(contact > on, 1.0, np.where(contact < off, 0.0, np.nan))
    idx = np.where(np.isnan(state), 0, np.arange(state.size))
    np.maximum.accumulate(idx, out=idx)
    filled = state[idx]
    return np.nan_to_num(filled, nan=0.0) > 0.5
