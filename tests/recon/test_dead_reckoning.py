# SPDX-License-Identifier: GPL-3.0-or-later
"""Foot dead reckoning (core.dead_reckoning) and the hips' path from it (odometry.strides_translation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.dead_reckoning import GRAVITY, foot_track, mid_stances, stance_mask
from step2motion_addon.core.inference.odometry import strides_translation

SAMPLES = Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples"
RATE = 100.0


def _strides(n_strides: int = 4, length: float = 1.4, stance_s: float = 0.6, swing_s: float = 0.5):
    """A foot that stands, then swings ``length`` m forward (minimum jerk), ``n_strides`` times."""
    ns, nw = int(stance_s * RATE), int(swing_s * RATE)
    x, stance = [], []
    for k in range(n_strides + 1):
        x.append(np.full(ns, k * length))
        stance.append(np.ones(ns, bool))
        if k < n_strides:
            s = np.arange(1, nw + 1) / nw
            x.append(k * length + length * (10 * s**3 - 15 * s**4 + 6 * s**5))
            stance.append(np.zeros(nw, bool))
    x = np.concatenate(x)
    return x, np.concatenate(stance)


def test_strides_are_recovered_exactly_despite_an_accelerometer_bias():
    x, stance = _strides()
    acc = np.zeros((len(x), 3))
    acc[:, 0] = np.gradient(np.gradient(x, 1 / RATE), 1 / RATE) / GRAVITY
    acc[:, 2] = 1.0
    acc += [0.03, -0.02, 0.01]                # a constant bias: 0.3 m/s², 9 cm over a plain 0.5 s double integral
    q = np.tile([1.0, 0, 0, 0], (len(x), 1))
    path = foot_track(acc, q, stance, RATE)
    mids = mid_stances(stance, RATE)
    assert len(mids) == 5
    # Each stride comes out 1.4 m long and straight: the zero-velocity update cancels the bias.
    np.testing.assert_allclose(np.diff(path[mids, 0]), 1.4, atol=0.01)
    assert np.abs(path[mids, 1]).max() < 0.01
    # The foot stands still between its strides (no creeping during stance).
    assert np.ptp(path[mids[2] - 20:mids[2] + 20, 0]) < 0.01


def test_without_two_stances_there_is_no_track():
    x, stance = _strides(n_strides=1)
    acc = np.tile([0.0, 0.0, 1.0], (len(x), 1))
    q = np.tile([1.0, 0, 0, 0], (len(x), 1))
    stance[:] = False
    stance[10:20] = True
    assert foot_track(acc, q, stance, RATE) is None


def test_stance_from_the_imu_when_the_insole_has_no_pressure():
    n = 200
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    gyro = np.zeros((n, 3))
    gyro[50:120, 1] = 300.0                 # the foot rolls through a swing
    acc[50:120, 0] = 1.5
    st = stance_mask(None, acc, gyro)
    assert st[:50].all() and not st[50:120].any() and st[120:].all()
    assert stance_mask(np.where(np.arange(n) < 100, 0.5, 0.0), acc, gyro)[:100].all()


@pytest.fixture(scope="module")
def demo():
    from step2motion_addon.core.features import extract_features
    from step2motion_addon.core.motion.motion_file import load_motion
    from step2motion_addon.core.sim import SimParams, simulate_insoles
    motion = load_motion(SAMPLES / "demo_walk_motion.npz")
    take = simulate_insoles(motion, SimParams(seed=11))       # sensor noise and bias included
    return motion, take, extract_features(take, rate=30.0)


def test_simulated_insoles_dead_reckon_the_true_strides(demo):
    """Stride lengths of the 18 s demo walk from its simulated insoles against the mocap feet."""
    from step2motion_addon.core.features import stream_slices
    from step2motion_addon.core.motion.skeleton import JOINT_INDEX
    motion, _, feats = demo
    pos = motion.resampled(30.0).fk()
    n = min(len(pos), feats.frames)
    sl = stream_slices()
    for k, (side, joint) in enumerate((("left", "LeftFoot"), ("right", "RightFoot"))):
        track = feats.foot_track[:n, k]
        assert np.isfinite(track).all()
        mids = mid_stances(feats.values[:n, sl[f"{side}_load"].start] > 0.1, 30.0)
        assert len(mids) >= 12
        est = np.linalg.norm(np.diff(track[mids], axis=0), axis=1)
        ref = np.linalg.norm(np.diff(pos[mids, JOINT_INDEX[joint], :2], axis=0), axis=1)
        # Median stride within 10 % of the mocap foot's, the summed distance within 8 % (measured
        # 1.05 and 1.08: the mocap feet roll and slide at mid-stance, which a real foot-flat does not).
        assert np.median(np.abs(est / ref - 1.0)) < 0.10, joint
        assert est.sum() / ref.sum() == pytest.approx(1.0, abs=0.08), joint


def test_strides_correct_a_path_that_steps_short(demo):
    from step2motion_addon.core.inference.pose import heading
    from step2motion_addon.core.motion import rotations as rot
    motion, _, feats = demo
    m = motion.resampled(30.0)
    n = min(m.frames, feats.frames)
    psi = np.unwrap(heading(rot.normalize(m.rotations[:n, 0])))
    true_xy = m.root_pos[:n, :2] - m.root_pos[0, :2]
    dist = np.linalg.norm(np.diff(true_xy, axis=0), axis=1).sum()
    short = 0.8 * true_xy                           # a root path 20 % short
    out = strides_translation(short, psi, feats.foot_yaw[:n], feats.foot_track[:n], 30.0)
    assert np.linalg.norm(short[-1] - true_xy[-1]) / dist > 0.15
    assert np.linalg.norm(out[-1] - true_xy[-1]) / dist < 0.05
    # Its within-stride motion is the given path's: the correction is smooth (no per-step surges).
    corr = out - short
    assert np.abs(np.diff(corr, n=2, axis=0)).max() < 2e-3
    # Without both feet's tracks there is no strides path (the caller keeps its own).
    one = feats.foot_track[:n].copy()
    one[:, 1] = np.nan
    assert strides_translation(short, psi, feats.foot_yaw[:n], one, 30.0) is None
    assert strides_translation(short, psi, feats.foot_yaw[:n], None, 30.0) is None


def test_the_reconstructed_feet_orient_the_strides_where_the_given_path_points_wrong(demo):
    """The insoles' paths turned by where the feet point (the pose), not by the path they refine."""
    from step2motion_addon.core.features import stream_slices
    from step2motion_addon.core.inference.odometry import foot_angles
    from step2motion_addon.core.inference.pose import heading
    from step2motion_addon.core.motion import rotations as rot
    motion, _, feats = demo
    m = motion.resampled(30.0)
    n = min(m.frames, feats.frames)
    q = rot.normalize(m.rotations[:n])
    psi = np.unwrap(heading(q[:, 0]))
    true_xy = m.root_pos[:n, :2] - m.root_pos[0, :2]
    dist = np.linalg.norm(np.diff(true_xy, axis=0), axis=1).sum()
    c, s = np.cos(0.26), np.sin(0.26)               # the path to refine is 15° off
    wrong = true_xy @ np.array([[c, s], [-s, c]])
    sl = stream_slices()
    load = np.stack([feats.values[:n, sl[f"{side}_load"].start] for side in ("left", "right")], axis=1)
    angles = foot_angles(q, psi, load)
    fitted = strides_translation(wrong, psi, feats.foot_yaw[:n], feats.foot_track[:n], 30.0)
    oriented = strides_translation(wrong, psi, feats.foot_yaw[:n], feats.foot_track[:n], 30.0, angles=angles)
    assert np.linalg.norm(fitted[-1] - true_xy[-1]) / dist > 0.15      # fitted: inherits the 15°
    assert np.linalg.norm(oriented[-1] - true_xy[-1]) / dist < 0.05
    # A foot that never carries load has no angle; that foot falls back to the fit.
    assert np.isnan(foot_angles(q, psi, np.stack([load[:, 0], 0 * load[:, 1]], axis=1))[1])
    half = strides_translation(wrong, psi, feats.foot_yaw[:n], feats.foot_track[:n], 30.0,
                               angles=np.array([angles[0], np.nan]))
    assert np.isfinite(half).all()
