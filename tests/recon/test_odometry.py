# SPDX-License-Identifier: GPL-3.0-or-later
"""Root translation from planted feet (core.inference.odometry) on walks with a known path."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core.inference.odometry import balls_relative, fused_translation, stance_weights
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
