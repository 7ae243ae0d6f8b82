# SPDX-License-Identifier: GPL-3.0-or-later
"""Orientation of one insole from its own 6-axis IMU (no magnetometer).

Two interchangeable estimators, both returning quaternions (w, x, y, z) that
rotate the insole frame into an earth frame with +Z up and the heading (yaw)
of the first sample as zero, so heading is relative to the start of the take:

* a complementary filter written here (Mahony-style proportional correction of
  the gyro integration towards the accelerometer's gravity direction, only while
  the foot measures gravity): the default, because it keeps the tilt better over
  whole strides;
* ``imufusion`` (x-io's Fusion AHRS, C extension), selectable when installed.

Both start from an orientation estimated over the start of the take
(:func:`_start_orientation`). docs/models.md compares them on real Moticon
recordings and on simulated strides with known truth.
"""

from __future__ import annotations

import math

import numpy as np

from .motion import rotations as rot

DEG = math.pi / 180.0
DEFAULT_GAIN = {"imufusion": 2.0, "complementary": 1.0, "start": 2.0}


def tilt_quaternion(acc: np.ndarray) -> np.ndarray:
    """Quaternion with zero yaw whose 'up' matches a (gravity-including) accelerometer sample."""
    a = np.asarray(acc, dtype=np.float64)
    n = np.linalg.norm(a)
    if not n > 0:
        return np.array([1.0, 0.0, 0.0, 0.0])
    ax, ay, az = a / n
    # Rotation taking the body 'up' (ax, ay, az) onto earth +Z: axis = up × Z.
    # Its yaw is zero in the sense that it is the shortest arc (no twist about Z).
    w = 1.0 + az
    if w < 1e-9:                     # upside down: rotate 180° about X
        return np.array([0.0, 1.0, 0.0, 0.0])
    q = np.array([w, ay, -ax, 0.0])  # (1 + a·z, a × z) normalised
    return q / np.linalg.norm(q)


def _complementary(acc: np.ndarray, gyro_dps: np.ndarray, dt: float, gain: float,
                   reject_g: float, still_dps: float = 1e9, q0=None) -> np.ndarray:
    """Pure-Python per-sample loop (≈4 µs/sample); floats, not numpy, for speed.

    ``q0`` continues from a previous orientation (streaming); by default the first
    sample's tilt starts it.
    """
    n = acc.shape[0]
    out = np.empty((n, 4), dtype=np.float64)
    qw, qx, qy, qz = (float(v) for v in q0) if q0 is not None else tilt_quaternion(acc[0])
    kp = gain
    for i in range(n):
        ax, ay, az = float(acc[i, 0]), float(acc[i, 1]), float(acc[i, 2])
        gx, gy, gz = float(gyro_dps[i, 0]) * DEG, float(gyro_dps[i, 1]) * DEG, float(gyro_dps[i, 2]) * DEG
        norm = math.sqrt(ax * ax + ay * ay + az * az)
        # Trust the accelerometer only when it measures gravity: |a| ≈ 1 g and the
        # foot barely rotating (mid-stance); in swing |a| can pass 1 g while pointing elsewhere.
        spin = math.sqrt(gx * gx + gy * gy + gz * gz)
        if norm > 0 and abs(norm - 1.0) < reject_g and spin < still_dps * DEG:
            ax, ay, az = ax / norm, ay / norm, az / norm
            # Earth 'up' in the body frame from the current estimate (third row of R).
            vx = 2.0 * (qx * qz - qw * qy)
            vy = 2.0 * (qw * qx + qy * qz)
            vz = qw * qw - qx * qx - qy * qy + qz * qz
            # Error = measured × estimated; drives the estimate towards the measurement.
            gx += kp * (ay * vz - az * vy)
            gy += kp * (az * vx - ax * vz)
            gz += kp * (ax * vy - ay * vx)
        h = 0.5 * dt
        dw = -qx * gx - qy * gy - qz * gz
        dx = qw * gx + qy * gz - qz * gy
        dy = qw * gy - qx * gz + qz * gx
        dz = qw * gz + qx * gy - qy * gx
        qw, qx, qy, qz = qw + h * dw, qx + h * dx, qy + h * dy, qz + h * dz
        s = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw * s, qx * s, qy * s, qz * s
        out[i] = (qw, qx, qy, qz)
    return out


