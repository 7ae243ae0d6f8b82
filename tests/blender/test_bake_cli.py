# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m step2motion_addon reconstruct``: no models → exit 2; --ground-truth → .blend, BVH, FBX, PNG, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from step2motion_addon.blender import bake, character, export, retarget  # noqa: E402
from step2motion_addon.cli import main  # noqa: E402
from step2motion_addon.core.formats import save_take  # noqa: E402
from step2motion_addon.core.motion import rotations as rot  # noqa: E402
from step2motion_addon.core.motion.bvh import load_bvh  # noqa: E402
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion  # noqa: E402
from step2motion_addon.core.synthetic import synthetic_walk  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("recon")
    take = d / "walk.s2m"
    save_take(synthetic_walk(duration=4.0, seed=2), str(take))
    # Ground-truth motion: a procedural walk exported by Blender's BVH exporter.
    t = np.arange(120) / 30.0
    ph = 2 * np.pi * 0.9 * t
    rots = np.zeros((120, 22, 4))
    rots[..., 0] = 1.0
    for s, lag in (("Left", 0.0), ("Right", np.pi)):
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(np.broadcast_to([1.0, 0, 0], (120, 3)), -0.4 * np.sin(ph + lag))
    root = np.stack([np.zeros(120), -t, np.full(120, 0.9)], axis=1)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30
    arm = character.create_character(bpy.context, with_mesh=False)
    res = bake.bake_motion(bpy.context, arm, Motion(30.0, character.default_offsets(1.7), rots, root),
                           retarget.detect_bone_map(arm))
    bvh = export.export_take(bpy.context, "bvh", str(d / "truth.bvh"), res.armature, res.action)
    return d, take, bvh


def test_without_models_exit_2_with_a_clear_message(files, capsys, monkeypatch):
    d, take, _ = files
    monkeypatch.chdir(d)
    code = main(["reconstruct", str(take), "--out", str(d / "x.blend"), "--models", str(d / "nothing"),
                 "--json", str(d / "x.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no trained model set" in err and "model_set.json" in err and "Traceback" not in err
    assert "no trained model set" in json.loads((d / "x.json").read_text())["error"]
    assert not (d / "x.blend").exists()


def test_ground_truth_end_to_end(files):
    d, take, bvh = files
    out = d / "gt.blend"
    code = main(["reconstruct", str(take), "--out", str(out), "--ground-truth", bvh, "--bvh", str(d / "gt.bvh"),
                 "--fbx", str(d / "gt.fbx"), "--png", str(d / "gt.png"), "--json", str(d / "gt.json")])
    assert code == 0
    rep = json.loads((d / "gt.json").read_text())
    assert set(rep["seconds"]) >= {"load", "inference", "bake", "export"}
    assert rep["model_set"] is None and rep["frames"] == 120
    assert 20 < rep["contact_percent"]["left"] < 95 and 20 < rep["contact_percent"]["right"] < 95
    assert len(rep["insoles_following_feet"]) == 2
    assert load_bvh(d / "gt.bvh").frames == 120
    assert (d / "gt.fbx").stat().st_size > 1000 and (d / "gt.png").stat().st_size > 1000
    bpy.ops.wm.open_mainfile(filepath=str(out))
    arm = next(ob for ob in bpy.data.objects if ob.get("s2m_role") == "character")
    assert [t.name for t in arm.animation_data.nla_tracks] == ["S2M walk"]


def test_key_storage_samples_survives_the_saved_blend(files):
    d, take, bvh = files
    out = d / "samples.blend"
    code = main(["reconstruct", str(take), "--out", str(out), "--ground-truth", bvh, "--key-storage", "samples",
                 "--bvh", str(d / "samples.bvh"), "--json", str(d / "samples.json")])
    assert code == 0
    rep = json.loads((d / "samples.json").read_text())
    assert rep["key_storage"] == "samples" and rep["frames"] == 120
    assert load_bvh(d / "samples.bvh").frames == 120
    assert any("Convert Take to Keyframes" in w for w in rep["warnings"])
    bpy.ops.wm.open_mainfile(filepath=str(out))
    arm = next(ob for ob in bpy.data.objects if ob.get("s2m_role") == "character")
    action = arm.animation_data.nla_tracks[0].strips[0].action
    curves = bake.action_fcurves(action)
    assert bake.is_sampled(action) and len(curves) == 91
    assert all(len(fc.sampled_points) == 120 and len(fc.keyframe_points) == 0 for fc in curves)
