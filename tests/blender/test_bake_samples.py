# SPDX-License-Identifier: GPL-3.0-or-later
"""Long takes: a bake written as sampled points instead of keyframes, retargeting in time chunks.

Long takes are baked as samples (``BakeOptions.key_storage``) to fit an hour in
memory. Here, on a short procedural walk and the default character: the curves
hold samples only, the rig evaluates to the same pose as with keyframes (whole and
in-between frames), the spread curves follow, converting back gives the same
linear keys, and the panel's operator and the BVH export work on a sampled take.
Retargeting chunk by chunk gives the one-shot channels. Runs on 4.2 (legacy
``action.fcurves``) and 5.0 (slotted actions) alike.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import step2motion_addon  # noqa: E402
from step2motion_addon.blender import bake, character, compat, export, panel, reconstruct_op, retarget  # noqa: E402
from step2motion_addon.core.motion import rotations as rot  # noqa: E402
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion  # noqa: E402

FRAMES = 90


def _walk(frames=FRAMES, fps=30.0) -> Motion:
    t = np.arange(frames) / fps
    ph = 2 * np.pi * 0.9 * t
    rots = np.zeros((frames, 22, 4))
    rots[..., 0] = 1.0
    x = np.broadcast_to([1.0, 0, 0], (frames, 3))
    for s, lag in (("Left", 0.0), ("Right", np.pi)):
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(x, -0.45 * np.sin(ph + lag))
        rots[:, J[s + "Leg"]] = rot.from_axis_angle(x, 0.5 * np.clip(np.sin(ph + lag + 1.2), 0, None))
        rots[:, J[s + "Arm"]] = rot.from_axis_angle(np.broadcast_to([0, 1.0, 0], (frames, 3)),
                                                    (1 if s == "Left" else -1) * (1.2 + 0.2 * np.sin(ph)))
    rots[:, J["Hips"]] = rot.yaw(0.8 * t)            # turning: every channel moves
    root = np.stack([0.05 * np.sin(ph), -1.1 * t, 0.93 + 0.02 * np.cos(2 * ph)], axis=1)
    return Motion(fps, character.default_offsets(1.7), rots, root, {"source": "procedural"})


def _pose(arm, frames) -> np.ndarray:
    """(len(frames), bones, 4, 4) armature-space pose matrices after frame_set (float frames allowed)."""
    scene = bpy.context.scene
    out = []
    for f in frames:
        scene.frame_set(int(f), subframe=float(f) - int(f))
        out.append([np.array(pb.matrix) for pb in arm.pose.bones])
    return np.array(out)


def _bake(arm, storage, name, **kw):
    return bake.bake_motion(bpy.context, arm, _walk(), retarget.detect_bone_map(arm),
                            bake.BakeOptions(name=name, key_storage=storage, **kw))


CHECK = (1, 2, 17.5, 45, 63.25, FRAMES - 1, FRAMES)     # first, in-between and last frames


def test_samples_play_back_like_keyframes(empty_scene):
    empty_scene.render.fps = 30
    arm = character.create_character(bpy.context)
    keyed = _bake(arm, "keyframes", "keys")
    expected = _pose(arm, CHECK)
    assert keyed.key_storage == "keyframes"

    res = _bake(arm, "samples", "samples")
    assert res.key_storage == "samples" and bake.is_sampled(res.action)
    assert any("Convert Take to Keyframes" in m for m in res.messages)
    curves = bake.action_fcurves(res.action)
    assert len(curves) == len(bake.action_fcurves(keyed.action)) == 22 * 4 + 3
    for fc in curves:
        assert len(fc.keyframe_points) == 0 and len(fc.sampled_points) == FRAMES
        assert compat.is_sampled(fc)
        co = np.empty(2 * FRAMES)
        fc.sampled_points.foreach_get("co", co)
        assert np.array_equal(co[0::2], 1 + np.arange(FRAMES))          # every frame, the last included
    lo, hi = res.action.frame_range
    assert (lo, hi) == (1, FRAMES) and (empty_scene.frame_start, empty_scene.frame_end) == (1, FRAMES)
    # Only the sampled take plays (the keyed one's track was muted by the new bake).
    got = _pose(arm, CHECK)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got[0] - got[-1]).max() > 0.1                           # the pose does change


def test_samples_convert_back_to_the_same_keys(empty_scene):
    empty_scene.render.fps = 30
    arm = character.create_character(bpy.context, with_mesh=False)
    keyed = _bake(arm, "keyframes", "keys")
    res = _bake(arm, "samples", "samples")
    expected = _pose(arm, CHECK)
    assert bake.samples_to_keyframes(res.action) == 22 * 4 + 3
    assert not bake.is_sampled(res.action) and bake.samples_to_keyframes(res.action) == 0
    linear = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
    for fc, ref in zip(bake.action_fcurves(res.action), bake.action_fcurves(keyed.action)):
        assert (fc.data_path, fc.array_index) == (ref.data_path, ref.array_index)
        assert len(fc.sampled_points) == 0 and len(fc.keyframe_points) == FRAMES
        co, co_ref = np.empty(2 * FRAMES), np.empty(2 * FRAMES)
        fc.keyframe_points.foreach_get("co", co)
        ref.keyframe_points.foreach_get("co", co_ref)
        assert np.array_equal(co, co_ref)
        interp = np.empty(FRAMES, dtype=np.int32)
        fc.keyframe_points.foreach_get("interpolation", interp)
        assert (interp == linear).all()
    assert np.abs(_pose(arm, CHECK) - expected).max() < 1e-5


def test_auto_storage_switches_above_ten_minutes(empty_scene):
    fps = 30.0
    limit = int(bake.SAMPLES_ABOVE_S * fps)
    assert bake.resolve_key_storage("auto", FRAMES, fps) == "keyframes"
    assert bake.resolve_key_storage("auto", limit, fps) == "keyframes"
    assert bake.resolve_key_storage("auto", limit + 1, fps) == "samples"
    assert bake.resolve_key_storage("keyframes", limit + 1, fps) == "keyframes"
    assert bake.resolve_key_storage("samples", 2, fps) == "samples"
    with pytest.raises(bake.BakeError, match="key storage"):
        bake.resolve_key_storage("bezier", 2, fps)
    empty_scene.render.fps = 30
    arm = character.create_character(bpy.context, with_mesh=False)
    res = _bake(arm, "auto", "short")                # a 3 s take stays editable
    assert res.key_storage == "keyframes" and not bake.is_sampled(res.action)
    assert all(len(fc.sampled_points) == 0 for fc in bake.action_fcurves(res.action))


def test_spread_curves_are_sampled_too(empty_scene):
    empty_scene.render.fps = 30
    arm = character.create_character(bpy.context, with_mesh=False)
    spread = np.linspace(0.0, 0.1, FRAMES)[:, None] * np.ones((1, 22))
    res = _bake(arm, "samples", "spread", bone_curves={"s2m_spread": spread})
    curves = [fc for fc in bake.action_fcurves(res.action) if "s2m_spread" in fc.data_path]
    assert len(curves) == 22 and all(compat.is_sampled(fc) for fc in curves)
    assert curves[0].evaluate(FRAMES) == pytest.approx(0.1, abs=1e-6)


def test_write_fcurve_refuses_samples_between_frames(empty_scene):
    ob = bpy.data.objects.new("empty", None)
    empty_scene.collection.objects.link(ob)
    _, channels = compat.new_action("odd", ob)
    with pytest.raises(ValueError, match="whole frame"):
        compat.write_fcurve(channels, "location", np.array([1.0, 1.5, 2.0]), np.zeros(3), samples=True)


class _Layout:
    """Records the Full Body panel's props and operators (no window to draw in); checks they exist."""

    def __init__(self, log):
        self.log = log
        self.use_property_split = False

    def _sub(self, *a, **k):
        return _Layout(self.log)
    row = column = box = _sub

    def label(self, **k):
        pass

    def prop(self, data, name, **k):
        assert name in data.bl_rna.properties, name
        self.log.append(name)

    def operator(self, idname, **k):
        cat, _, name = idname.partition(".")
        assert hasattr(getattr(bpy.ops, cat), name), idname
        self.log.append(idname)


