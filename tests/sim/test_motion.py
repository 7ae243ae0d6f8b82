# SPDX-License-Identifier: GPL-3.0-or-later
"""BVH reading and retargeting to the canonical skeleton."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.motion import rotations as rot
from step2motion_addon.core.motion.bvh import load_bvh
from step2motion_addon.core.motion.retarget import _detect_units_and_up, map_joints, motion_from_bvh
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX


def test_canonical_skeleton_order():
    assert len(CANONICAL_JOINTS) == 22 and CANONICAL_JOINTS[0] == "Hips"
    assert all(p < j for j, p in enumerate(CANONICAL_PARENTS))


def test_rotation_round_trips():
    rng = np.random.default_rng(0)
    q = rot.normalize(rng.standard_normal((200, 4)))
    q = np.where(q[:, :1] < 0, -q, q)
    assert np.allclose(rot.from_matrix(rot.to_matrix(q)), q, atol=1e-9)
    v = rng.standard_normal((200, 3))
    assert np.allclose(rot.rotate(q, v), np.einsum("nij,nj->ni", rot.to_matrix(q), v))
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    moved = rot.rotate(rot.between(a, b), a)
    assert np.allclose(moved / np.linalg.norm(moved, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True))
    # BVH "Zrotation Xrotation Yrotation" is Rz·Rx·Ry.
    e = rot.from_euler(np.array([30.0, 20.0, 10.0]), "ZXY")
    manual = rot.mul(rot.mul(rot.from_axis_angle(np.array([0, 0, 1.0]), np.radians(30)),
                             rot.from_axis_angle(np.array([1.0, 0, 0]), np.radians(20))),
                     rot.from_axis_angle(np.array([0, 1.0, 0]), np.radians(10)))
    assert np.allclose(e, manual)


MIXAMO = """HIERARCHY
ROOT mixamorig:Hips
{
  OFFSET 0 100 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
%s}
MOTION
Frames: 3
Frame Time: 0.0333333
"""


def _chain(names_offsets, depth=1):
    if not names_offsets:
        pad = "  " * depth
        return f"{pad}End Site\n{pad}{{\n{pad}  OFFSET 0 5 0\n{pad}}}\n"
    (name, off), rest = names_offsets[0], names_offsets[1:]
    pad = "  " * depth
    return (f"{pad}JOINT {name}\n{pad}{{\n{pad}  OFFSET {off}\n{pad}  CHANNELS 3 Zrotation Xrotation Yrotation\n"
            + _chain(rest, depth + 1) + f"{pad}}}\n")


def _mixamo_text(frames_values) -> str:
    legs = "".join(_chain([(f"mixamorig:{s}UpLeg", f"{x} -5 0"), (f"mixamorig:{s}Leg", "0 -42 0"),
                           (f"mixamorig:{s}Foot", "0 -42 0"), (f"mixamorig:{s}ToeBase", "0 -6 12")])
                   for s, x in (("Left", 9), ("Right", -9)))
    arms = lambda s, x: [(f"mixamorig:{s}Shoulder", f"{x / 2} 10 0"), (f"mixamorig:{s}Arm", f"{x} 0 0"),
                         (f"mixamorig:{s}ForeArm", f"{2 * x} 0 0"), (f"mixamorig:{s}Hand", f"{2 * x} 0 0")]
    spine = ("  JOINT mixamorig:Spine\n  {\n    OFFSET 0 10 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n"
             "    JOINT mixamorig:Spine1\n    {\n      OFFSET 0 12 0\n      CHANNELS 3 Zrotation Xrotation Yrotation\n"
             "      JOINT mixamorig:Spine2\n      {\n        OFFSET 0 12 0\n        CHANNELS 3 Zrotation Xrotation Yrotation\n"
             + _chain([("mixamorig:Neck", "0 15 0"), ("mixamorig:Head", "0 10 0")], 4)
             + _chain(arms("Left", 7), 4) + _chain(arms("Right", -7), 4)
             + "      }\n    }\n  }\n")
    text = MIXAMO % (legs.replace("\n  ", "\n  ") + spine)
    return text + "\n".join(" ".join(f"{v:.4f}" for v in row) for row in frames_values) + "\n"


def test_mixamo_style_rig_retargets_exactly(tmp_path):
    n_chan = 6 + 3 * 21
    rng = np.random.default_rng(1)
    values = rng.normal(0, 15, (3, n_chan))
    values[:, :3] = [[0, 100, 0], [5, 101, 3], [10, 100, 6]]
    path = tmp_path / "mixamo.bvh.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(_mixamo_text(values))
    clip = load_bvh(path)
    assert clip.frames == 3 and len(clip.names) == 22
    found = map_joints(clip.names, clip.parents)
    assert clip.names[found["LeftToeBase"]] == "mixamorig:LeftToeBase"
    assert clip.names[found["Spine3"]] == "mixamorig:Spine2"
    _check_fk(clip, motion_from_bvh(clip))


def test_bad_bvh_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n}\nMOTION\n")
    with pytest.raises(TakeError, match=r"bad\.bvh:4: bad OFFSET"):
        load_bvh(bad)
    short = tmp_path / "short.bvh"
    short.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n}\n"
                     "MOTION\nFrames: 2\nFrame Time: 0.01\n1 2 3\n4 5 x\n")
    with pytest.raises(TakeError, match=r"short\.bvh:11: non-numeric"):
        load_bvh(short)
    with pytest.raises(TakeError, match="HIERARCHY"):
        (tmp_path / "empty.bvh").write_text("")
        load_bvh(tmp_path / "empty.bvh")


def _check_fk(clip, motion, tol_m=0.001):
    """Canonical FK of every mapped joint lands on the source joint (in canonical axes)."""
    gpos, _ = clip.fk()
    src = map_joints(clip.names, clip.parents)
    scale, m = _detect_units_and_up(gpos, src)
    pos = motion.fk()
    for name in motion.meta["mapped_joints"]:
        err = np.abs(pos[:, JOINT_INDEX[name]] - gpos[:, src[name]] @ m.T * scale).max()
        limit = 0.006 if name in motion.meta["indirect_joints"] else tol_m
        assert err < limit, (clip.path, name, err)
    # Bone lengths are constant and positive; Z is up (head above feet), units metres.
    assert np.all(np.linalg.norm(motion.offsets[1:], axis=1) > 0.01)
    assert 1.0 < np.median(pos[:, JOINT_INDEX["Head"], 2] - pos[:, JOINT_INDEX["LeftFoot"], 2]) < 2.0


@pytest.mark.shared
def test_every_shared_clip_loads_or_is_rejected(shared_data):
    files = sorted((shared_data / "mocap").glob("*/*.bvh*"))
    assert len(files) > 1000
    rejected = {}
    for path in files:
        try:
            load_bvh(path)
        except TakeError as exc:
            rejected[path.name] = str(exc)
            assert path.name in str(exc)          # the reason names the file
    assert len(rejected) < 0.02 * len(files), rejected
    # Retarget a spread sample (both rigs) and check FK exactness.
    sample = files[:: max(1, len(files) // 60)] + sorted((shared_data / "mocap" / "cmu").glob("*.bvh.gz"))[::4]
    for path in sample:
        if path.name in rejected:
            continue
        clip = load_bvh(path)
        _check_fk(clip, motion_from_bvh(clip))
