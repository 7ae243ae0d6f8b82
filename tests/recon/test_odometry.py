# SPDX-License-Identifier: GPL-3.0-or-later
"""Root translation from planted feet (core.inference.odometry) on walks with a known path."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core.inference.odometry import balls_relative, fused_translation, stance_weights, standing
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J


def _load(contact: np.ndarray) -> np.ndarray:
    return np.where(contact, 0.8, 0.0)            # force / body weight of a planted foot


def test_balls_relative_equals_full_forward_kinematics(known_walk):
    m = known_walk(3.0)
    pos = m.fk()
    want = pos[:, [J["LeftToeBase"], J["RightToeBase"]], :2] - pos[:, :1, :2]
    got = balls_relative(m.rotations, m.offsets, chunk=17)       # several chunks
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_planted_feet_correct_a_root_model_that_steps_short(known_walk, walk_contact):
    m = known_walk(6.0)
    contact = walk_contact(m)
    true_xy = m.root_pos[:, :2] - m.root_pos[0, :2]
    short = 0.5 * true_xy                                  # a root model making half-length steps
    err = {}
    for w in (0.0, 0.5, 1.0):
        xy = fused_translation(short, m.rotations, m.offsets, _load(contact), weight=w)
        err[w] = np.linalg.norm(xy[-1] - true_xy[-1]) / np.linalg.norm(true_xy[-1])
    assert err[0.0] == pytest.approx(0.5)                  # weight 0: the model's path
    # The frames where no foot is planted at both ends (13 % here) keep the model's step.
    assert err[1.0] < 0.15
    assert err[1.0] < err[0.5] < err[0.0]


def test_without_load_the_model_path_is_kept(known_walk):
    m = known_walk(2.0)
    model_xy = np.cumsum(np.full((m.frames, 2), 0.01), axis=0)
    out = fused_translation(model_xy, m.rotations, m.offsets, np.zeros((m.frames, 2)))
    np.testing.assert_allclose(out, model_xy, atol=1e-12)


@pytest.mark.parametrize("load, want", [(0.05, 0.0), (0.1, 0.0), (0.15, 0.5), (0.2, 1.0), (2.0, 1.0)])
def test_stance_weight_ramps_from_the_threshold(load, want):
    assert stance_weights(np.array([[load, load]]))[0, 0] == pytest.approx(want)


def _insole_signals(take):
    from step2motion_addon.core.features import extract_features, stream_slices
    f = extract_features(take, rate=30.0)
    sl = stream_slices()
    imu = np.stack([f.values[:, sl[f"{s}_imu"]] for s in ("left", "right")], axis=1)
    load = np.stack([f.values[:, sl[f"{s}_load"].start] for s in ("left", "right")], axis=1)
    return imu[..., 0:3], imu[..., 3:6], load


def test_standing_is_found_from_the_insoles_and_holds_the_hips_where_a_model_wanders():
    from pathlib import Path

    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.motion.motion_file import load_motion
    from step2motion_addon.core.motion.skeleton import Motion
    from step2motion_addon.core.sim import SimParams, simulate_insoles
    samples = Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples"
    offsets = load_motion(samples / "demo_walk_motion.npz").offsets
    # 4 s standing in the rest pose, feet on the floor; insoles simulated with sensor noise and bias.
    n = 120
    rots, root = np.tile([1.0, 0, 0, 0], (n, 22, 1)), np.zeros((n, 3))
    root[:, 2] = -Motion(30.0, offsets, rots, root).fk()[0, :, 2].min()
    stand = Motion(30.0, offsets, rots, root)
    acc, gyro, load = _insole_signals(simulate_insoles(stand, SimParams(seed=3)))
    n = len(load)                                            # the features' grid ends at the last sample
    still = standing(acc, gyro, load, 30.0)
    assert n >= 118 and still.all()
    # The 18 s demo walk never counts as standing.
    assert not standing(*_insole_signals(load_take(str(samples / "demo_walk.s2m"))), 30.0).any()
    # A root model that wanders 5 cm/s while the person stands: the standing feet hold the hips.
    wander = np.outer(np.arange(n) / 30.0, [0.05, 0.0])
    free = fused_translation(wander, stand.rotations[:n], offsets, load)
    held = fused_translation(wander, stand.rotations[:n], offsets, load, still=still)
    assert np.linalg.norm(free[-1]) > 0.05                   # half the model's 20 cm
    assert np.linalg.norm(held[-1]) < 1e-9

def test_a_short_pause_in_mid_stance_is_not_standing():
    n, rate = 90, 30.0
    acc = np.tile([0.0, 0.0, 1.0], (n, 2, 1))
    gyro = np.zeros((n, 2, 3))
    gyro[:, :, 2] = 100.0                                     # turning...
    gyro[40:45] = 0.0                                         # ...but for 5 frames (0.17 s)
    gyro[60:75] = 0.0                                         # 15 frames (0.5 s): standing
    still = standing(acc, gyro, np.full((n, 2), 0.5), rate)
    assert not still[40:45].any() and still[60:75].all() and still.sum() == 15
    # an unloaded foot (one leg lifted) is not standing
    assert not standing(acc, np.zeros((n, 2, 3)), np.tile([0.5, 0.0], (n, 1)), rate).any()
