# SPDX-License-Identifier: GPL-3.0-or-later
"""Baking a known motion onto the default character and onto a Mixamo-style A-pose rig.

The motion is a CMU clip from the shared data when present, else a procedural
walk made here (so the tests run on a fresh clone too).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
from mathutils import Vector  # noqa: E402

from step2motion_addon.blender import bake, character, compat, export, retarget  # noqa: E402
from step2motion_addon.core.motion import rotations as rot  # noqa: E402
from step2motion_addon.core.motion.skeleton import CANONICAL_PARENTS, JOINT_INDEX as J, Motion  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CMU = ROOT.parent / "shared" / "data" / "mocap" / "cmu" / "007_01.bvh.gz"


def _procedural_walk(seconds=3.0, fps=30.0) -> Motion:
    t = np.arange(int(seconds * fps)) / fps
    ph = 2 * np.pi * 0.9 * t
    offsets = character.default_offsets(1.7)
    rots = np.zeros((len(t), 22, 4))
    rots[..., 0] = 1.0
    x = np.broadcast_to([1.0, 0, 0], (len(t), 3))
    for s, lag in (("Left", 0.0), ("Right", np.pi)):
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(x, -0.45 * np.sin(ph + lag))
        rots[:, J[s + "Leg"]] = rot.from_axis_angle(x, 0.5 * np.clip(np.sin(ph + lag + 1.2), 0, None))
        rots[:, J[s + "Arm"]] = rot.from_axis_angle(np.broadcast_to([0, 1.0, 0], (len(t), 3)),
                                                    (1 if s == "Left" else -1) * 1.2)   # arms down
    rots[:, J["Hips"]] = rot.yaw(0.3 * np.sin(ph / 3))
    root = np.stack([0.05 * np.sin(ph), -1.1 * t, 0.93 + 0.02 * np.cos(2 * ph)], axis=1)
    return Motion(fps, offsets, rots, root, {"source": "procedural"})


@pytest.fixture(scope="module")
def motion():
    if CMU.is_file():
        from step2motion_addon.core.motion.bvh import load_bvh
        from step2motion_addon.core.motion.retarget import motion_from_bvh
        return motion_from_bvh(load_bvh(CMU))
    return _procedural_walk()


def mixamo_rig(scene, name="Mixamo", k=1.15, arm_drop_deg=45.0):
    """A Mixamo-named rig, proportions unlike the motion's, arms in an A-pose, odd bone rolls."""
    ad = bpy.data.armatures.new(name)
    ob = bpy.data.objects.new(name, ad)
    scene.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")

    def b(n, head, tail, parent=None, roll=0.0):
        e = ad.edit_bones.new("mixamorig:" + n)
        e.head, e.tail, e.roll = Vector(head), Vector(tail), roll
        if parent:
            e.parent = ad.edit_bones["mixamorig:" + parent]
    hz = 1.0 * k
    b("Hips", (0, 0, hz), (0, 0, hz + 0.1 * k), roll=0.3)
    b("Spine", (0, 0, hz + 0.1 * k), (0, 0.01, hz + 0.22 * k), "Hips")
    b("Spine1", (0, 0.01, hz + 0.22 * k), (0, 0.01, hz + 0.34 * k), "Spine")
    b("Spine2", (0, 0.01, hz + 0.34 * k), (0, 0, hz + 0.5 * k), "Spine1")
    b("Neck", (0, 0, hz + 0.5 * k), (0, 0, hz + 0.6 * k), "Spine2")
    b("Head", (0, 0, hz + 0.6 * k), (0, 0, hz + 0.8 * k), "Neck")
    b("HeadTop_End", (0, 0, hz + 0.8 * k), (0, 0, hz + 0.9 * k), "Head")
    a = math.radians(arm_drop_deg)
    for side, sx in (("Left", 1), ("Right", -1)):
        b(side + "UpLeg", (sx * 0.1 * k, 0, hz - 0.05 * k), (sx * 0.1 * k, 0, hz - 0.5 * k), "Hips", roll=0.5 * sx)
        b(side + "Leg", (sx * 0.1 * k, 0, hz - 0.5 * k), (sx * 0.1 * k, 0.01, hz - 0.93 * k), side + "UpLeg")
        b(side + "Foot", (sx * 0.1 * k, 0.01, hz - 0.93 * k), (sx * 0.1 * k, -0.12 * k, hz - 0.98 * k), side + "Leg")
        b(side + "ToeBase", (sx * 0.1 * k, -0.12 * k, hz - 0.98 * k), (sx * 0.1 * k, -0.18 * k, hz - 0.98 * k),
          side + "Foot")
        sh = np.array((sx * 0.05 * k, 0, hz + 0.45 * k))
        arm0 = sh + np.array((sx * 0.12 * k, 0, 0))
        d = np.array((sx * math.cos(a), 0, -math.sin(a)))
        b(side + "Shoulder", sh, arm0, "Spine2")
        b(side + "Arm", arm0, arm0 + d * 0.28 * k, side + "Shoulder", roll=1.0)
        b(side + "ForeArm", arm0 + d * 0.28 * k, arm0 + d * 0.52 * k, side + "Arm")
        b(side + "Hand", arm0 + d * 0.52 * k, arm0 + d * 0.6 * k, side + "ForeArm")
    bpy.ops.object.mode_set(mode="OBJECT")
    return ob


