# SPDX-License-Identifier: GPL-3.0-or-later
"""Capture clean-up: a reference pose before the take is dropped, a cut inside it is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.motion.cleanup import drop_reference_frames, root_jumps
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, Motion
from step2motion_addon.core.sim import SimParams, simulate_insoles

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mocap" / "cmu"


def _demo_motion() -> Motion:
    root = Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples" / "demo_walk_motion.npz"
    with np.load(root) as a:
        return Motion(float(a["fps"]), a["offsets"].astype(np.float64), a["rotations"].astype(np.float64),
                      a["root_pos"].astype(np.float64))


def test_leading_reference_pose_is_dropped_and_the_walk_kept():
    walk = _demo_motion()
    assert walk.rotations.shape[1] == len(CANONICAL_JOINTS) and not root_jumps(walk).size
    # A T-pose at the origin before a walk that starts 2.5 m away, as the CMU subject-07 files have.
    tpose = Motion(walk.fps, walk.offsets, np.tile([1.0, 0, 0, 0], (1, 22, 1)), np.array([[0.0, 0.0, 0.95]]))
    shifted = walk.root_pos + np.array([2.5, 0.4, 0.0])
    joined = Motion(walk.fps, walk.offsets, np.concatenate([tpose.rotations, walk.rotations]),
                    np.concatenate([tpose.root_pos, shifted]))
    assert list(root_jumps(joined)) == [0]
    with pytest.raises(TakeError, match=r"root moves 2\.5\d m between frames 0 and 1"):
        simulate_insoles(joined, SimParams(seed=0))
    clean = drop_reference_frames(joined)
    assert clean.frames == walk.frames and clean.meta["reference_frames_dropped"] == 1
    np.testing.assert_array_equal(clean.root_pos, shifted)
    assert drop_reference_frames(walk) is walk                       # nothing to drop: untouched


def test_a_cut_inside_the_take_is_not_dropped_but_refused():
    walk = _demo_motion()
    root = walk.root_pos.copy()
    root[300:] += np.array([0.0, 3.0, 0.0])                           # 10 s in: a 3 m cut
    cut = Motion(walk.fps, walk.offsets, walk.rotations, root)
    assert list(root_jumps(cut)) == [299]
    assert drop_reference_frames(cut) is cut
    with pytest.raises(TakeError, match="between frames 299 and 300"):
        simulate_insoles(cut, SimParams(seed=0))


@pytest.mark.skipif(not (SHARED / "007_05.bvh.gz").exists(), reason="shared CMU mocap not present")
def test_cmu_subject_07_walks_lose_their_t_pose_frame():
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    raw = motion_from_bvh(load_bvh(SHARED / "007_05.bvh.gz"))
    assert list(root_jumps(raw)) == [0]
    clean = drop_reference_frames(raw)
    assert clean.frames == raw.frames - 1 and not root_jumps(clean).size
    speed = np.linalg.norm(np.diff(clean.root_pos[:, :2], axis=0), axis=-1).max() * clean.fps
    assert speed < 3.0                                                # a walk, not a 150 m/s step
