# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators of the Full Body panel: reconstruct without models, Bake Motion from BVH at several
scene rates, odd rigs, bone-map save/load, Simulate Insoles with insoles under the feet."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import step2motion_addon  # noqa: E402
from step2motion_addon.blender import bake, character, export, reconstruct_op, retarget, simulate_op  # noqa: E402
from step2motion_addon.core.formats import save_take  # noqa: E402
from step2motion_addon.core.motion import rotations as rot  # noqa: E402
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion  # noqa: E402
from step2motion_addon.core.synthetic import synthetic_walk  # noqa: E402


def _walk(seconds=2.0, fps=30.0) -> Motion:
    t = np.arange(int(seconds * fps)) / fps
    ph = 2 * np.pi * 0.9 * t
    rots = np.zeros((len(t), 22, 4))
    rots[..., 0] = 1.0
    x = np.broadcast_to([1.0, 0, 0], (len(t), 3))
    for s, lag in (("Left", 0.0), ("Right", np.pi)):
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(x, -0.4 * np.sin(ph + lag))
        rots[:, J[s + "Leg"]] = rot.from_axis_angle(x, 0.5 * np.clip(np.sin(ph + lag + 1.2), 0, None))
    root = np.stack([np.zeros_like(t), -1.0 * t, 0.9 + 0.02 * np.cos(2 * ph)], axis=1)
    return Motion(fps, character.default_offsets(1.7), rots, root, {"source": "procedural"})


@pytest.fixture
def registered(empty_scene):
    step2motion_addon.register()
    yield bpy.context.scene
    step2motion_addon.unregister()


@pytest.fixture(scope="module")
def bvh_file(tmp_path_factory):
    """A BVH written by Blender's exporter from a procedural walk (no third-party data; 60 frames, 30 fps)."""
    path = tmp_path_factory.mktemp("bvh") / "walk.bvh"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30
    arm = character.create_character(bpy.context, with_mesh=False)
    res = bake.bake_motion(bpy.context, arm, _walk(), retarget.detect_bone_map(arm))
    export.export_take(bpy.context, "bvh", str(path), res.armature, res.action)
    return path