def _world_heads(arm, names):
    return np.array([tuple(arm.matrix_world @ arm.pose.bones[n].head) for n in names])


def _lengths(arm):
    return {pb.name: (pb.tail - pb.head).length for pb in arm.pose.bones}


def _compare(scene, arm, motion, result, prefix, frames_step=7):
    """Max distance between baked joints and the true joints scaled to the rig, per joint."""
    m = motion.resampled(bake.scene_fps(scene))
    pos = m.fk()
    s = result.scale
    hips = arm.data.bones[prefix + "Hips"]
    start = np.array(tuple(arm.matrix_world @ hips.head_local))[:2]
    shift = np.r_[start - s * m.root_pos[0, :2], arm.matrix_world.translation.z]
    names = ("LeftFoot", "RightFoot", "LeftToeBase", "Head")
    rest_len = _lengths(arm)
    err = {n: 0.0 for n in names}
    for f in range(0, m.frames, frames_step):
        scene.frame_set(result.frame_start + f)
        got = _world_heads(arm, [prefix + n for n in names])
        for k, n in enumerate(names):
            err[n] = max(err[n], float(np.linalg.norm(got[k] - (s * pos[f, J[n]] + shift))))
        for name, length in _lengths(arm).items():      # bones never stretch
            assert abs(length - rest_len[name]) < 1e-4 * max(1.0, length), name
    return err


def test_default_character_follows_the_true_feet(empty_scene, motion):
    scene = empty_scene
    scene.render.fps = 30
    arm = character.create_character(bpy.context, height=1.75, offsets=motion.offsets)
    bm = retarget.detect_bone_map(arm)
    assert bm.source == "canonical" and not bm.unmapped()
    res = bake.bake_motion(bpy.context, arm, motion, bm, bake.BakeOptions(name="walk"))
    err = _compare(scene, arm, motion, res, "")
    assert max(err.values()) < 0.002, err           # same proportions: exact up to float precision
    body = next(c for c in arm.children if c.type == "MESH")
    assert len(body.data.polygons) > 100 and body.modifiers["Armature"].object == arm


def test_default_proportions_character_within_size_scaled_tolerance(empty_scene, motion):
    scene = empty_scene
    arm = character.create_character(bpy.context, height=1.60)
    res = bake.bake_motion(bpy.context, arm, motion, retarget.detect_bone_map(arm))
    err = _compare(scene, arm, motion, res, "", frames_step=11)
    assert err["LeftFoot"] < 0.10 * res.scale and err["RightFoot"] < 0.10 * res.scale, err


