# SPDX-License-Identifier: GPL-3.0-or-later
"""Post-processing: measured-contact foot locking, ground alignment, contact-preserving smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core import postprocess as pp
from step2motion_addon.core.motion import rotations as rot
from step2motion_addon.core.motion.skeleton import CANONICAL_PARENTS, JOINT_INDEX as J, Motion
from step2motion_addon.core.synthetic import synthetic_walk


def _bone_lengths(m):
    pos = m.fk()
    return np.stack([np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
                     for j, p in enumerate(CANONICAL_PARENTS) if p >= 0], axis=1)


def test_procedural_walk_skates_before_locking(known_walk, walk_contact, skate):
    assert max(v[1] for v in pp.foot_sliding(known_walk(), walk_contact(known_walk())).values()) < 0.01
    m = skate(known_walk())
    slide = pp.foot_sliding(m, walk_contact(m))
    assert max(v[1] for v in slide.values()) > 0.01      # the fixture is a real test: feet slide


def test_foot_lock_stops_sliding_and_stays_smooth(known_walk, walk_contact, skate):
    m = skate(known_walk(seconds=6.0))
    c = walk_contact(m)
    out, rep = pp.postprocess(m, c, toe_height=0.02)
    slide = pp.foot_sliding(out, c)
    for side, (mean, peak) in slide.items():
        assert peak < 0.01, (side, peak)           # < 1 cm per frame during contact
        assert mean < 0.002
    # Rotations stay smooth: no frame-to-frame jump above 25° (750°/s at 30 fps) on any joint.
    step = np.degrees(pp.max_angular_step(out))
    assert step.max() < 25.0, step.round(1)
    # Bones never stretch.
    assert np.abs(_bone_lengths(out) - _bone_lengths(m)).max() < 1e-9
    assert rep.locked_frames["left"] == int(c[:, 0].sum())


def test_locked_feet_sit_on_the_ground(known_walk, walk_contact):
    m = known_walk()
    c = walk_contact(m)
    shifted = Motion(m.fps, m.offsets, m.rotations, m.root_pos + [0, 0, 0.13])   # floating 13 cm
    out, rep = pp.postprocess(shifted, c, toe_height=0.02)
    toes = out.fk()[:, [J["LeftToeBase"], J["RightToeBase"]], 2]
    assert abs(np.median(toes[c]) - 0.02) < 0.01
    assert rep.ground_shift_m < -0.1


def test_unreachable_anchor_lowers_hips_instead_of_stretching(known_walk, walk_contact):
    m = known_walk()
    c = walk_contact(m)
    rng = np.random.default_rng(1)
    bumpy = Motion(m.fps, m.offsets, m.rotations, m.root_pos + rng.normal(0, 0.01, m.root_pos.shape))
    out = pp.foot_lock(bumpy, c)
    assert max(v[1] for v in pp.foot_sliding(out, c).values()) < 0.01
    assert np.abs(_bone_lengths(out) - _bone_lengths(m)).max() < 1e-9


def test_smoothing_keeps_contacts(known_walk, walk_contact):
    m = known_walk()
    c = walk_contact(m)
    rng = np.random.default_rng(2)
    noise = rot.from_axis_angle(rng.normal(size=(m.frames, 22, 3)), np.full((m.frames, 22), 0.05))
    jittery = Motion(m.fps, m.offsets, rot.mul(m.rotations, noise), m.root_pos)
    out = pp.smooth(jittery, sigma=1.5, contact=c)
    upper = [J[n] for n in ("Spine", "Spine1", "Spine3", "Neck", "Head", "LeftArm", "RightForeArm")]
    assert (pp.max_angular_step(out)[upper] < 0.6 * pp.max_angular_step(jittery)[upper]).all()
    assert np.degrees(pp.max_angular_step(out).max()) < 20.0
    assert max(v[1] for v in pp.foot_sliding(out, c).values()) < 0.01


def test_contact_from_a_take_follows_the_force():
    take = synthetic_walk(duration=6.0, seed=3)
    c = pp.contact_from_take(take, 30.0, 180)
    assert c.shape == (180, 2)
    assert 0.3 < c.mean() < 0.9                      # walking: each foot loaded part of the time
    assert (c[:, 0] | c[:, 1]).mean() > 0.9          # … and nearly always one of them


def test_accepts_a_reconstruction_like_object(known_walk, walk_contact):
    m = known_walk()

    class Rec:                                      # the fields a Reconstruction carries
        rate = m.fps
        offsets, rotations, root_pos = m.offsets, m.rotations, m.root_pos
        info = {"seed": 0}
    out = pp.foot_lock(Rec(), walk_contact(m))
    assert out.fps == m.fps and out.frames == m.frames


def test_bad_contact_shape_is_a_clear_error(known_walk):
    m = known_walk()
    with pytest.raises(ValueError, match="contact must be"):
        pp.foot_lock(m, np.zeros((3, 2), bool))


def test_unreachable_report_counts_loaded_frames_and_how_far_short(known_walk, walk_contact):
    m = known_walk(seconds=4.0)
    c = walk_contact(m)
    _, rep = pp.postprocess(m, c, toe_height=0.02)
    assert rep.unreachable == {"left": 0, "right": 0} and not rep.shortfall_m
    # Hips 40 cm away sideways for 4 frames in the middle of the longest left stance (the
    # anchor, the median over the stance, stays): beyond the leg's reach even with the
    # capped hip drop (the lock pins the foot horizontally).
    a, b = max(pp.contact_segments(c[:, 0]), key=lambda s: s[1] - s[0])
    assert b - a >= 12
    frames = np.arange((a + b) // 2 - 2, (a + b) // 2 + 2)
    root = m.root_pos.copy()
    root[frames, 0] += 0.40
    high = Motion(m.fps, m.offsets, m.rotations, root)
    rep = pp.PostReport()
    out = pp.foot_lock(high, c, report=rep)
    assert rep.unreachable["left"] >= len(frames)
    assert rep.unreachable["left"] <= int(c[:, 0].sum())          # loaded frames only
    # The shortfall is where the foot really ended up: its ball that far from the pinned spot.
    toe = J["LeftToeBase"]
    anchor = np.median(high.fk()[a:b, toe, :2], axis=0)
    gap = np.linalg.norm(out.fk()[frames, toe, :2] - anchor, axis=-1)
    assert rep.shortfall_m["left"] > 0.02
    assert abs(np.median(gap) - rep.shortfall_m["left"]) < 0.01, (gap, rep.shortfall_m)
    _, rep = pp.postprocess(high, c, ground=False)
    assert any("left loaded frames" in n and "cm short" in n for n in rep.notes)
