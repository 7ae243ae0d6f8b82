# SPDX-License-Identifier: GPL-3.0-or-later
"""Clean-up of captured motion before it is simulated or compared against.

Two defects of public capture files that a walk reconstruction cannot absorb:
a reference pose some converters put before the take (the CMU subject-07
walks start with a T-pose at the origin, then jump 2–3 m to where the walk
begins: a 150 m/s "step" that the simulator would turn into an IMU spike and
the evaluation into metres of root error), and a floor that is not level.
"""

from __future__ import annotations

import numpy as np

from . import rotations as rot
from .skeleton import JOINT_INDEX, Motion

MAX_ROOT_SPEED = 15.0        # m/s: faster than any sprint; a root step beyond it is a cut, not motion
LEAD_S = 0.5                 # reference frames are looked for only this close to the start


def root_jumps(motion: Motion, max_speed: float = MAX_ROOT_SPEED) -> np.ndarray:
    """Frame indices ``i`` where the root moves from frame ``i`` to ``i + 1`` faster than ``max_speed``."""
    if motion.frames < 2:
        return np.zeros(0, dtype=int)
    speed = np.linalg.norm(np.diff(motion.root_pos, axis=0), axis=-1) * motion.fps
    return np.flatnonzero(speed > max_speed)


def drop_reference_frames(motion: Motion, max_speed: float = MAX_ROOT_SPEED, lead_s: float = LEAD_S) -> Motion:
    """The motion without leading frames cut off from the take by a root jump.

    Only jumps within the first ``lead_s`` count: a jump later on is a cut in the
    capture, left for :func:`root_jumps` callers to reject with its frame number.
    The number of frames dropped is recorded in ``meta["reference_frames_dropped"]``.
    """
    jumps = root_jumps(motion, max_speed)
    lead = jumps[jumps < lead_s * motion.fps]
    if not lead.size:
        return motion
    k = int(lead[-1]) + 1
    return Motion(motion.fps, motion.offsets.copy(), motion.rotations[k:].copy(), motion.root_pos[k:].copy(),
                  dict(motion.meta, reference_frames_dropped=k))


def level_floor(motion: Motion) -> Motion:
    """The motion turned so the floor its feet stand on is level, at height 0.

    Some conversions carry a slight tilt of the up axis (the CMU walks of the
    shared set climb ≈5 cm over 4 m), and a walk on a slope looks like a
    foot floating at one end and sinking at the other. The floor is the plane
    fitted (least squares) to the lowest foot joint at the slow frames of each foot.
    """
    pos = motion.fk()
    fps = motion.fps
    points = []
    for foot, toe in (("LeftFoot", "LeftToeBase"), ("RightFoot", "RightToeBase")):
        p = pos[:, [JOINT_INDEX[foot], JOINT_INDEX[toe]]]                   # (T, 2, 3)
        low = p[np.arange(len(p)), p[..., 2].argmin(1)]                     # (T, 3)
        speed = np.linalg.norm(np.gradient(low[:, :2], 1.0 / fps, axis=0), axis=1)
        slow = speed <= max(np.percentile(speed, 35), 0.05)
        points.append(low[slow])
    pts = np.concatenate(points)
    if len(pts) < 10 or np.ptp(pts[:, 0]) + np.ptp(pts[:, 1]) < 0.5:
        out = Motion(fps, motion.offsets.copy(), motion.rotations.copy(), motion.root_pos.copy(), dict(motion.meta))
        out.root_pos[:, 2] -= np.percentile(pts[:, 2], 50) if len(pts) else 0.0
        return out
    a = np.c_[np.ones(len(pts)), pts[:, 0], pts[:, 1]]
    coef, *_ = np.linalg.lstsq(a, pts[:, 2], rcond=None)
    normal = np.array([-coef[1], -coef[2], 1.0])
    turn = rot.between(normal / np.linalg.norm(normal), np.array([0.0, 0, 1]))
    centre = pts.mean(0)
    rotations = motion.rotations.copy()
    rotations[:, 0] = rot.mul(turn[None], rotations[:, 0])
    root = centre + rot.rotate(turn[None], motion.root_pos - centre)
    floor = coef[0] + coef[1] * centre[0] + coef[2] * centre[1]              # plane height at the pivot
    root[:, 2] -= floor
    return Motion(fps, motion.offsets.copy(), rotations, root, dict(motion.meta, floor_levelled=True))
