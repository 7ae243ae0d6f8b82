# SPDX-License-Identifier: GPL-3.0-or-later
"""Baking the mean of several diffusion hypotheses: the shipped models on the demo take and its truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take
from step2motion_addon.core.inference import ModelSet
from step2motion_addon.core.inference.pose import heading
from step2motion_addon.core.inference.reconstruct import mean_reconstruction
from step2motion_addon.core.motion import rotations as rot
from step2motion_addon.core.motion.motion_file import load_motion
from step2motion_addon.core.motion.skeleton import Motion
from step2motion_addon.core.recon_run import run_reconstruction
from training.evaluate import heading_free, jitter

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models" / "step2motion-best"
SAMPLES = ROOT / "step2motion_addon" / "samples"


@pytest.fixture(scope="module")
def run():
    if not (MODELS / "model_set.json").is_file():
        pytest.skip("shipped model set not present")
    take = load_take(str(SAMPLES / "demo_walk.s2m"))
    return run_reconstruction(take, ModelSet(MODELS, intra_op_threads=1), seed=0, samples=4)


def _local_positions(rotations, psi, offsets):
    """(T, 22, 3) heading-free, root at the origin: what MPJPE compares."""
    return Motion(30.0, offsets, heading_free(rotations, psi), np.zeros((len(rotations), 3))).fk()


def test_the_mean_of_four_hypotheses_is_smoother_and_closer_to_the_truth(run):
    assert run.mean is not None and run.baked is run.mean and len(run.recs) == 4
    mean = run.mean
    assert mean.info["hypotheses_averaged"] == 4
    np.testing.assert_allclose(np.linalg.norm(mean.rotations, axis=-1), 1.0, atol=1e-5)
    truth = load_motion(SAMPLES / "demo_walk_motion.npz")
    n = min(mean.frames, truth.frames)
    true_rot = rot.normalize(truth.rotations[:n].astype(np.float64))
    true = _local_positions(true_rot, np.unwrap(heading(true_rot[:, 0])), truth.offsets)
    err, jit = [], []
    for r in run.recs + [mean]:
        pos = _local_positions(r.rotations[:n], r.heading[:n], truth.offsets)
        err.append(float(np.linalg.norm(pos - true, axis=-1).mean()))
        jit.append(jitter(pos, 30.0))
    # Sampler noise averages out: far less jerk than any single hypothesis, and no further from the truth.
    assert jit[-1] < 0.8 * min(jit[:-1]), jit
    assert err[-1] < np.mean(err[:-1]), err


def test_one_hypothesis_or_averaging_off_bakes_the_first(run):
    assert mean_reconstruction(run.recs[:1]) is run.recs[0]
    take = load_take(str(SAMPLES / "demo_walk.s2m"))
    off = run_reconstruction(take, ModelSet(MODELS, intra_op_threads=1), seed=0, samples=2, average=False)
    assert off.mean is None and off.baked is off.recs[0]
    np.testing.assert_array_equal(off.recs[0].rotations, run.recs[0].rotations)     # same seed, same sample


def test_opposite_quaternion_signs_average_to_the_same_rotation(run):
    a = run.recs[0]
    flipped = Motion(a.rate, a.offsets, -a.rotations, a.root_pos)                  # q and −q: one rotation
    b = type(a)(a.rate, a.joints, a.parents, a.offsets, flipped.rotations, a.root_pos, a.contact,
                dict(a.info), heading=a.heading, load=a.load)
    m = mean_reconstruction([a, b])
    np.testing.assert_allclose(np.abs(np.sum(m.rotations * a.rotations, axis=-1)), 1.0, atol=1e-5)
    short = type(a)(a.rate, a.joints, a.parents, a.offsets, a.rotations[:-1], a.root_pos[:-1], a.contact[:-1])
    with pytest.raises(ValueError, match="differ in length"):
        mean_reconstruction([a, short])
