# SPDX-License-Identifier: GPL-3.0-or-later
"""The embedded demo: a simulated take paired with the motion it came from; motion files; level floors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.formats import load_take
from step2motion_addon.core.motion.motion_file import load_motion, save_motion
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion

import procedural

SAMPLES = Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples"


def test_motion_file_round_trip_without_pickle(tmp_path):
    m = procedural.standing(seconds=1.0, fps=30.0)
    m.meta.update(source="procedural", licence="GPL")
    path = tmp_path / "m.npz"
    save_motion(path, m)
    with np.load(path, allow_pickle=False) as z:          # plain arrays only
        assert z["rotations"].dtype == np.float32 and z["rotations"].shape == m.rotations.shape
    back = load_motion(path)
    assert back.fps == 30.0 and back.meta["licence"] == "GPL"
    assert np.allclose(back.fk(), m.fk(), atol=1e-5)
    bad = tmp_path / "bad.npz"
    np.savez(bad, fps=np.float32(30))
    with pytest.raises(TakeError, match="missing arrays"):
        load_motion(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(TakeError, match="junk.npz"):
        load_motion(junk)


def test_demo_take_and_motion_belong_together():
    take = load_take(SAMPLES / "demo_walk.s2m")
    motion = load_motion(SAMPLES / "demo_walk_motion.npz")
    assert take.meta.device == "simulated" and "mocap.cs.cmu.edu" in take.meta.notes
    assert 15.0 <= take.duration <= 20.0 and abs(take.duration - motion.duration) < 0.1
    assert (SAMPLES / "demo_walk.s2m").stat().st_size + (SAMPLES / "demo_walk_motion.npz").stat().st_size < 1024 ** 2
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert "NSF EIA-0196217" in readme
    # Each simulated heel strike finds that foot of the true motion coming to rest on the floor.
    pos = motion.fk()
    speed = {s: np.linalg.norm(np.gradient(pos[:, J[n], :2], 1 / motion.fps, axis=0), axis=1)
             for s, n in (("left", "LeftFoot"), ("right", "RightFoot"))}
    strikes = [e for e in take.events if e.kind == "heel_strike"]
    assert len(strikes) >= 20
    slow = [speed[e.side][min(int(round((e.time + 0.2) * motion.fps)), motion.frames - 1)] < 0.5 for e in strikes]
    assert np.mean(slow) > 0.85
    # And the other foot is the moving one half a stance later.
    assert np.median([speed["left" if e.side == "right" else "right"][min(int((e.time + 0.3) * motion.fps),
                      motion.frames - 1)] for e in strikes]) > 1.0


def test_level_floor_removes_a_slope():
    from step2motion_addon.core.motion import rotations as rot
    from step2motion_addon.core.motion.cleanup import level_floor
    # A procedural "walk": standing while the root glides 4 m, on a floor tilted 1°.
    base = procedural.standing(seconds=3.0, fps=30.0)
    root = base.root_pos.copy()
    root[:, 1] = np.linspace(0, -4.0, base.frames)
    tilt = rot.from_axis_angle(np.array([1.0, 0, 0]), np.array(np.radians(1.0)))
    rots = base.rotations.copy()
    rots[:, 0] = rot.mul(tilt[None], rots[:, 0])
    sloped = Motion(30.0, base.offsets, rots, rot.rotate(tilt[None], root) + [0, 0, 0.3], {})
    feet = sloped.fk()[:, J["LeftToeBase"], 2]
    assert abs(feet[-1] - feet[0]) > 0.05
    level = level_floor(sloped).fk()[:, J["LeftToeBase"], 2]
    assert abs(level[-1] - level[0]) < 0.003 and abs(np.median(level)) < 0.003