def _imufusion(acc: np.ndarray, gyro_dps: np.ndarray, rate: float, gain: float,
               reject_deg: float, q0=None) -> np.ndarray:
    import imufusion  # optional dependency

    ahrs = imufusion.Ahrs()
    settings = imufusion.AhrsSettings()
    settings.convention = imufusion.CONVENTION_NWU
    settings.gain = gain
    settings.gyroscope_range = 2000.0
    settings.acceleration_rejection = reject_deg
    settings.magnetic_rejection = 0.0
    settings.rejection_timeout = int(5 * rate)
    settings.sample_rate = rate
    ahrs.set_settings(settings)
    ahrs.set_quaternion(tilt_quaternion(acc[0]) if q0 is None else np.asarray(q0, dtype=np.float64))
    ahrs.skip_startup()              # we initialised from gravity: no high-gain start ramp
    out = np.empty((acc.shape[0], 4), dtype=np.float64)
    a64 = np.ascontiguousarray(acc, dtype=np.float64)
    g64 = np.ascontiguousarray(gyro_dps, dtype=np.float64)
    for i in range(acc.shape[0]):
        ahrs.update_no_magnetometer(g64[i], a64[i])
        out[i] = ahrs.get_quaternion()
    return out


STANCE_ACC_G = 0.05        # mid-stance detector of gyro_bias's fallback
STANCE_GYRO_DPS = 20.0
BIAS_BLOCK = 8192          # windows per block in gyro_bias (memory only: ≈ 10 MB per copy)


def gyro_bias(acc: np.ndarray, gyro_dps: np.ndarray, rate: float, info: dict | None = None,
              tilt_offset: str = "median") -> np.ndarray:
    """Constant gyro offset (deg/s) from the take's still periods (Moticon: up to ≈3 dps).

    Still = |a| within 0.03 g of 1 g and the gyro within 5 dps of its running
    median over 0.5 s. Takes that start moving have too little of that (under
    0.3 s); then the foot's mid-stance moments stand in: the planted foot barely
    turns, so |a| ≈ 1 g and |ω| < 20 dps there read mostly bias (zero-rate update;
    on 100 simulated test walks the final heading error fell from 5.4° to 3.9°).
    Zeros when neither gives 0.3 s. ``info["bias_source"]`` says which: "still",
    "stance" or "none" (only "still" pins the heading).

    ``tilt_offset`` ("median" or "strides") chooses the x/y offset of the mid-stance
    fallback. The median reads the rocking of a planted foot (heel and forefoot
    rockers: up to 10 dps, one direction) as offset and tilts the estimate by 20–55°
    over an 18 s walk with ideal sensors; "strides" (:func:`stride_tilt_bias`) asks
    that the foot come back to the tilt gravity shows at each mid-stance and lands
    near the true offset. "median" stays the default for callers that name no model
    set; a set names the one it was trained on (``features.tilt_offset``; docs/models.md).
    """
    if tilt_offset not in ("median", "strides"):
        raise ValueError(f"tilt_offset must be 'median' or 'strides', not {tilt_offset!r}")
    def found(source: str, bias: np.ndarray) -> np.ndarray:
        if info is not None:
            info["bias_source"] = source
        return bias

    an = np.linalg.norm(acc, axis=1)
    k = max(1, int(round(0.25 * rate)))
    n = gyro_dps.shape[0]
    if n < 2 * k + 1:
        return found("none", np.zeros(3))
    windows = np.lib.stride_tricks.sliding_window_view(gyro_dps, 2 * k + 1, axis=0)  # (n-2k, 3, 2k+1)
    spread = np.empty(windows.shape[0])
    # In blocks: the median copies its windows (≈0.4 GB per foot for an hour at once).
    for s in range(0, windows.shape[0], BIAS_BLOCK):
        w = windows[s:s + BIAS_BLOCK]
        spread[s:s + BIAS_BLOCK] = np.abs(w - np.median(w, axis=-1, keepdims=True)).max(axis=(1, 2))
    still = np.zeros(n, dtype=bool)
    still[k:n - k] = (spread < 5.0) & (np.abs(an[k:n - k] - 1.0) < 0.03)
    if still.sum() >= 0.3 * rate:
        return found("still", np.median(gyro_dps[still], axis=0))
    stance = (np.abs(an - 1.0) < STANCE_ACC_G) & (np.linalg.norm(gyro_dps, axis=1) < STANCE_GYRO_DPS)
    if stance.sum() >= 0.3 * rate:
        median = np.median(gyro_dps[stance], axis=0)
        if tilt_offset == "median":
            return found("stance", median)
        xy = stride_tilt_bias(acc, gyro_dps, rate, stance, float(median[2]))
        return found("stance", np.array([*(xy if xy is not None else (0.0, 0.0)), median[2]]))
    return found("none", np.zeros(3))


STRIDE_MAX_GAP_S = 2.5     # consecutive mid-stances further apart than this are not one stride
STRIDE_MIN_PAIRS = 3


