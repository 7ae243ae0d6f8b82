# SPDX-License-Identifier: GPL-3.0-or-later
"""The character following live: real UDP listener + emulator, the streaming model on its worker thread,
``drain_into_scene`` called directly (timers never fire in a bpy-module process)."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from step2motion_addon.blender import live  # noqa: E402
from step2motion_addon.core.formats import load_take  # noqa: E402
from step2motion_addon.core.inference import ModelSet  # noqa: E402
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion  # noqa: E402
from step2motion_addon.devices import emulator  # noqa: E402
from step2motion_addon.devices.udp import UdpSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"
SECONDS = 5.0           # of demo take streamed
RATE = 2.0              # emulator speed factor
LEGS = (("LeftUpLeg", "LeftLeg"), ("LeftLeg", "LeftFoot"), ("RightUpLeg", "RightLeg"),
        ("RightLeg", "RightFoot"), ("Spine", "Spine1"), ("LeftArm", "LeftForeArm"))


def _model_dir(tmp_path_factory) -> Path:
    """A trained / smoke model set when one exists here, else a tiny random one exported now (torch)."""
    cands = [os.environ.get("STEP2MOTION_MODELS", ""), ROOT / "models" / "step2motion-best",
             ROOT / "runs" / "smoke" / "model_set"]
    for c in cands:
        if c and (Path(c) / "model_set.json").is_file():
            return Path(c)
    torch = pytest.importorskip("torch")
    from training import export, models, train
    torch.manual_seed(0)
    cfg = json.loads((ROOT / "training" / "config" / "cpu_default.json").read_text())
    cfg["models"] = {k: copy.deepcopy(v) for k, v in {
        "pose": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "d_stream": 8, "stream_hidden": 16,
                 "dropout": 0.0},
        "root": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "dropout": 0.0}}.items()}
    clips = train.synthetic_clips(2, seed=0)
    norms = train.fit_normalisers(clips)
    built = {k: models.build(k, cfg["models"][k]) for k in ("pose", "root")}
    out = tmp_path_factory.mktemp("live_models")
    export.export_models(built, cfg, norms, out, clips[0]["offsets"], sources=[{"name": "synthetic",
                                                                                "licence": "none"}], metrics={})
    return out


@pytest.fixture(scope="module")
def model_set(tmp_path_factory):
    return ModelSet(_model_dir(tmp_path_factory), intra_op_threads=1)


@pytest.fixture
def ctl():
    c = live.LiveController()
    yield c
    c.shutdown()


def _live_threads():
    return [t for t in threading.enumerate() if t.name.startswith("step2motion-live")]


def _bone_pose(arm):
    return {pb.name: (tuple(pb.rotation_quaternion), tuple(pb.location)) for pb in arm.pose.bones}


def test_character_follows_a_udp_stream(empty_scene, ctl, model_set):
    scene = empty_scene
    demo = load_take(str(DEMO))
    actions_before = len(bpy.data.actions)
    source = UdpSource("127.0.0.1", 0, "open")
    ctl.start(source, "udp", "udp", scene=scene, insole_size=demo.meta.insole_size)
    # Nothing selected: the default character is created, mapped by the same code as baking.
    body = ctl.follow(bpy.context, models=model_set, hop=10, smooth=False)
    arm = bpy.data.objects[body.arm_name]
    assert arm.type == "ARMATURE" and arm.get("s2m_role") == "character"
    assert ctl.body_preview is live._apply_body
    rest = _bone_pose(arm)

    sent = {}
    th = threading.Thread(target=lambda: sent.update(emulator.stream_udp(
        demo, "127.0.0.1", source.bound[1], "open", rate=RATE, duration=SECONDS / RATE)), daemon=True)
    th.start()
    ticks = 0
    while th.is_alive():
        live.drain_into_scene(scene, ctl, 64)
        scene.frame_set(scene.frame_current + 1)       # the timeline plays meanwhile
        ticks += 1
        time.sleep(1 / 60)
    time.sleep(0.05)
    while live.drain_into_scene(scene, ctl, 500):
        pass
    # The worker finishes the windows that are due; the main thread then applies the newest pose.
    # (Polling the queue is not enough: the worker takes a drain out before it has pushed it.)
    assert body.wait_idle(60.0), body.stats()
    live.drain_into_scene(scene, ctl, 64)

    st = body.stats()
    assert not st["error"], st["error"]
    received = sum(f["received"] for f in ctl.session.stats()["feet"].values())
    assert received == sent["sent"] and body.dropped_frames == 0
    # Host axis: a 2× replay gives half the take's frames (75, not 150). The stream's wall-clock span
    # shrinks when a loaded machine delays the sender's first packets, so the lower bound has slack.
    host_frames = 30 * SECONDS / RATE
    assert 0.75 * host_frames <= st["frames"] <= host_frames + 3, st["frames"]
    assert body.published >= 3 and st["windows"] == body.published and st["skipped"] == 0

    # The bones hold exactly the newest pose the reconstructor produced, retargeted.
    newest = body.rec.latest()
    assert body.applied_pose is newest and body.latest()[1] == [newest]
    want = body.channels(newest)
    assert len(want.rotations) >= 20
    for name, q in want.rotations.items():
        np.testing.assert_allclose(arm.pose.bones[name].rotation_quaternion, q[0], atol=1e-6)
    np.testing.assert_allclose(arm.pose.bones[want.hips_bone].location, want.location[0], atol=1e-6)
    changed = [n for n, v in _bone_pose(arm).items() if not np.allclose(v[0], rest[n][0], atol=1e-4)]
    assert len(changed) >= 10

    # ...and the evaluated rig points its limbs the way the canonical pose does.
    bpy.context.view_layer.update()
    fk = Motion(model_set.rate, model_set.offsets, newest.rotations[None], newest.root_pos[None]).fk()[0]
    mw = np.array(arm.matrix_world)
    for a, b in LEGS:
        heads = [mw[:3, :3] @ np.array(arm.pose.bones[body.mapping[j]].head) for j in (a, b)]
        d_rig = (heads[1] - heads[0]) / np.linalg.norm(heads[1] - heads[0])
        d_can = (fk[J[b]] - fk[J[a]]) / np.linalg.norm(fk[J[b]] - fk[J[a]])
        assert np.degrees(np.arccos(np.clip(d_rig @ d_can, -1, 1))) < 1.0, (a, b)

    # Previewing never keys anything.
    assert arm.animation_data is None or arm.animation_data.action is None
    assert len(bpy.data.actions) == actions_before

    lat = st["latency_ms_p50"], st["fresh_ms_p50"], st["window_ms_p50"]
    assert all(v is not None and v > 0 for v in lat)
    ctl.stop()
    assert ctl.body is None and ctl.body_preview is None and not _live_threads()


def test_follow_needs_a_source_and_survives_a_deleted_rig(empty_scene, ctl, model_set):
    with pytest.raises(live.LiveError, match="start a live source first"):
        ctl.follow(bpy.context, models=model_set)
    from step2motion_addon.devices.replay import ReplaySource
    demo = load_take(str(DEMO))
    ctl.start(ReplaySource(demo, rate=4.0), "replay", "replay", scene=empty_scene)
    body = ctl.follow(bpy.context, models=model_set, hop=25)
    assert body.rec.time_scale == 4.0                         # replay speed undone for the model
    bpy.data.objects.remove(bpy.data.objects[body.arm_name])
    deadline = time.monotonic() + 20.0
    while ctl.body is not None and time.monotonic() < deadline:
        live.drain_into_scene(empty_scene, ctl, 500)          # the rig is gone: the preview stops, capture goes on
        time.sleep(0.02)
    assert ctl.body is None and ctl.active
    assert any("body preview disabled" in m for m in ctl.messages)
    ctl.stop()
    assert not _live_threads()


def test_smooth_playback_shows_every_frame_in_order(empty_scene, ctl, model_set):
    from step2motion_addon.devices.replay import ReplaySource
    demo = load_take(str(DEMO))
    ctl.start(ReplaySource(demo, rate=1.0), "replay", "replay", scene=empty_scene)
    body = ctl.follow(bpy.context, models=model_set, hop=10, smooth=True, in_place=True)
    arm = bpy.data.objects[body.arm_name]
    shown = []
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        live.drain_into_scene(empty_scene, ctl, 500)
        if body.applied_pose is not None and (not shown or shown[-1] != body.applied_pose.frame):
            shown.append(body.applied_pose.frame)
        time.sleep(1 / 60)
    assert body.stats()["error"] == ""
    assert shown == sorted(shown) and len(shown) >= 30            # ≈ 90 frames made; most shown, in order
    assert np.diff(shown).max() <= 10                            # never more than one window's jump
    # In place: the hips stay over the rig's spot whatever the root model says.
    hips = arm.pose.bones[body.mapping["Hips"]]
    world = np.array(arm.matrix_world) @ np.append(np.array(hips.head), 1.0)
    np.testing.assert_allclose(world[:2], body.rest_xy, atol=1e-4)
    ctl.stop()
    assert not _live_threads()


def test_wait_idle_covers_a_drain_the_worker_has_taken_but_not_pushed(empty_scene, ctl, model_set):
    # CI once saw 0 frames after polling the queue: the worker empties the queue before it pushes.
    from step2motion_addon.devices.replay import ReplaySource
    demo = load_take(str(DEMO))
    ctl.start(ReplaySource(demo, rate=4.0), "replay", "replay", scene=empty_scene)
    body = ctl.follow(bpy.context, models=model_set, hop=25)
    push, pushed = body.rec.push_frames, []

    def slow_push(frames):
        time.sleep(0.5)
        push(frames)
        pushed.append(len(frames))
    body.rec.push_frames = slow_push
    deadline = time.monotonic() + 20.0
    while not live.drain_into_scene(empty_scene, ctl, 500) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)                                  # the worker has taken the drain and sleeps in push
    assert body._inbox.qsize() == 0 and not pushed
    assert body.wait_idle(20.0)
    assert pushed and not body.rec.due()
    ctl.stop()
    assert body._ended and body.wait_idle(0.0)             # an ended worker never keeps a caller waiting
