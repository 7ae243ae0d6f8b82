# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole-take conversions done in chunks (to bound memory on hour-long takes) give the one-shot result.

A take longer than several chunks, with a small chunk size, against the same code
with one chunk covering the take and against the former one-shot formula.
"""

from __future__ import annotations

import numpy as np

from step2motion_addon.core import postprocess as pp
from step2motion_addon.core.inference import pose as pose_mod
from step2motion_addon.core.motion import rotations as rot


def _one_shot_pose_to_rotations(pose, psi):
    """The conversion as it was before chunking (reference)."""
    t = pose.shape[0]
    m = pose_mod.sixd_to_matrix(pose[:, :pose_mod.ROT_DIM].reshape(t, pose_mod.N_JOINTS, 6).astype(np.float64))
    q = rot.normalize(rot.from_matrix(m))
    q[:, 0] = rot.mul(pose_mod.yaw_quat(psi), q[:, 0])
    return rot.make_continuous(q, axis=0)


def test_pose_to_rotations_in_chunks_equals_one_shot():
    rng = np.random.default_rng(7)
    t = 250
    # Smoothly wandering rotations (many hemisphere crossings over the take), noisy 6-D as a model gives.
    angle = np.cumsum(rng.normal(0, 0.15, (t, 22)), axis=0)
    axis = rng.normal(size=(22, 3))
    q = rot.from_axis_angle(np.broadcast_to(axis, (t, 22, 3)), angle)
    six = pose_mod.matrix_to_6d(rot.to_matrix(q)) + rng.normal(0, 0.02, (t, 22, 6))
    pose = np.zeros((t, pose_mod.POSE_DIM), dtype=np.float32)
    pose[:, :pose_mod.ROT_DIM] = six.reshape(t, -1)
    psi = np.cumsum(rng.normal(0, 0.1, t))
    ref = _one_shot_pose_to_rotations(pose, psi)
    flips = (np.sum(ref[1:] * ref[:-1], axis=-1) < 0).sum()
    assert flips == 0                                       # continuous along time
    for chunk in (1, 7, 64, 100_000):
        got = pose_mod.pose_to_rotations(pose, psi, chunk=chunk)
        assert got.shape == (t, 22, 4) and got.dtype == np.float64
        assert np.abs(got - ref).max() < 1e-12, chunk
    # A chunk border inside a sign flip of the raw conversion still carries the sign.
    raw = rot.normalize(rot.from_matrix(pose_mod.sixd_to_matrix(six)))
    assert (np.sum(raw[1:] * raw[:-1], axis=-1) < 0).any()
    assert pose_mod.pose_to_rotations(pose[:0], psi[:0]).shape == (0, 22, 4)


def test_postprocess_in_chunks_equals_one_shot(known_walk, walk_contact, skate):
    m = skate(known_walk(seconds=8.0))                      # 240 frames: 15 chunks of 16
    c = walk_contact(m)
    ref, rep_ref = pp.postprocess(m, c, toe_height=0.02, chunk=100_000)
    got, rep = pp.postprocess(m, c, toe_height=0.02, chunk=16)
    assert np.abs(got.rotations - ref.rotations).max() < 1e-12
    assert np.abs(got.root_pos - ref.root_pos).max() < 1e-12
    assert rep.ground_shift_m == rep_ref.ground_shift_m and rep.locked_frames == rep_ref.locked_frames
    # Continuous signs across chunk borders, like the one-shot result.
    assert not (np.sum(got.rotations[1:] * got.rotations[:-1], axis=-1) < 0).any()
    # The input is left untouched (foot locking now works in place on its own arrays).
    again, _ = pp.postprocess(m, c, toe_height=0.02, chunk=16)
    assert np.array_equal(again.rotations, got.rotations)
    # Ground alignment alone, without contacts (lowest toes over all frames).
    a = pp.ground_align(m, None, 0.01, chunk=5)
    b = pp.ground_align(m, None, 0.01, chunk=100_000)
    assert np.array_equal(a.root_pos, b.root_pos)
