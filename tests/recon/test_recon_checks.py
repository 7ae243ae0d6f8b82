# SPDX-License-Identifier: GPL-3.0-or-later
"""core.recon_run without models: take checks and the hypotheses' spread (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.formats import load_take
from step2motion_addon.core.inference import Reconstruction
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX as J
from step2motion_addon.core.recon_run import check_take, hypothesis_spread, spread_summary
from step2motion_addon.core.synthetic import synthetic_walk


def test_clean_take_has_no_warnings():
    chk = check_take(synthetic_walk(duration=6.0, seed=1))
    assert chk.warnings == [] and chk.dead_streams == [] and chk.missing_feet == []


def test_real_moticon_files_give_no_false_alarms(moticon_files):
    for path in moticon_files:
        chk = check_take(load_take(path))
        assert chk.dead_streams == [] and chk.missing_feet == [], (path.name, chk.warnings)
        assert not any("cells" in w for w in chk.warnings), (path.name, chk.warnings)


def test_dead_groups_and_cells():
    take = synthetic_walk(duration=6.0, seed=2)
    take.feet["left"].pressure[:, 8:16] = 0.0          # every toe cell of the left insole
    take.feet["right"].pressure[:, 4] = 0.0            # one heel cell of the right
    chk = check_take(take)
    assert chk.dead_streams == ["left_toes"]
    assert chk.dead_cells["left"] == list(range(9, 17)) and chk.dead_cells["right"] == [5]
    assert any("right insole: cells 5 read zero" in w for w in chk.warnings)


def test_invalid_foot_counts_as_missing_and_too_short_is_an_error():
    take = synthetic_walk(duration=6.0, seed=3)
    take.feet["left"].valid[:] = False
    chk = check_take(take)
    assert chk.missing_feet == ["left"] and "left_imu" in chk.dead_streams
    take.feet["right"].valid[:] = False
    with pytest.raises(TakeError, match="no foot has at least two valid samples"):
        check_take(take)


def _rec(shift_toe: float = 0.0) -> Reconstruction:
    t = 10
    rots = np.zeros((t, 22, 4))
    rots[..., 0] = 1.0
    offsets = np.tile([0.0, 0.0, 0.1], (22, 1))
    offsets[J["LeftToeBase"]] = [shift_toe, -0.1, 0.0]
    return Reconstruction(30.0, CANONICAL_JOINTS, CANONICAL_PARENTS, offsets, rots, np.zeros((t, 3)),
                          np.zeros((t, 2)))


def test_spread_is_the_rms_distance_from_the_mean_position():
    assert np.allclose(hypothesis_spread([_rec(), _rec()]), 0.0)
    s = hypothesis_spread([_rec(0.0), _rec(0.2)])           # toes 0.2 m apart: each 0.1 m from the mean
    assert s.shape == (10, 22)
    assert np.allclose(s[:, J["LeftToeBase"]], 0.1)
    assert np.allclose(np.delete(s, J["LeftToeBase"], axis=1), 0.0)
    summary = spread_summary(s)
    assert summary["LeftToeBase"] == pytest.approx({"mean": 0.1, "p95": 0.1, "max": 0.1})
    # Paths 0.2 m apart, same pose: the hips carry the path's spread, the limbs none.
    a, b = _rec(), _rec()
    b.root_pos[:, 0] += 0.2
    s = hypothesis_spread([a, b])
    assert np.allclose(s[:, 0], 0.1) and np.allclose(s[:, 1:], 0.0)