def _panel_items():
    log = []
    panel.VIEW3D_PT_step2motion_body.draw(types.SimpleNamespace(layout=_Layout(log)), bpy.context)
    return log


def test_operator_and_export_on_a_sampled_take(empty_scene, tmp_path):
    step2motion_addon.register()
    try:
        scene = bpy.context.scene
        scene.render.fps = 30
        arm = character.create_character(bpy.context, with_mesh=False)
        scene.step2motion_recon.target = arm
        assert scene.step2motion_recon.key_storage == "auto" and "key_storage" in _panel_items()
        res = _bake(arm, "samples", "op")
        assert "step2motion.take_to_keyframes" in _panel_items()
        path = export.export_take(bpy.context, "bvh", str(tmp_path / "take.bvh"), res.armature, res.action)
        from step2motion_addon.core.motion.bvh import load_bvh
        assert load_bvh(path).frames == FRAMES
        assert reconstruct_op.latest_take_action(arm) == res.action
        assert bpy.ops.step2motion.take_to_keyframes.poll()
        assert bpy.ops.step2motion.take_to_keyframes() == {"FINISHED"}
        assert not bake.is_sampled(res.action)
        assert all(len(fc.keyframe_points) == FRAMES for fc in bake.action_fcurves(res.action))
        assert not bpy.ops.step2motion.take_to_keyframes.poll()
        assert "step2motion.take_to_keyframes" not in _panel_items()
    finally:
        step2motion_addon.unregister()


def test_retarget_in_chunks_equals_one_shot(empty_scene):
    arm = character.create_character(bpy.context, with_mesh=False)
    mapping = retarget.detect_bone_map(arm).mapping
    m = _walk()
    whole = retarget.retarget(m, arm, mapping, chunk=100_000)
    for chunk in (1, 7, 32):
        part = retarget.retarget(m, arm, mapping, chunk=chunk)
        assert list(part.rotations) == list(whole.rotations)
        for bone, q in whole.rotations.items():
            assert np.abs(part.rotations[bone] - q).max() < 1e-12, (chunk, bone)
            assert not (np.sum(part.rotations[bone][1:] * part.rotations[bone][:-1], axis=-1) < 0).any()
        assert np.array_equal(part.location, whole.location)
