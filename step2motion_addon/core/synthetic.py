# SPDX-License-Identifier: GPL-3.0-or-later
"""A procedural two-foot walking take (no third-party data), for demos and tests.

The take starts and ends with quiet standing (both feet loaded, half the body
weight each) and walks in between with stride-to-stride variability. Each foot
follows the same stance/swing clock (≈60 % stance, so ≈10 % double support per
half stride); the right foot is half a stride behind the left. Everything is
vectorised over samples, so an hour of data takes a few seconds.

Channels follow the conventions of :mod:`.take` and the device model of
:mod:`.insole`: cell pressures are spread around the wanted centre of pressure
and quantised to the device's 0.25 N/cm², and the stored force/COP are then
recomputed with :func:`insole.force_and_cop`, exactly as the device does.
"""

from __future__ import annotations

import numpy as np

from . import insole
from .take import Event, FootStream, Take, TakeMeta

G = 9.80665
STANCE = 0.60              # fraction of the stride a foot is on the ground
STRIDE_S = 1.10            # mean stride period (two steps), seconds
STAND_S = 1.5              # quiet standing at the start and at the end
REST_PITCH_DEG = 10.0      # heel-to-toe drop of the shoe: insole pitched nose-down
_BLEND_S = 0.35            # cross-fade between standing and walking


def _stance_force_shape(s: np.ndarray) -> np.ndarray:
    """Double-hump vertical force over stance phase s ∈ [0, 1], peak 1, valley ≈0.8."""
    s = np.clip(s, 0.0, 1.0)
    raw = np.sin(np.pi * s) ** 0.6 * (0.70 + 0.45 * np.exp(-((s - 0.22) / 0.11) ** 2)
                                      + 0.45 * np.exp(-((s - 0.78) / 0.11) ** 2))
    return raw / _SHAPE_PEAK


_grid = np.linspace(0.0, 1.0, 2001)
_SHAPE_PEAK = 1.0
_SHAPE_PEAK = float(_stance_force_shape(_grid).max())


