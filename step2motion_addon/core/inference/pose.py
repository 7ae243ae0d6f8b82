# SPDX-License-Identifier: GPL-3.0-or-later
"""The pose vector the models predict, and its conversion to / from a Motion.

Per frame (``POSE_DIM`` = 135): 22 joints × 6-D rotation (the first two columns
of the local rotation matrix; continuous, unlike quaternions), root height (m),
contact probability of the left and right foot. The root (Hips) rotation is
stored with its heading removed: heading comes from the root model, so the pose
model never has to guess where the person faces.

Root targets per frame (``ROOT_DIM`` = 3): ground-plane displacement of the
Hips since the previous frame in the previous frame's heading frame (x, y, m)
and the heading change (rad). Integration is :func:`integrate_root`.
"""

from __future__ import annotations

import numpy as np

from ..motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX, MIRROR_INDEX, Motion
from ..motion import rotations as rot

N_JOINTS = len(CANONICAL_JOINTS)
ROT_DIM = N_JOINTS * 6
HEIGHT_COL = ROT_DIM
CONTACT_COLS = (ROT_DIM + 1, ROT_DIM + 2)
POSE_DIM = ROT_DIM + 3
ROOT_DIM = 3
FEET = (("LeftFoot", "LeftToeBase"), ("RightFoot", "RightToeBase"))

# Three tokens per frame, like the published model: each leg with its foot's
# contact, and the rest of the body with the root height.
_LEFT = ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase")
_RIGHT = ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")


def _cols(joints) -> list[int]:
    return [JOINT_INDEX[j] * 6 + k for j in joints for k in range(6)]


TOKEN_GROUPS = (
    ("left_leg", _cols(_LEFT) + [CONTACT_COLS[0]]),
    ("right_leg", _cols(_RIGHT) + [CONTACT_COLS[1]]),
    ("body", _cols([j for j in CANONICAL_JOINTS if j not in _LEFT + _RIGHT]) + [HEIGHT_COL]),
)


def matrix_to_6d(m: np.ndarray) -> np.ndarray:
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def sixd_to_matrix(d6: np.ndarray) -> np.ndarray:
    """Gram–Schmidt: any 6 numbers → a proper rotation matrix (..., 3, 3)."""
    a, b = d6[..., :3], d6[..., 3:6]
    x = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-8)
    b = b - (x * b).sum(-1, keepdims=True) * x
    y = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def yaw_quat(angle: np.ndarray) -> np.ndarray:
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    return np.stack([np.cos(half), np.zeros_like(half), np.zeros_like(half), np.sin(half)], axis=-1)


def heading(q_root: np.ndarray) -> np.ndarray:
    """Heading (rad) of the root: 0 when facing −Y (rest), positive turning left (about +Z)."""
    f = rot.rotate(q_root, np.array([0.0, -1.0, 0.0]))
    return np.arctan2(f[..., 0], -f[..., 1])


def contacts_from_motion(motion: Motion, height_tol: float = 0.04, speed_tol: float = 0.35) -> np.ndarray:
    """(T, 2) 0/1 foot contact: ankle or toe near the clip's floor and slow."""
    pos = motion.fk()
    floor = np.percentile(pos[:, [JOINT_INDEX[j] for f in FEET for j in f], 2], 2)
    out = np.zeros((motion.frames, 2))
    for k, names in enumerate(FEET):
        hit = np.zeros(motion.frames, dtype=bool)
        for name in names:
            p = pos[:, JOINT_INDEX[name]]
            v = np.linalg.norm(np.gradient(p, axis=0), axis=-1) * motion.fps
            hit |= (p[:, 2] - floor < height_tol) & (v < speed_tol)
        out[:, k] = hit
    return out


def pose_from_motion(motion: Motion, contacts: np.ndarray | None = None) -> np.ndarray:
    """(T, POSE_DIM) float32 targets of a canonical motion (heading removed from the root)."""
    q = rot.normalize(motion.rotations.copy())
    psi = heading(q[:, 0])
    q[:, 0] = rot.mul(yaw_quat(-psi), q[:, 0])
    out = np.zeros((motion.frames, POSE_DIM))
    out[:, :ROT_DIM] = matrix_to_6d(rot.to_matrix(q)).reshape(motion.frames, ROT_DIM)
    out[:, HEIGHT_COL] = motion.root_pos[:, 2]
    out[:, list(CONTACT_COLS)] = contacts_from_motion(motion) if contacts is None else contacts
    return out.astype(np.float32)


