# SPDX-License-Identifier: GPL-3.0-or-later
"""The procedural walking take is physically plausible and self-consistent."""

import numpy as np

from step2motion_addon.core import insole
from step2motion_addon.core.synthetic import synthetic_walk

BW = 70.0 * 9.80665


def test_force_cop_reproduced_by_device_model_and_quantised():
    take = synthetic_walk(20.0, seed=1)
    assert take.sides == ["left", "right"]
    for foot in take.feet.values():
        force, cop = insole.force_and_cop(foot.pressure, take.meta.insole_size)
        assert np.allclose(force, foot.force, atol=1e-2)
        assert np.allclose(cop, foot.cop, atol=1e-5)
        q = foot.pressure / insole.PRESSURE_STEP
        assert np.allclose(q, np.round(q))
        assert 15.0 <= foot.pressure.max() < insole.PRESSURE_MAX


def test_gait_timing_and_force_shape():
    take = synthetic_walk(30.0, seed=2)
    left, right = take.feet["left"], take.feet["right"]
    walk = slice(300, -300)
    stance = left.force[walk] > 20
    assert 0.55 < stance.mean() < 0.72
    both = (left.force[walk] > 20) & (right.force[walk] > 20)
    assert 0.1 < both.mean() < 0.3                   # double support exists
    peak = max(left.force.max(), right.force.max()) / BW
    assert 1.05 < peak < 1.25
    # standing at the start: both feet together carry the body weight
    assert abs((left.force[:100] + right.force[:100]).mean() / BW - 1.0) < 0.05


def test_cop_rolls_heel_to_toe_within_a_stance():
    take = synthetic_walk(20.0, seed=3)
    foot = take.feet["right"]
    strikes = [e.time for e in take.events if e.side == "right" and e.kind == "heel_strike"]
    offs = [e.time for e in take.events if e.side == "right" and e.kind == "toe_off"]
    assert len(strikes) >= 10 and len(offs) >= 10
    t0 = strikes[3]
    t1 = min(t for t in offs if t > t0)
    i0, i1 = np.searchsorted(foot.time, [t0, t1])
    cx = foot.cop[i0 + 2:i1 - 2, 0]
    assert cx[0] < -0.2 and cx[-1] > 0.2


def test_imu_gravity_and_swing():
    take = synthetic_walk(20.0, seed=4)
    foot = take.feet["left"]
    rest = foot.acc[:80].mean(axis=0)
    assert np.allclose(rest, [-0.17, 0.0, 0.98], atol=0.03)
    assert 150 < np.abs(foot.gyro[:, 1]).max() < 600
    assert np.abs(foot.gyro[:80, 1]).max() < 10


def test_deterministic_and_fast_enough_to_be_vectorised():
    a = synthetic_walk(10.0, seed=5)
    b = synthetic_walk(10.0, seed=5)
    assert np.array_equal(a.feet["left"].pressure, b.feet["left"].pressure)
    c = synthetic_walk(10.0, seed=6)
    assert not np.array_equal(a.feet["left"].pressure, c.feet["left"].pressure)
    long = synthetic_walk(600.0, rate=100.0)
    assert len(long.feet["left"]) == 60000