def _pitch_table(n: int = 1000) -> np.ndarray:
    """Foot pitch (deg, toes up positive) over one stride phase φ ∈ [0, 1), heel strike at 0."""
    key_phase = np.array([0.00, 0.12, 0.45, 0.60, 0.68, 0.85, 1.00])
    key_pitch = np.array([18.0, 0.0, 0.0, -30.0, -40.0, 5.0, 18.0])
    phi = np.arange(n) / n
    raw = np.interp(phi, key_phase, key_pitch)
    # Periodic Gaussian smoothing turns the keyframes into a smooth, differentiable cycle.
    k = np.exp(-0.5 * (np.arange(-n // 2, n // 2) / (0.035 * n)) ** 2)
    k /= k.sum()
    return np.real(np.fft.ifft(np.fft.fft(raw) * np.fft.fft(np.fft.ifftshift(k))))


_PITCH = _pitch_table()


def _spread_pressure(force: np.ndarray, cop: np.ndarray, sigma: np.ndarray, size: int) -> np.ndarray:
    """Cell pressures (n, 16) whose area-weighted sum is ``force`` and centroid ≈ ``cop``.

    A Gaussian bump over the cell points is re-centred a few times so that the
    discrete, irregular cell layout still reproduces the wanted centroid.
    """
    a = insole.cell_areas(size)
    cx, cy = insole.CELL_X[None, :], insole.CELL_Y[None, :]
    mu = cop.astype(np.float64).copy()
    s2 = (2.0 * sigma ** 2)[:, None]
    for _ in range(6):
        w = a * np.exp(-((cx - mu[:, :1]) ** 2 + ((cy - mu[:, 1:]) * 1.6) ** 2) / s2) + 1e-12
        got = np.stack([(w * cx).sum(1), (w * cy).sum(1)], 1) / w.sum(1, keepdims=True)
        mu += cop - got
    w = np.exp(-((cx - mu[:, :1]) ** 2 + ((cy - mu[:, 1:]) * 1.6) ** 2) / s2) + 1e-12
    return force[:, None] * w / (w * a).sum(1, keepdims=True)


def _foot(side: str, t: np.ndarray, strikes: np.ndarray, body_n: float, size: int,
          stand_w: np.ndarray, rng: np.random.Generator) -> tuple[FootStream, list[Event]]:
    n = t.shape[0]
    k = np.clip(np.searchsorted(strikes, t, side="right") - 1, 0, len(strikes) - 2)
    period = strikes[k + 1] - strikes[k]
    phi = np.clip((t - strikes[k]) / period, 0.0, 1.0 - 1e-9)
    stance = phi < STANCE
    s = phi / STANCE

    peak = rng.uniform(1.08, 1.18, len(strikes))[k]          # per-stride peak, × body weight
    f_walk = np.where(stance, body_n * peak * _stance_force_shape(s), 0.0)
    cop_walk = np.stack([-0.36 + 0.72 * s ** 1.5,
                         -0.06 + 0.14 * s], 1)
    pitch_walk = _PITCH[(phi * len(_PITCH)).astype(int)]

    f = stand_w * 0.5 * body_n + (1 - stand_w) * f_walk
    cop = stand_w[:, None] * np.array([-0.12, 0.0]) + (1 - stand_w[:, None]) * cop_walk
    pitch = (1 - stand_w) * pitch_walk
    sigma = np.where(stand_w > 0.5, 0.22, 0.17)

    loaded = f > 1.0
    p = np.zeros((n, 16))
    if loaded.any():
        p[loaded] = _spread_pressure(f[loaded], cop[loaded], sigma[loaded], size)
    p += np.where(loaded[:, None], rng.normal(0.0, 0.12, p.shape), 0.0)
    p = np.clip(np.round(p / insole.PRESSURE_STEP) * insole.PRESSURE_STEP, 0.0, insole.PRESSURE_MAX)
    force, cop_dev = insole.force_and_cop(p, size)

    # IMU: gravity seen in the pitched insole frame, plus swing accelerations and noise.
    theta = np.radians(pitch + REST_PITCH_DEG)
    swing = ~stance & (stand_w < 0.5)
    u = np.where(swing, (phi - STANCE) / (1 - STANCE), 0.0)
    acc = np.stack([-np.sin(theta), np.zeros(n), np.cos(theta)], 1)
    acc[:, 0] += np.where(swing, 0.9 * np.sin(2 * np.pi * u), 0.0)
    acc[:, 2] += np.where(swing, 0.35 * np.sin(np.pi * u), 0.0)
    acc[:, 1] += np.where(swing, 0.08 * np.sin(2 * np.pi * u + 1.0), 0.0)
    acc += rng.normal(0.0, 0.01, acc.shape)
    gyro = np.zeros((n, 3))
    gyro[:, 1] = -np.gradient(pitch, t) if n > 1 else 0.0   # toes-up rotation is −Y
    gyro[:, 0] = np.where(swing, 25.0 * np.sin(2 * np.pi * u), 0.0)
    gyro[:, 2] = np.where(swing, 30.0 * np.sin(2 * np.pi * u + 0.5), 0.0) * (1 if side == "left" else -1)
    gyro += rng.normal(0.0, 1.0, gyro.shape)

    events = []
    walking = stand_w < 0.5
    starts = np.flatnonzero(np.diff(stance.astype(np.int8)) == 1) + 1
    ends = np.flatnonzero(np.diff(stance.astype(np.int8)) == -1) + 1
    for i in starts:
        if walking[i]:
            events.append(Event(float(t[i]), side, "heel_strike"))
    for i in ends:
        if walking[i]:
            events.append(Event(float(t[i]), side, "toe_off"))
    stream = FootStream(side, t.copy(), p, acc, gyro, force, cop_dev)
    return stream, events


def synthetic_walk(duration: float = 20.0, rate: float = 100.0, body_mass_kg: float = 70.0,
                   insole_size: int = 5, seed: int = 0) -> Take:
    """A physically plausible two-foot walking take (deterministic for a given seed)."""
    if duration <= 0 or rate <= 0:
        raise ValueError("duration and rate must be positive")
    rng = np.random.default_rng(seed)
    n = max(2, int(round(duration * rate)))
    t = np.arange(n) / rate
    body_n = body_mass_kg * G

    stand = min(STAND_S, duration / 4)
    walk_from, walk_to = stand, duration - stand
    # Stride clock: left heel strikes; a little stride-to-stride variability.
    count = int((duration + 4 * STRIDE_S) / (STRIDE_S * 0.9)) + 4
    periods = STRIDE_S * (1 + rng.normal(0.0, 0.02, count))
    left_strikes = walk_from - STRIDE_S * (1 - STANCE) * 0.5 + np.concatenate([[0.0], np.cumsum(periods)])
    left_strikes = np.concatenate([[left_strikes[0] - 10 * STRIDE_S], left_strikes])
    right_strikes = left_strikes + 0.5 * np.concatenate([periods[:1], periods, periods[-1:]])[: len(left_strikes)]

    # 1 while standing, 0 while walking, smooth ramps between.
    ramp_in = np.clip((t - (walk_from - _BLEND_S)) / _BLEND_S, 0, 1)
    ramp_out = np.clip((walk_to - t) / _BLEND_S, 0, 1)
    stand_w = 1.0 - np.minimum(ramp_in, ramp_out)
    stand_w = 0.5 - 0.5 * np.cos(np.pi * stand_w)

    feet, events = {}, []
    for side, strikes in (("left", left_strikes), ("right", right_strikes)):
        stream, ev = _foot(side, t, strikes, body_n, insole_size, stand_w, rng)
        feet[side] = stream
        events += ev
    events.sort(key=lambda e: (e.time, e.side, e.kind))
    meta = TakeMeta(device="simulated", serials={"left": "SIM-L", "right": "SIM-R"},
                    insole_size=insole_size, start_time="2024-01-01T12:00:00.000",
                    body_mass_kg=body_mass_kg, name=f"synthetic walk (seed {seed})",
                    recording_type="normal", source_format="synthetic")
    return Take(feet, meta, events)
