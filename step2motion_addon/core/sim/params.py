# SPDX-License-Identifier: GPL-3.0-or-later
"""Parameters of the insole simulator: what varies between users, shoes and sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimParams:
    body_mass_kg: float = 70.0
    insole_size: int | None = None        # None: chosen from the foot length
    seed: int = 0
    rate: float = 100.0                   # Hz, the device's sample rate
    shoe_drop_deg: float = 10.0           # insole pitch (heel above toe) inside the shoe
    imu_yaw_deg: float = 0.0              # mounting yaw of the IMU in the insole (left, right mirrored)
    ground_offset_m: float | None = None  # added to the ground height estimated from the clip (m)
    noise: float = 1.0                    # scales every sensor noise and bias (0: ideal sensors)
    pressure_gain_spread: float = 0.08    # per-cell gain spread (fraction), fixed per take
    impact_gain: float = 1.0              # scales heel-strike transients in the accelerometer
    load_profile: np.ndarray | None = None   # (16,) relative flat-foot pressure; None: default
    extra: dict = field(default_factory=dict)

    @classmethod
    def randomised(cls, rng: np.random.Generator, **fixed) -> "SimParams":
        """Per-clip variation between real users/sessions (used to build training data)."""
        values = dict(
            body_mass_kg=float(np.clip(rng.normal(72.0, 12.0), 45.0, 110.0)),
            seed=int(rng.integers(0, 2**31 - 1)),
            shoe_drop_deg=float(rng.uniform(6.0, 13.0)),
            imu_yaw_deg=float(rng.normal(0.0, 3.0)),
            noise=float(rng.uniform(0.6, 1.6)),
            impact_gain=float(rng.uniform(0.7, 1.3)),
            pressure_gain_spread=float(rng.uniform(0.04, 0.12)),
            ground_offset_m=float(rng.normal(0.0, 0.004)),
        )
        values.update(fixed)
        return cls(**values)
