# SPDX-License-Identifier: GPL-3.0-or-later
"""Bone-map detection by names and hierarchy, and the saved JSON format (no Blender needed)."""

from __future__ import annotations

import pytest

from step2motion_addon.core import rigmap
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS


def _chain(names: dict) -> list:
    """[(bone, parent)] for a rig whose bones follow the canonical hierarchy, named by ``names``."""
    out = []
    for j, p in zip(CANONICAL_JOINTS, CANONICAL_PARENTS):
        if j in names:
            parent = CANONICAL_JOINTS[p] if p >= 0 else None
            while parent is not None and parent not in names:
                parent = CANONICAL_JOINTS[CANONICAL_PARENTS[CANONICAL_JOINTS.index(parent)]] \
                    if CANONICAL_PARENTS[CANONICAL_JOINTS.index(parent)] >= 0 else None
            out.append((names[j], names[parent] if parent else None))
    return out


@pytest.mark.parametrize("preset, sample", [
    ("mixamo", {"LeftUpLeg": "mixamorig:LeftUpLeg", "Spine3": "mixamorig:Spine2"}),
    ("rigify", {"LeftUpLeg": "thigh_fk.L", "Hips": "torso", "RightHand": "hand_fk.R"}),
    ("auto_rig_pro", {"Hips": "root.x", "LeftUpLeg": "thigh_stretch.l", "RightToeBase": "toes_01.r"}),
    ("cmu_asf", {"LeftUpLeg": "lfemur", "RightLeg": "rtibia", "Spine3": "thorax"}),
    ("character_creator", {"LeftLeg": "CC_Base_L_Calf"}),
])
def test_each_preset_is_detected_on_its_own_rig(preset, sample):
    names = {j: rigmap.PRESETS[preset][j][0] for j in CANONICAL_JOINTS}
    bm = rigmap.detect(_chain(names))
    assert bm.source == preset and bm.score == 1.0
    for joint, bone in sample.items():
        assert bm.mapping[joint] == bone


def test_cmu_bvh_import_names_with_hip_joints():
    """Blender's BVH import of CMU conversions: extra LHipJoint/LowerBack bones in the chain."""
    bones = [("Hips", None), ("LHipJoint", "Hips"), ("LeftUpLeg", "LHipJoint"), ("LeftLeg", "LeftUpLeg"),
             ("LeftFoot", "LeftLeg"), ("LeftToeBase", "LeftFoot"), ("RHipJoint", "Hips"),
             ("RightUpLeg", "RHipJoint"), ("RightLeg", "RightUpLeg"), ("RightFoot", "RightLeg"),
             ("RightToeBase", "RightFoot"), ("LowerBack", "Hips"), ("Spine", "LowerBack"), ("Spine1", "Spine"),
             ("Neck", "Spine1"), ("Neck1", "Neck"), ("Head", "Neck1"), ("LeftShoulder", "Spine1"),
             ("LeftArm", "LeftShoulder"), ("LeftForeArm", "LeftArm"), ("LeftHand", "LeftForeArm"),
             ("RightShoulder", "Spine1"), ("RightArm", "RightShoulder"), ("RightForeArm", "RightArm"),
             ("RightHand", "RightForeArm")]
    bm = rigmap.detect(bones)
    assert bm.score == 1.0 and not bm.missing_required()
    assert bm.mapping["LeftUpLeg"] == "LeftUpLeg" and bm.mapping["Spine3"] == "Spine1"


def test_unknown_naming_falls_back_to_the_hierarchy_heuristic():
    names = {j: "bn_" + j.replace("Left", "L_").replace("Right", "R_").replace("UpLeg", "Thigh")
             .replace("Leg", "Calf").replace("ToeBase", "Toe") for j in CANONICAL_JOINTS}
    bm = rigmap.detect(_chain(names))
    assert "heuristic" in bm.source
    assert not bm.missing_required()
    assert bm.mapping["LeftUpLeg"] == "bn_L_Thigh" and bm.mapping["RightLeg"] == "bn_R_Calf"


def test_names_that_match_but_nest_wrongly_score_lower():
    names = {j: rigmap.PRESETS["mixamo"][j][0] for j in CANONICAL_JOINTS}
    good = rigmap.score_preset("mixamo", _chain(names))[0]
    flat = [(b, None) for b, _ in _chain(names)]            # every bone a root: not a skeleton
    assert rigmap.score_preset("mixamo", flat)[0] < good


def test_partial_map_lists_missing_required_bones():
    bones = [("Hips", None), ("LeftUpLeg", "Hips"), ("LeftLeg", "LeftUpLeg")]
    bm = rigmap.detect(bones)
    assert set(bm.missing_required()) == {"LeftFoot", "RightUpLeg", "RightLeg", "RightFoot"}
    with pytest.raises(ValueError, match="LeftFoot.*RightUpLeg"):
        bm.check()


def test_json_round_trip_and_bad_files():
    bm = rigmap.BoneMap({"Hips": "pelvis", "LeftUpLeg": "thigh_l"}, "manual")
    back = rigmap.from_json(rigmap.to_json(bm, "MyRig"))
    assert back.mapping == bm.mapping
    with pytest.raises(ValueError, match="not JSON"):
        rigmap.from_json("{oops", "x.json")
    with pytest.raises(ValueError, match="not a Step2Motion bone map"):
        rigmap.from_json('{"bones": {}}')
    with pytest.raises(ValueError, match="unknown joints Tail"):
        rigmap.from_json('{"format": "step2motion-bone-map", "bones": {"Tail": "t"}}')