def ordered_product(dq: np.ndarray) -> np.ndarray:
    """(N, 4): dq[:, 0]·dq[:, 1]·…·dq[:, T-1] of (N, T, 4) quaternions, in log2(T) pairwise rounds.

    The same product as multiplying the samples in order (to rounding), without a
    Python loop over every sample of a stride (the 18 s demo walk's features: 0.39 → 0.10 s).
    """
    dq = np.asarray(dq, dtype=np.float64)
    while dq.shape[1] > 1:
        if dq.shape[1] % 2:                           # pad with the identity at the end
            pad = np.zeros((dq.shape[0], 1, 4))
            pad[..., 0] = 1.0
            dq = np.concatenate([dq, pad], axis=1)
        dq = rot.mul(dq[:, 0::2], dq[:, 1::2])
    return dq[:, 0]


def stride_tilt_bias(acc: np.ndarray, gyro_dps: np.ndarray, rate: float, stance: np.ndarray,
                     z_dps: float = 0.0) -> np.ndarray | None:
    """x/y gyro offset (deg/s) from the foot coming back to rest on the floor at every mid-stance.

    Between two mid-stance moments the gyro, integrated, must turn the gravity
    direction the accelerometer reads at the first into the one it reads at the
    second. A foot that rocks within stance still returns to the floor, so what
    the integral misses is the offset (times the stride's duration) plus noise;
    least squares over all strides (Gauss–Newton on the two axes, then again
    without the worst-fitting strides). Yaw is free (the wearer may turn), so z
    is not estimated here; its offset ``z_dps`` is removed first (the insole is
    not level through a stride, so an uncorrected z offset tilts the integral too).
    ``stance``: the mid-stance mask of :func:`gyro_bias`.
    None with fewer than ``STRIDE_MIN_PAIRS`` strides.
    """
    edges = np.diff(np.concatenate([[0], stance.astype(np.int8), [0]]))
    s, e = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (e - s) >= 3
    s, e = s[keep], e[keep]
    if len(s) <= STRIDE_MIN_PAIRS:
        return None
    g = np.stack([acc[a:b].mean(axis=0) for a, b in zip(s, e)])
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    mids = (s + e) // 2
    ok = np.diff(mids) <= STRIDE_MAX_GAP_S * rate
    i0, i1, g0, g1 = mids[:-1][ok], mids[1:][ok], g[:-1][ok], g[1:][ok]
    if len(i0) < STRIDE_MIN_PAIRS:
        return None
    idx = i0[:, None] + np.arange(int((i1 - i0).max()))[None]
    inside = idx < i1[:, None]
    seg = np.where(inside[..., None], gyro_dps[np.minimum(idx, len(gyro_dps) - 1)], 0.0)

    def residual(b: np.ndarray) -> np.ndarray:
        w = np.where(inside[..., None], seg - b, 0.0) * (DEG / rate)          # rotation vector per sample
        ang = np.linalg.norm(w, axis=-1)
        k = np.where(ang > 1e-12, np.sin(0.5 * ang) / np.maximum(ang, 1e-12), 0.5)
        dq = np.concatenate([np.cos(0.5 * ang)[..., None], w * k[..., None]], axis=-1)
        q = ordered_product(dq)                       # strides in parallel
        return rot.rotate(rot.conj(q), g0) - g1               # gravity carried to the next mid-stance vs measured

    b = np.array([0.0, 0.0, z_dps])
    use = np.ones(len(i0), dtype=bool)
    for it in range(3):
        r0 = residual(b)
        if it == 2:                                  # a stride on a slope or a stumble: leave it out
            norm = np.linalg.norm(r0, axis=1)
            use = norm <= 3.0 * np.median(norm) + 1e-9
        jac = np.stack([((residual(b + 0.5 * np.eye(3)[k]) - r0) / 0.5)[use].ravel() for k in range(2)], axis=1)
        b[:2] += np.linalg.lstsq(jac, -r0[use].ravel(), rcond=None)[0]
    return b[:2]


def first_still(acc: np.ndarray, gyro_dps: np.ndarray, rate: float, hold_s: float = 0.05) -> int | None:
    """Index of the first sample of the first moment the foot is still (|a| ≈ 1 g, slow gyro).

    Only there does the accelerometer give the tilt; takes cut from mocap (and
    live takes started while walking) begin mid-stride, where it does not.
    """
    ok = (np.abs(np.linalg.norm(acc, axis=1) - 1.0) < 0.1) & (np.linalg.norm(gyro_dps, axis=1) < 50.0)
    k = max(1, int(round(hold_s * rate)))
    if ok.size < k:
        return None
    run = np.convolve(ok.astype(np.int32), np.ones(k, dtype=np.int32), mode="valid")
    hits = np.flatnonzero(run == k)
    return int(hits[0]) if hits.size else None