def root_from_motion(motion: Motion) -> np.ndarray:
    """(T, ROOT_DIM) float32: local ground displacement (x, y) and heading change; frame 0 is zeros."""
    psi = np.unwrap(heading(motion.rotations[:, 0]))
    d = np.diff(motion.root_pos[:, :2], axis=0)
    c, s = np.cos(psi[:-1]), np.sin(psi[:-1])
    local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=-1)
    out = np.zeros((motion.frames, ROOT_DIM))
    out[1:, :2] = local
    out[1:, 2] = np.diff(psi)
    return out.astype(np.float32)


# Reflecting x → −x turns a rotation R into M R M (M = diag(−1, 1, 1)): its first column
# keeps x and negates y, z; its second negates x (the 6-D layout of ``matrix_to_6d``).
_MIRROR_6D = np.array([1.0, -1.0, -1.0, -1.0, 1.0, 1.0])


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """(T, POSE_DIM) pose vectors (physical units) of the mirror image: ``Motion.mirrored`` in pose space.

    Left and right joints and contacts swap, every rotation is reflected through
    the body's sagittal plane; the root height is unchanged.
    """
    pose = np.asarray(pose)
    rot6 = pose[..., :ROT_DIM].reshape(*pose.shape[:-1], N_JOINTS, 6)[..., list(MIRROR_INDEX), :] * _MIRROR_6D
    out = pose.copy()
    out[..., :ROT_DIM] = rot6.reshape(*pose.shape[:-1], ROT_DIM)
    out[..., list(CONTACT_COLS)] = pose[..., list(CONTACT_COLS[::-1])]
    return out


def mirror_root(root: np.ndarray) -> np.ndarray:
    """(T, ROOT_DIM) root steps of the mirror image: sideways steps and turns change sign."""
    return np.asarray(root) * np.array([-1.0, 1.0, -1.0], dtype=np.asarray(root).dtype)


def integrate_root(root: np.ndarray, start_xy=(0.0, 0.0), start_heading: float = 0.0):
    """Root displacements (T, 3) → ground positions (T, 2) and heading (T,)."""
    root = np.asarray(root, dtype=np.float64)
    psi = start_heading + np.cumsum(root[:, 2])
    prev = np.concatenate([[start_heading], psi[:-1]])
    c, s = np.cos(prev), np.sin(prev)
    world = np.stack([c * root[:, 0] - s * root[:, 1], s * root[:, 0] + c * root[:, 1]], axis=-1)
    xy = np.asarray(start_xy, dtype=np.float64) + np.cumsum(world, axis=0)
    return xy, psi


def pose_to_rotations(pose: np.ndarray, psi: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(T, POSE_DIM) + heading (T,) → (T, 22, 4) local quaternions wxyz (root with heading).

    Works ``chunk`` frames at a time: the float64 matrices and quaternion candidates
    of a whole hour would take over 1 GB; per chunk they take a few tens of MB. Every
    step is per frame except sign continuity, which is carried across chunk borders,
    so the result equals a one-shot conversion exactly.
    """
    t = pose.shape[0]
    psi = np.asarray(psi, dtype=np.float64)
    out = np.empty((t, N_JOINTS, 4))
    chunk = max(int(chunk), 1)
    for a in range(0, t, chunk):
        b = min(a + chunk, t)
        m = sixd_to_matrix(pose[a:b, :ROT_DIM].reshape(b - a, N_JOINTS, 6).astype(np.float64))
        q = rot.normalize(rot.from_matrix(m))
        del m
        q[:, 0] = rot.mul(yaw_quat(psi[a:b]), q[:, 0])
        q = rot.make_continuous(q, axis=0)
        if a > 0:
            # Same hemisphere as the previous chunk's last frame, per joint.
            q *= np.where((q[0] * out[a - 1]).sum(-1) < 0, -1.0, 1.0)[None, :, None]
        out[a:b] = q
    return out


__all__ = ["POSE_DIM", "ROOT_DIM", "TOKEN_GROUPS", "CANONICAL_PARENTS", "pose_from_motion", "root_from_motion",
           "integrate_root", "pose_to_rotations", "sixd_to_matrix", "matrix_to_6d", "mirror_pose", "mirror_root"]