def test_reconstruct_without_models_names_what_is_missing(registered, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    take_path = tmp_path / "walk.s2m"
    save_take(synthetic_walk(duration=3.0, seed=1), str(take_path))
    bpy.ops.import_scene.step2motion_take(filepath=str(take_path))
    registered.step2motion_recon.models_dir = str(tmp_path / "no_models_here")
    with pytest.raises(RuntimeError, match="no trained model set.*model_set.json"):
        bpy.ops.step2motion.reconstruct()
    assert not any(ob.get("s2m_role") == "character" for ob in bpy.data.objects)   # nothing half-made


@pytest.mark.parametrize("fps", [24, 25, 60])
def test_bake_bvh_operator_resamples_to_the_scene_rate(registered, bvh_file, fps):
    scene = registered
    scene.render.fps = fps
    assert bpy.ops.step2motion.bake_bvh(filepath=str(bvh_file)) == {"FINISHED"}
    arm = next(ob for ob in bpy.data.objects if ob.get("s2m_role") == "character")
    action = reconstruct_op.latest_take_action(arm)
    assert action is not None and action.name == "walk"
    frames = scene.frame_end - scene.frame_start + 1
    from step2motion_addon.core.motion.bvh import load_bvh
    clip = load_bvh(bvh_file)                       # 60 frames at 30 fps (frame time as written)
    assert clip.frames == 60
    assert frames == len(np.arange(0.0, (clip.frames - 1) * clip.frame_time + 1e-9, 1.0 / fps))
    # Undo support: the operator is registered with UNDO.
    assert "UNDO" in bpy.types.STEP2MOTION_OT_bake_bvh.bl_options


def test_odd_rig_gets_a_clear_message(registered, bvh_file):
    ad = bpy.data.armatures.new("Odd")
    ob = bpy.data.objects.new("Odd", ad)
    registered.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    for name, head, tail in (("pelvis_ctrl", (0, 0, 1), (0, 0, 1.1)), ("blob", (0, 0, 1.1), (0, 0, 1.3))):
        eb = ad.edit_bones.new(name)
        eb.head, eb.tail = head, tail
    bpy.ops.object.mode_set(mode="OBJECT")
    registered.step2motion_recon.target = ob
    with pytest.raises(RuntimeError, match="no bone found for .*LeftUpLeg.*RightFoot"):
        bpy.ops.step2motion.bake_bvh(filepath=str(bvh_file))
    assert ob.animation_data is None


def test_bone_map_edit_save_and_load(registered, tmp_path):
    arm = character.create_character(bpy.context, with_mesh=False)
    s = registered.step2motion_recon
    s.target = arm
    assert bpy.ops.step2motion.detect_bone_map() == {"FINISHED"}
    assert len(s.bone_map) == 22 and s.bone_map_source == "canonical"
    s.bone_map[J["LeftHand"]].bone = ""                  # the user unmaps a non-essential bone
    path = tmp_path / "maps" / "rig.json"
    path.parent.mkdir()
    assert bpy.ops.step2motion.save_bone_map(filepath=str(path)) == {"FINISHED"}
    data = json.loads(path.read_text())
    assert data["bones"]["LeftHand"] == "" and data["bones"]["LeftFoot"] == "LeftFoot"
    assert bpy.ops.step2motion.detect_bone_map() == {"FINISHED"}
    assert bpy.ops.step2motion.load_bone_map(filepath=str(path)) == {"FINISHED"}
    assert s.bone_map[J["LeftHand"]].bone == "" and s.bone_map_rig == arm.name
    bm = reconstruct_op.current_bone_map(bpy.context, arm)
    assert "LeftHand" not in bm.mapping and bm.mapping["Hips"] == "Hips"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(RuntimeError, match="not a Step2Motion bone map"):
        bpy.ops.step2motion.load_bone_map(filepath=str(bad))


def test_simulate_insoles_puts_insoles_under_the_feet(registered):
    scene = registered
    scene.render.fps = 30
    arm = character.create_character(bpy.context, height=1.7)
    registered.step2motion_recon.target = arm
    res = bake.bake_motion(bpy.context, arm, _walk(seconds=3.0), retarget.detect_bone_map(arm))
    assert bpy.ops.step2motion.simulate_insoles() == {"FINISHED"}
    insoles = {ob["s2m_side"]: ob for ob in bpy.data.objects if ob.get("s2m_role") == "insole"}
    assert sorted(insoles) == ["left", "right"]
    assert all(ob.constraints.get("S2M Follow Foot") for ob in insoles.values())
    forces = []
    for f in range(res.frame_start, res.frame_start + res.frames, 9):
        scene.frame_set(f)
        for side, ob in insoles.items():
            foot = arm.matrix_world @ arm.pose.bones["LeftFoot" if side == "left" else "RightFoot"].head
            d = np.array(ob.matrix_world.translation) - np.array(foot)
            assert np.linalg.norm(d[:2]) < 0.12, (side, f, d)        # centred under the foot
            assert -0.2 < d[2] < 0.0                                   # below the ankle
            forces.append(ob["total_force"])
    assert max(forces) > 300.0                       # the simulated walk loads the insoles


def test_overridden_rig_bakes_in_place(empty_scene, tmp_path):
    lib = tmp_path / "lib.blend"
    arm = character.create_character(bpy.context, name="LibChar", with_mesh=False)
    bpy.data.libraries.write(str(lib), {arm}, fake_user=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with bpy.data.libraries.load(str(lib), link=True) as (src, dst):
        dst.objects = ["LibChar"]
    linked = dst.objects[0]
    bpy.context.scene.collection.objects.link(linked)
    override = linked.override_hierarchy_create(bpy.context.scene, bpy.context.view_layer, do_fully_editable=True)
    res = bake.bake_motion(bpy.context, override, _walk(), retarget.detect_bone_map(override))
    assert res.armature == override and res.frames == 48          # 2 s at the default 24 fps
    assert linked.animation_data is None


def test_simulate_insoles_refuses_an_animation_with_a_cut(registered):
    registered.render.fps = 30
    arm = character.create_character(bpy.context, height=1.7)
    registered.step2motion_recon.target = arm
    walk = _walk(seconds=3.0)
    walk.root_pos[45:] += np.array([0.0, 3.0, 0.0])                 # the character jumps 3 m at 1.5 s
    bake.bake_motion(bpy.context, arm, walk, retarget.detect_bone_map(arm))
    with pytest.raises(RuntimeError, match=r"root moves [23]\.\d\d m between frames 44 and 45"):
        bpy.ops.step2motion.simulate_insoles()
    assert not [ob for ob in bpy.data.objects if ob.get("s2m_role") == "insole"]