def _start_orientation(acc, gyro_dps, rate, gain: float, passes: int = 2, span_s: float = 30.0):
    """Orientation at sample 0, estimated from the whole start of the take.

    From the first still moment (or sample 0) the gated complementary filter
    runs back to the start, then ``passes`` times forward over the first
    ``span_s`` seconds and back again: each pass lets the gravity direction of
    every stance phase correct the tilt, so the start is right even when the
    take (or a mocap clip) begins mid-stride.
    """
    n = min(acc.shape[0], max(int(span_s * rate), 2))
    i0 = first_still(acc, gyro_dps, rate) or 0

    def run(a, g, q0):
        return _complementary(a, g, 1.0 / rate, gain=gain, reject_g=0.1, still_dps=60.0, q0=q0)

    q = run(acc[i0::-1], -gyro_dps[i0::-1], tilt_quaternion(acc[i0]))[-1]
    for _ in range(passes):
        q = run(acc[:n], gyro_dps[:n], q)[-1]
        q = run(acc[n - 1::-1], -gyro_dps[n - 1::-1], q)[-1]
    return q


def has_imufusion() -> bool:
    try:
        import imufusion  # noqa: F401
    except ImportError:
        return False
    return True


def estimate_orientation(acc: np.ndarray, gyro_dps: np.ndarray, rate: float,
                         backend: str = "auto", gain: float | None = None,
                         info: dict | None = None, tilt_offset: str = "median") -> tuple[np.ndarray, str]:
    """Per-sample orientation quaternions (n, 4) wxyz, insole → earth (Z up, start yaw 0).

    ``acc`` in g (gravity included), ``gyro_dps`` in deg/s, both (n, 3) at the
    native ``rate``; NaNs must have been filled. Returns (quats, backend used).
    ``tilt_offset``: how :func:`gyro_bias` finds the x/y offset without a still moment.
    """
    acc = np.asarray(acc, dtype=np.float64)
    gyro_dps = np.asarray(gyro_dps, dtype=np.float64)
    if acc.shape[0] == 0:
        return np.zeros((0, 4)), "none"
    if backend == "auto":
        # On simulated walks with known truth the gated complementary filter keeps the
        # tilt better than Fusion, whose acceleration rejection accepts swing-phase
        # accelerations (docs/models.md, "Orientation filter"); Fusion stays selectable.
        backend = "complementary"
    gyro_dps = gyro_dps - gyro_bias(acc, gyro_dps, rate, info, tilt_offset)
    if gain is None:                 # best rest-entry tilt error on real Moticon files (docs/models.md)
        gain = DEFAULT_GAIN[backend]
    q0 = _start_orientation(acc, gyro_dps, rate, DEFAULT_GAIN["start"])
    if backend == "imufusion":
        q = _imufusion(acc, gyro_dps, rate, gain, reject_deg=10.0, q0=q0)
    elif backend == "complementary":
        q = _complementary(acc, gyro_dps, 1.0 / rate, gain=gain, reject_g=0.1, still_dps=60.0, q0=q0)
    else:
        raise ValueError(f"unknown AHRS backend {backend!r}")
    q = _zero_start_yaw(q)
    return q, backend


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz → (..., 3, 3)."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def earth_up(q: np.ndarray) -> np.ndarray:
    """Earth Z in the insole frame, (..., 3): the third row of :func:`quat_to_matrix`,
    computed alone (the same expressions) to avoid the whole take's (n, 3, 3) matrices."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)


def yaw_of(q: np.ndarray) -> np.ndarray:
    """Heading (rad) of the body X axis projected on the ground plane."""
    # The two matrix entries needed (as quat_to_matrix computes them), not (..., 3, 3).
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    return np.arctan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z))


def flat_heading(q: np.ndarray, max_tilt_deg: float = 30.0) -> np.ndarray:
    """Unwrapped heading (rad) of the insole, read only while it lies nearly flat.

    The heading of the X axis is undefined when the insole stands on its toes
    (X near vertical) and jumps by whole turns there; in stance it is exact.
    So it is taken from the flat samples, unwrapped along them (a foot does not
    turn by half a turn during one swing) and interpolated across the swings.
    """
    yaw = yaw_of(q)
    flat = np.flatnonzero(earth_up(q)[..., 2] > math.cos(math.radians(max_tilt_deg)))
    if flat.size < 2:
        return np.unwrap(yaw)
    anchored = np.unwrap(yaw[flat])
    return np.interp(np.arange(q.shape[0]), flat, anchored)


def _zero_start_yaw(q: np.ndarray) -> np.ndarray:
    """Pre-rotate about earth Z so the first sample has zero heading."""
    psi = float(yaw_of(q[0]))
    c, s = math.cos(-psi / 2), math.sin(-psi / 2)
    # (c, 0, 0, s) ⊗ q
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([c * w - s * z, c * x - s * y, c * y + s * x, c * z + s * w], axis=-1)
