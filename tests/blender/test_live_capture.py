# SPDX-License-Identifier: GPL-3.0-or-later
"""Live capture into Blender: a real UDP listener fed by the emulator, drained into the live insoles."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from step2motion_addon.blender import colormap, live  # noqa: E402
from step2motion_addon.core.formats import load_take  # noqa: E402
from step2motion_addon.devices import emulator, open_frame  # noqa: E402
from step2motion_addon.devices.replay import ReplaySource  # noqa: E402
from step2motion_addon.devices.udp import UdpSource  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples" / "demo_walk.s2m"
SECONDS = 2.0           # of demo take streamed
RATE = 2.0              # emulator speed factor: 2 s of take in 1 s


@pytest.fixture
def ctl():
    c = live.LiveController()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def demo():
    return load_take(str(DEMO))


def _last_sent(take, seconds, rate):
    """Sample index of the last open frame the emulator sends per foot within ``seconds`` of take."""
    last = {}
    for t, side, payload in emulator.open_frame_packets(take, rate):
        if t > seconds / rate:
            break
        last[side] = payload
    return {side: open_frame.decode(p) for side, p in last.items()}


def _stream(port, take, stop=None):
    out = {}

    def run():
        out.update(emulator.stream_udp(take, "127.0.0.1", port, "open", rate=RATE, duration=SECONDS / RATE,
                                       stop=stop))
    th = threading.Thread(target=run, name="test-emulator", daemon=True)
    th.start()
    return th, out


def _drain_until_quiet(scene, ctl, until_thread, max_frames=64):
    """What the timer does, but called directly: drain in small bounded steps until the stream ends."""
    calls = 0
    while until_thread.is_alive() or ctl.session.queue.qsize():
        n = live.drain_into_scene(scene, ctl, max_frames)
        calls += 1
        assert n <= max_frames
        if not n:
            time.sleep(1 / 120)
    time.sleep(0.05)    # last datagrams in flight
    while live.drain_into_scene(scene, ctl, max_frames):
        calls += 1
    return calls


def test_udp_emulator_sets_live_heatmap_and_records(empty_scene, ctl, demo, tmp_path, face_rgb):
    scene = empty_scene
    scene.render.fps, scene.frame_start, scene.frame_end = 24, 10, 250
    scene.frame_set(42)
    source = UdpSource("127.0.0.1", 0, "open")
    ctl.start(source, "udp", "udp", scene=scene, insole_size=demo.meta.insole_size)
    # The live view leaves the user's timeline alone.
    assert (scene.render.fps, scene.frame_start, scene.frame_end, scene.frame_current) == (24, 10, 250, 42)
    views = ctl.view_objects()
    assert sorted(views) == ["left", "right"]
    assert all(ob.animation_data is None or ob.animation_data.action is None for ob in views.values())

    path = ctl.start_recording(str(tmp_path / "takes"))
    assert path.startswith(str(tmp_path)) and path.endswith(".s2m")
    th, sent = _stream(source.bound[1], demo)
    # The timeline plays meanwhile: frame changes must not disturb the live values.
    calls = 0
    while th.is_alive():
        calls += live.drain_into_scene(scene, ctl, 64) >= 0
        scene.frame_set(scene.frame_current + 1)
        time.sleep(1 / 120)
    _drain_until_quiet(scene, ctl, th)
    scene.frame_set(scene.frame_current + 3)

    want = _last_sent(demo, SECONDS, RATE)
    assert sent["sent"] == sum(1 for t, *_ in emulator.open_frame_packets(demo, RATE) if t <= SECONDS / RATE)
    for side, frame in want.items():
        ob = views[side]
        got = np.array([ob[f"pressure_{c:02d}"] for c in range(1, 17)])
        # Exactly the last frame received (after the 0.01 N/cm² wire quantisation).
        np.testing.assert_array_equal(got, frame.pressure.astype(np.float64))
        np.testing.assert_array_equal(ctl.latest[side].pressure, frame.pressure)
        assert ob["total_force"] == pytest.approx(frame.force, abs=1e-6)
        assert (ob["cop_x"], ob["cop_y"]) == pytest.approx(frame.cop, abs=1e-6)
        assert ctl.latest[side].seq == frame.seq

    # The heatmap shows them: evaluated face colours follow the set pressures.
    root = ctl.view_root()
    top = float(root["s2m_color_max"])
    dg = bpy.context.evaluated_depsgraph_get()
    for side in want:
        ob = views[side]
        cells, rgb = face_rgb(ob, dg)
        p = np.array([ob[f"pressure_{c:02d}"] for c in range(1, 17)])
        np.testing.assert_allclose(rgb, colormap.colour_linear(p[cells] / top), atol=2e-3)

    stats = ctl.session.stats()
    received = sum(f["received"] for f in stats["feet"].values())
    assert received == sent["sent"] and ctl.frames_drained == received
    lat = ctl.latency_summary()
    assert set(lat) == {"left", "right"} and all(v["p50_ms"] >= 0 for v in lat.values())

    # Stop: the recording is an ordinary take holding every frame received.
    summary = ctl.stop()
    assert Path(path).is_file() and summary["path"] == path
    take = load_take(path)
    assert sum(len(s) for s in take.feet.values()) == received
    for side, frame in want.items():
        np.testing.assert_array_equal(take.feet[side].pressure[-1], frame.pressure)
    assert take.meta.recording_type == "live" and take.meta.insole_size == demo.meta.insole_size
    assert not ctl.active and not [t for t in threading.enumerate() if t.name.startswith("step2motion-live")]


def test_stop_builds_an_ordinary_take_scene(empty_scene, ctl, demo, tmp_path):
    scene = empty_scene
    ctl.start(ReplaySource(demo, rate=8.0), "replay", "replay demo", scene=scene)
    ctl.start_recording(str(tmp_path))
    ctl.session.wait(5.0)                       # the replay ends by itself (18 s at 8x)
    while live.drain_into_scene(scene, ctl, 500):
        pass
    path, created, take = live.finish_recording(bpy.context, ctl)
    assert ctl.recorder is None and ctl.active      # the source stays: the next take needs no reconnect
    root = created["root"]
    assert root.get("s2m_role") == "take" and not root.get("s2m_live") and root["s2m_file"] == path
    ins = created["insole_left"]
    assert ins.animation_data.action is not None    # keyed, like any imported take
    assert scene.frame_end > scene.frame_start
    # Every sample since the recording started, on the host time axis (a replay at 8x runs 8x faster).
    recorded = {s: len(f) for s, f in take.feet.items()}
    assert recorded == ctl.last_summary["frames"] and 1500 < recorded["left"] <= len(demo.feet["left"])
    for side in ("left", "right"):
        np.testing.assert_array_equal(take.feet[side].pressure[-1], demo.feet[side].pressure[-1])
    assert np.median(np.diff(take.feet["left"].time)) == pytest.approx(0.01 / 8.0, rel=0.05)
    coll = bpy.data.collections[ctl.view["collection"]]
    assert coll.hide_viewport                       # the live pair steps aside


def test_display_is_bounded_and_drops_oldest_frames(empty_scene, ctl, demo):
    scene = empty_scene
    ctl.start(ReplaySource(demo, rate=50.0), "replay", "replay", scene=scene)
    ctl.session.wait(5.0)                       # 3600 frames waiting, nobody drained
    waiting = ctl.session.queue.qsize()
    assert waiting == 2 * len(demo.feet["left"])
    n = live.drain_into_scene(scene, ctl, 100)
    assert n == 100 and ctl.display_dropped == waiting - 100 and ctl.session.queue.qsize() == 0
    # Still the very last frame of each foot on display.
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            np.array([ctl.view_objects()[side][f"pressure_{c:02d}"] for c in range(1, 17)]),
            demo.feet[side].pressure[-1].astype(np.float64))
