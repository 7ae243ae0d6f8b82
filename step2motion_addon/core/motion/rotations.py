# SPDX-License-Identifier: GPL-3.0-or-later
"""Quaternion and rotation utilities, vectorised over leading axes.

Quaternions are ``(..., 4)`` arrays ordered w, x, y, z (Blender's order) and
represent active rotations of vectors: ``rotate(q, v) = q v q*``.
"""

from __future__ import annotations

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    return q / np.where(n > 0, n, 1.0)


def conj(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a·b (apply b first, then a)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)``."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    n = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = axis / np.where(n > 0, n, 1.0)
    half = 0.5 * angle[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


_AXES = {"X": np.array([1.0, 0, 0]), "Y": np.array([0, 1.0, 0]), "Z": np.array([0, 0, 1.0])}


def from_euler(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Quaternions from Euler angles as BVH lists them.

    ``order`` names the axes in channel order (e.g. "ZXY"); the rotation is
    R = R_order[0] · R_order[1] · R_order[2] (BVH's intrinsic convention).
    """
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    q = None
    for i, axis in enumerate(order):
        qi = from_axis_angle(np.broadcast_to(_AXES[axis], angles.shape[:-1] + (3,)), angles[..., i])
        q = qi if q is None else mul(q, qi)
    return q


def to_matrix(q: np.ndarray) -> np.ndarray:
    q = normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternions from rotation matrices (..., 3, 3), numerically robust."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate solutions; pick per element the one with the largest divisor.
    cand = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
    ], axis=-2)
    diag = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotation taking direction ``a`` onto direction ``b`` (..., 3)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    a, b = np.broadcast_arrays(a, b)
    w = 1.0 + (a * b).sum(-1, keepdims=True)
    xyz = np.cross(a, b)
    # Opposite vectors: any axis orthogonal to a.
    opposite = w[..., 0] < 1e-9
    if np.any(opposite):
        ortho = np.cross(a, np.array([1.0, 0, 0]))
        small = np.linalg.norm(ortho, axis=-1) < 1e-6
        ortho[small] = np.cross(a[small], np.array([0, 1.0, 0]))
        xyz = np.where(opposite[..., None], ortho, xyz)
        w = np.where(opposite[..., None], 0.0, w)
    return normalize(np.concatenate([w, xyz], axis=-1))


def frame_from_axes(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rotation whose local X is along ``x`` and local Z as close to ``z`` as possible."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    z2 = np.cross(x, y)
    return from_matrix(np.stack([x, y, z2], axis=-1))


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation best mapping point sets ``src (k, 3)`` onto ``dst (..., k, 3)`` (no translation)."""
    h = np.einsum("ki,...kj->...ij", src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("...ij,...jk->...ik", u, vt)).reshape(h.shape[:-2]))
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = d
    r = np.einsum("...ji,...j,...kj->...ik", vt, fix, u)
    return from_matrix(r)


def make_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` so consecutive quaternions lie in one hemisphere."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    dots = (q[1:] * q[:-1]).sum(-1)
    flips = np.cumsum(dots < 0, axis=0) % 2
    q[1:] *= np.where(flips[..., None] == 1, -1.0, 1.0)
    return np.moveaxis(q, 0, axis)


def nlerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Normalised linear interpolation (shortest arc), good for small steps."""
    b = np.where(((a * b).sum(-1, keepdims=True) < 0), -b, b)
    t = np.asarray(t, dtype=np.float64)[..., None]
    return normalize(a * (1 - t) + b * t)


def log(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis × angle, radians) of unit quaternions."""
    q = normalize(q)
    q = np.where(q[..., :1] < 0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1)
    angle = 2.0 * np.arctan2(s, q[..., 0])
    scale = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return q[..., 1:] * scale[..., None]


def yaw(angle: np.ndarray) -> np.ndarray:
    """Rotation about world +Z."""
    angle = np.asarray(angle, dtype=np.float64)
    return from_axis_angle(np.broadcast_to([0.0, 0, 1.0], angle.shape + (3,)), angle)
