# SPDX-License-Identifier: GPL-3.0-or-later
"""Live Capture operators through bpy.ops: lifecycle, errors, zero, calibration, record → take scene."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import step2motion_addon  # noqa: E402
from step2motion_addon.blender import live  # noqa: E402
from step2motion_addon.core import insole  # noqa: E402
from step2motion_addon.core.formats import load_take, save_take  # noqa: E402
from step2motion_addon.core.take import FootStream, Take, TakeMeta  # noqa: E402

ACC = np.array([0.06, -0.03, 0.98])


def _ours():
    return [t for t in threading.enumerate() if t.name.startswith(("step2motion", "s2m-"))]


@pytest.fixture
def registered(empty_scene):
    step2motion_addon.register()
    yield live.controller()
    step2motion_addon.unregister()
    assert not _ours()


def _standing(path, cell_value, cells=slice(0, 8), seconds=3.0, size=5):
    """A still take: the given cells loaded on both feet, constant tilt of the IMU."""
    t = np.arange(int(seconds * 100)) / 100.0
    p = np.zeros((len(t), 16), np.float32)
    p[:, cells] = cell_value
    acc = np.tile(ACC, (len(t), 1)).astype(np.float32)
    feet = {s: FootStream(s, t.copy(), p.copy(), acc=acc.copy()) for s in ("left", "right")}
    save_take(Take(feet, TakeMeta(name="standing", insole_size=size, device="test")), str(path))
    return str(path)


def _pump(ctl, seconds=None, until=None, timeout=5.0):
    """Stand in for the timer (which never fires in a bpy-module process)."""
    end = time.monotonic() + (seconds if seconds is not None else timeout)
    while time.monotonic() < end:
        live.drain_into_scene(bpy.context, ctl, 200)
        if until is not None and until():
            return True
        time.sleep(1 / 100)
    return until is None


def test_unregister_stops_a_running_capture_and_reregister_works(registered, tmp_path):
    ctl = registered
    assert bpy.ops.step2motion.live_udp(port=0) == {"FINISHED"}
    assert ctl.active and ctl.session.running and bpy.app.timers.is_registered(live._tick)
    assert bpy.ops.step2motion.live_record(folder=str(tmp_path), name="cut") == {"FINISHED"}
    path = ctl.record_path
    assert path == str(tmp_path / "cut.s2m")
    names = {t.name for t in _ours()}
    # One asyncio loop for the add-on (captures and BLE scans), not a loop thread per capture.
    assert {"step2motion-service", "step2motion-recorder"} <= names and "step2motion-live" not in names
    step2motion_addon.unregister()
    assert not _ours(), [t.name for t in _ours()]
    assert not bpy.app.timers.is_registered(live._tick)
    assert not hasattr(bpy.types, "VIEW3D_PT_step2motion_live")
    assert not hasattr(bpy.types.WindowManager, "step2motion_live")
    with pytest.raises(Exception, match="no samples"):      # closed cleanly, just empty
        load_take(path)
    step2motion_addon.register()
    assert hasattr(bpy.types, "VIEW3D_PT_step2motion_live")
    assert bpy.types.VIEW3D_PT_step2motion_live.bl_category == "Step2Motion"
    assert bpy.ops.step2motion.live_udp(port=0) == {"FINISHED"}
    assert live.controller().session.running


def test_port_in_use_is_one_clear_line(registered):
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        with pytest.raises(RuntimeError) as err:
            bpy.ops.step2motion.live_udp(host="127.0.0.1", port=port)
    finally:
        busy.close()
    message = str(err.value).strip()
    assert f"UDP port {port}" in message and "already in use" in message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert not registered.active
    assert [t.name for t in _ours()] == ["step2motion-service"]     # only the add-on's loop stays
    assert registered.service.loop().is_running()


@pytest.mark.parametrize("kwargs, expected", [
    (dict(filepath="/nonexistent/walk.s2m"), "walk.s2m: file not found"),
    (dict(), "choose a take file"),
])
def test_replay_errors_are_one_clear_line(registered, kwargs, expected):
    with pytest.raises(RuntimeError) as err:
        bpy.ops.step2motion.live_replay(**kwargs)
    message = str(err.value).strip()
    assert expected in message and "Traceback" not in message and len(message.splitlines()) == 1
    assert not registered.active


def test_other_errors(registered, tmp_path):
    with pytest.raises(RuntimeError, match="start a live source first"):
        bpy.ops.step2motion.live_record(folder=str(tmp_path))
    with pytest.raises(RuntimeError, match="not recording"):
        bpy.ops.step2motion.live_record_stop()
    with pytest.raises(RuntimeError, match="bad port|out of range|udp"):
        bpy.ops.step2motion.live_udp(host="not-an-address.invalid", port=0)
    assert bpy.ops.step2motion.live_udp(port=0) == {"FINISHED"}
    with pytest.raises(RuntimeError, match="already running"):
        bpy.ops.step2motion.live_udp(port=0)
    import step2motion_addon.blender as pkg
    with pytest.raises(RuntimeError, match="inside the add-on"):
        bpy.ops.step2motion.live_record(folder=str(pkg.__path__[0]))


def test_calibration_and_zero_go_into_the_recording(registered, tmp_path):
    ctl = registered
    heel = 3.0
    path = _standing(tmp_path / "standing.s2m", heel)
    assert bpy.ops.step2motion.live_replay(filepath=path, rate=1.0, loop=True) == {"FINISHED"}
    assert _pump(ctl, until=lambda: len(ctl.history["left"]) > 60)
    # Standing on it: zeroing would erase the load.
    with pytest.raises(RuntimeError, match="left foot is loaded"):
        bpy.ops.step2motion.live_zero(side="left")
    assert bpy.ops.step2motion.live_record(folder=str(tmp_path / "takes"), name="calib") == {"FINISHED"}
    assert bpy.ops.step2motion.live_calibrate(seconds=0.5) == {"FINISHED"}
    assert ctl.calibrating() > 0
    assert _pump(ctl, until=lambda: ctl.calibration is not None)
    per_foot = heel * insole.cell_areas(5)[:8].sum()
    want_mass = 2 * per_foot / 9.80665
    assert ctl.calibration["body_mass_kg"] == pytest.approx(want_mass, abs=0.05)
    assert bpy.ops.step2motion.live_record_stop(bake=False) == {"FINISHED"}
    take = load_take(str(tmp_path / "takes" / "calib.s2m"))
    assert take.meta.body_mass_kg == pytest.approx(want_mass, abs=0.05)
    grav = take.meta.extra["calibration"]["gravity_direction"]
    np.testing.assert_allclose(grav["left"], ACC / np.linalg.norm(ACC), atol=1e-4)
    assert any("stand-still calibration" in line for line in take.report)
    # The recorded take's scene was built and is the active take.
    root = bpy.context.view_layer.objects.active
    assert root.get("s2m_role") == "take" and root["s2m_file"].endswith("calib.s2m")
    bpy.ops.step2motion.live_stop()


def test_zero_removes_the_residual_of_an_unloaded_foot(registered, tmp_path):
    ctl = registered
    residual = 0.25
    path = _standing(tmp_path / "residual.s2m", residual, cells=slice(0, 16))
    bpy.ops.step2motion.live_replay(filepath=path, rate=1.0, loop=True)
    assert _pump(ctl, until=lambda: len(ctl.history["right"]) > 60)
    ob = ctl.view_objects()["right"]
    assert ob["pressure_05"] == pytest.approx(residual)
    assert bpy.ops.step2motion.live_record(folder=str(tmp_path)) == {"FINISHED"}
    assert bpy.ops.step2motion.live_zero(side="BOTH") == {"FINISHED"}
    _pump(ctl, seconds=0.1)
    for side in ("left", "right"):
        ob = ctl.view_objects()[side]
        assert max(ob[f"pressure_{c:02d}"] for c in range(1, 17)) == pytest.approx(0.0, abs=1e-6)
        assert ob["total_force"] == pytest.approx(0.0, abs=1e-6) and ob["contact"] == 0.0
    rec = ctl.record_path
    assert bpy.ops.step2motion.live_record_stop(build=False) == {"FINISHED"}
    take = load_take(rec)
    # The recording keeps the raw values; the baseline is a note and meta entry.
    assert take.feet["left"].pressure.max() == pytest.approx(residual)
    assert take.meta.extra["zero_baseline"]["left"] == pytest.approx([residual] * 16)
    assert any(line.startswith("note: zero left") for line in take.report)


def test_stop_recording_reconstructs_and_bakes_the_body(registered, tmp_path):
    """Stop → the take goes through the full reconstruction pipeline and becomes a baked action."""
    ctl = registered
    from pathlib import Path
    demo = Path(step2motion_addon.__file__).parent / "samples" / "demo_walk.s2m"
    assert bpy.ops.step2motion.live_replay(filepath=str(demo), rate=4.0) == {"FINISHED"}
    assert bpy.ops.step2motion.live_record(folder=str(tmp_path), name="walk") == {"FINISHED"}
    assert _pump(ctl, until=lambda: len(ctl.history["left"]) > 400, timeout=20.0)
    actions_before = set(bpy.data.actions.keys())
    assert bpy.ops.step2motion.live_record_stop() == {"FINISHED"}
    bpy.ops.step2motion.live_stop()
    new = [bpy.data.actions[n] for n in set(bpy.data.actions.keys()) - actions_before]
    arms = [ob for ob in bpy.data.objects if ob.type == "ARMATURE"]
    assert arms, "no character was created"
    baked = [a for a in new if any("pose.bones" in fc.data_path for fc in _fcurves(a))]
    assert baked, f"no baked body action among {[a.name for a in new]}"


def _fcurves(action):
    if hasattr(action, "layers") and len(action.layers):
        return [fc for layer in action.layers for strip in layer.strips
                for bag in strip.channelbags for fc in bag.fcurves]
    return list(getattr(action, "fcurves", []))
