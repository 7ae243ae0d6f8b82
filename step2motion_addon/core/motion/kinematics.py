# SPDX-License-Identifier: GPL-3.0-or-later
"""Kinematics helpers: resampling, zero-phase smoothing, derivatives, angular velocity.

All functions work along axis 0 (time) and are vectorised over the other axes.
"""

from __future__ import annotations

import numpy as np

from . import rotations as rot


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time; ``sigma`` in samples.

    Edges are point-reflected (2·x₀ − x), which continues the signal's slope: a
    plain mirror would reverse a moving foot's velocity at the first sample and
    double-differentiate into tens of g of false acceleration.
    """
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.shape[0] < 3:
        return x.copy()
    radius = int(np.ceil(3.5 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    pad = min(radius, x.shape[0] - 1)
    xp = np.concatenate([2 * x[:1] - x[pad:0:-1], x, 2 * x[-1:] - x[-2:-pad - 2:-1]], axis=0) if pad > 0 else x
    if pad < radius:                       # very short signals: edge-pad the rest
        extra = radius - pad
        xp = np.concatenate([np.repeat(xp[:1], extra, 0), xp, np.repeat(xp[-1:], extra, 0)], axis=0)
    flat = xp.reshape(xp.shape[0], -1)
    # Convolution as a sum of shifted copies: fast for the short kernels used here.
    out = np.zeros((x.shape[0], flat.shape[1]))
    for i, w in enumerate(k):
        out += w * flat[i:i + x.shape[0]]
    return out.reshape(x.shape)


def derivative(x: np.ndarray, dt: float) -> np.ndarray:
    """Central difference (one-sided at the ends)."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return np.zeros_like(x)
    return np.gradient(x, dt, axis=0)


def resample_linear(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling of a signal sampled at ``fps_in`` onto a ``fps_out`` grid from t=0."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        return x.copy()
    duration = (n - 1) / fps_in
    t = np.arange(0.0, duration + 1e-9, 1.0 / fps_out) * fps_in
    i0 = np.minimum(np.floor(t).astype(int), n - 2)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i0 + 1] * w


def resample_quat(q: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Quaternion resampling (nlerp between neighbours) onto a ``fps_out`` grid."""
    q = rot.make_continuous(q, axis=0)
    return rot.normalize(resample_linear(q, fps_in, fps_out))


def smooth_quat(q: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth a continuous quaternion track (small-angle safe: averages then renormalises)."""
    return rot.normalize(gaussian_smooth(rot.make_continuous(q, axis=0), sigma))


def body_angular_velocity(q: np.ndarray, dt: float) -> np.ndarray:
    """Angular velocity in the body frame (rad/s) of a rotation track ``q (T, ..., 4)``.

    Central difference of the relative rotation: ω ≈ log(q(t−1)⁻¹ q(t+1)) / 2dt.
    """
    q = rot.make_continuous(q, axis=0)
    if q.shape[0] < 3:
        return np.zeros(q.shape[:-1] + (3,))
    prev = np.concatenate([q[:1], q[:-1]], axis=0)
    nxt = np.concatenate([q[1:], q[-1:]], axis=0)
    span = np.full(q.shape[0], 2.0 * dt)
    span[0] = span[-1] = dt
    rel = rot.mul(rot.conj(prev), nxt)
    return rot.log(rel) / span.reshape((-1,) + (1,) * (q.ndim - 1))