def test_mixamo_a_pose_rig_follows_the_motion(empty_scene, motion):
    scene = empty_scene
    scene.render.fps = 25                          # not the motion's rate: resampled
    arm = mixamo_rig(scene)
    arm.location = (1.0, 2.0, 0.0)
    bpy.context.view_layer.update()
    bm = retarget.detect_bone_map(arm)
    assert bm.source == "mixamo" and bm.mapping["Spine3"] == "mixamorig:Spine2"
    res = bake.bake_motion(bpy.context, arm, motion, bm, bake.BakeOptions(name="Walk take"))
    assert any("resampled" in msg for msg in res.messages)
    assert 0.9 < res.scale < 1.5
    err = _compare(scene, arm, motion, res, "mixamorig:")
    # Proportions differ (hip width, shin/thigh ratio): feet within 6 % of the rig's size.
    assert err["LeftFoot"] < 0.06 * res.scale and err["RightFoot"] < 0.06 * res.scale, err
    # A-pose rest vs T-pose motion: each limb points where the motion's limb points.
    m = motion.resampled(25.0)
    pos = m.fk()
    for f in (0, m.frames // 2):
        scene.frame_set(res.frame_start + f)
        for a, b in (("LeftArm", "LeftForeArm"), ("RightForeArm", "RightHand"), ("LeftUpLeg", "LeftLeg"),
                     ("RightLeg", "RightFoot"), ("Spine2", "Neck")):
            got = _world_heads(arm, ["mixamorig:" + a, "mixamorig:" + b])
            want = pos[f, J[b]] - pos[f, J[a.replace("Spine2", "Spine3")]]
            cos = np.dot(got[1] - got[0], want) / np.linalg.norm(got[1] - got[0]) / np.linalg.norm(want)
            assert cos > math.cos(math.radians(3.0)), (a, f, math.degrees(math.acos(min(cos, 1.0))))


def test_bake_is_non_destructive(empty_scene, motion):
    scene = empty_scene
    arm = mixamo_rig(scene)
    # The user's own action, active on the rig, and another object with its own animation.
    own, channels = compat.new_action("Users Own", arm)
    compat.write_fcurve(channels, 'pose.bones["mixamorig:Hips"].location', np.array([1.0, 10.0]),
                        np.array([0.0, 1.0]), index=2)
    other = bpy.data.objects.new("Prop", None)
    scene.collection.objects.link(other)
    prop_action, ch = compat.new_action("Prop Anim", other)
    compat.write_fcurve(ch, "location", np.array([1.0, 5.0]), np.array([0.0, 3.0]), index=0)
    before = {a.name: [(tuple(k.co) for k in fc.keyframe_points) for fc in bake.action_fcurves(a)]
              for a in (own, prop_action)}
    before = {n: [list(x) for x in v] for n, v in before.items()}
    r1 = bake.bake_motion(bpy.context, arm, motion, retarget.detect_bone_map(arm), bake.BakeOptions(name="take A"))
    r2 = bake.bake_motion(bpy.context, arm, motion, retarget.detect_bone_map(arm), bake.BakeOptions(name="take B"))
    after = {a.name: [list(tuple(k.co) for k in fc.keyframe_points) for fc in bake.action_fcurves(a)]
             for a in (own, prop_action)}
    assert after == before
    assert r1.action != r2.action and r1.action.name == "take A" and r2.action.name == "take B"
    anim = arm.animation_data
    assert anim.action is None
    tracks = {t.name: t for t in anim.nla_tracks}
    assert tracks[bake.STASH_TRACK].mute and tracks[bake.STASH_TRACK].strips[0].action == own
    assert tracks["S2M take A"].mute and not tracks["S2M take B"].mute
    assert other.animation_data.action == prop_action
    # Quaternion channels are continuous: no sign flip between neighbouring keys.
    quat = {}
    for fc in bake.action_fcurves(r2.action):
        if fc.data_path.endswith("rotation_quaternion"):
            co = np.empty(len(fc.keyframe_points) * 2)
            fc.keyframe_points.foreach_get("co", co)
            quat.setdefault(fc.data_path, {})[fc.array_index] = co[1::2]
    for path, comps in quat.items():
        q = np.stack([comps[i] for i in range(4)], axis=1)
        assert ((q[1:] * q[:-1]).sum(1) > 0).all(), path


def test_missing_required_bones_is_a_clear_message(empty_scene, motion):
    arm = mixamo_rig(empty_scene)
    bm = retarget.detect_bone_map(arm)
    del bm.mapping["LeftLeg"], bm.mapping["RightFoot"]
    with pytest.raises(bake.BakeError, match="LeftLeg, RightFoot"):
        bake.bake_motion(bpy.context, arm, motion, bm)
    partial = {j: b for j, b in retarget.detect_bone_map(arm).mapping.items()
               if "Arm" not in j and "Hand" not in j and "Shoulder" not in j}
    res = bake.bake_motion(bpy.context, arm, motion, partial)      # arms unmapped: allowed
    assert "mixamorig:LeftArm" not in res.action.name and res.frames > 0
    with pytest.raises(bake.BakeError, match="no bones named"):
        bake.bake_motion(bpy.context, arm, motion, dict(partial, Head="NoSuchBone"))


def test_linked_rig_is_baked_on_an_override(empty_scene, motion, tmp_path):
    lib = tmp_path / "rig_library.blend"
    arm = mixamo_rig(empty_scene, name="LinkedRig")
    bpy.data.libraries.write(str(lib), {arm}, fake_user=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with bpy.data.libraries.load(str(lib), link=True) as (src, dst):
        dst.objects = ["LinkedRig"]
    linked = dst.objects[0]
    bpy.context.scene.collection.objects.link(linked)
    assert linked.library is not None
    res = bake.bake_motion(bpy.context, linked, motion, retarget.detect_bone_map(linked))
    assert res.armature != linked and res.armature.library is None
    assert any("linked" in m for m in res.messages)
    assert linked.animation_data is None or linked.animation_data.action is None


def test_bvh_export_reimports_with_the_same_frame_count(empty_scene, motion, tmp_path):
    scene = empty_scene
    scene.render.fps = 30
    arm = character.create_character(bpy.context, offsets=motion.offsets)
    res = bake.bake_motion(bpy.context, arm, motion, retarget.detect_bone_map(arm), bake.BakeOptions(name="exp"))
    path = export.export_take(bpy.context, "bvh", str(tmp_path / "take.bvh"), res.armature, res.action)
    from step2motion_addon.core.motion.bvh import load_bvh
    clip = load_bvh(path)
    assert clip.frames == res.frames
    assert set(clip.names) >= {"Hips", "LeftFoot", "RightToeBase"}
    # The export left the bake's NLA state as it was.
    assert arm.animation_data.action is None and not arm.animation_data.nla_tracks[-1].mute
    for kind, name in (("fbx", "take.fbx"), ("gltf", "take.glb")):
        out = export.export_take(bpy.context, kind, str(tmp_path / name), res.armature, res.action)
        assert Path(out).stat().st_size > 1000
