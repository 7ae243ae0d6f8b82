# SPDX-License-Identifier: GPL-3.0-or-later
"""The Live Capture panel's draw code in each state.

A bpy-module process has no window to draw a panel in, so ``draw`` runs on a
layout recorder; what it checks is real: every property the panel shows
exists on the settings, every button names a registered operator, and the
status it prints comes from a running capture.
"""

from __future__ import annotations

import types

import pytest

bpy = pytest.importorskip("bpy")

import step2motion_addon  # noqa: E402
from step2motion_addon.blender import live, live_panel  # noqa: E402
from step2motion_addon.blender.live_ops import settings  # noqa: E402


class Layout:
    """Records labels, props and operators; sub-layouts share the record."""

    def __init__(self, log):
        self.log = log
        self.use_property_split = False
        self.enabled = self.active = True

    def _sub(self, *a, **k):
        return Layout(self.log)
    row = column = box = grid_flow = split = _sub

    def label(self, text="", icon="NONE"):
        self.log["labels"].append(text)

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.log["props"].append(name)

    def operator(self, idname, **kw):
        cat, _, name = idname.partition(".")
        assert hasattr(getattr(bpy.ops, cat), name), idname
        assert getattr(getattr(bpy.ops, cat), name).poll is not None
        self.log["ops"].append(idname)
        return types.SimpleNamespace()

    def separator(self, **k):
        pass


def _draw(context=None):
    log = {"labels": [], "props": [], "ops": []}
    panel = types.SimpleNamespace(layout=Layout(log))
    for name in ("_draw_source", "_draw_running", "_draw_body"):
        setattr(panel, name, getattr(live_panel.VIEW3D_PT_step2motion_live, name).__get__(panel))
    live_panel.VIEW3D_PT_step2motion_live.draw(panel, context or bpy.context)
    return log


@pytest.fixture
def registered(empty_scene):
    step2motion_addon.register()
    yield live.controller()
    step2motion_addon.unregister()


def test_idle_panel_for_each_source(registered):
    s = settings(bpy.context)
    for source, op, prop in (("UDP", "step2motion.live_udp", "port"), ("REPLAY", "step2motion.live_replay", "replay_path"),
                             ("BLE", "step2motion.live_connect", "adapter")):
        s.source = source
        log = _draw()
        assert op in log["ops"] and prop in log["props"]
    s.ble_kind = "ORPHE"                    # ORPHE: no scan list, connect finds both insoles
    log = _draw()
    assert "step2motion.live_connect" in log["ops"] and "step2motion.live_scan" not in log["ops"]


def test_running_panel_shows_status_and_recording(registered, tmp_path):
    ctl = registered
    s = settings(bpy.context)
    s.replay_path = str(live.PACKAGE_DIR + "/samples/demo_walk.s2m")
    s.replay_rate = 4.0
    assert bpy.ops.step2motion.live_replay() == {"FINISHED"}       # from the panel's settings
    assert bpy.ops.step2motion.live_record(folder=str(tmp_path)) == {"FINISHED"}
    import time
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        live.drain_into_scene(bpy.context, ctl, 200)
        time.sleep(0.01)
    ctl.refresh_status(force=True)
    log = _draw()
    text = "\n".join(log["labels"])
    assert "Left: streaming" in text and "Right: streaming" in text
    assert "Rate " in text and "Latency " in text and "Reconnects 0" in text
    assert "Recording" in text and ".s2m" in text
    assert {"step2motion.live_record_stop", "step2motion.live_zero", "step2motion.live_calibrate",
            "step2motion.live_stop"} <= set(log["ops"])
    rate = ctl.status["feet"]["left"]["rate_hz"]
    assert 300 < rate < 500                 # 100 Hz played at 4x
    assert "step2motion.live_follow" in log["ops"] and "body_hop" in log["props"]
    # A session warning (e.g. a network-wide UDP listener with no sender set) reaches the panel.
    ctl.session.warn("listener reachable from the network")
    ctl.refresh_status(force=True)
    assert "listener reachable from the network" in _draw()["labels"]


def test_follow_with_character_from_the_panel(registered, monkeypatch):
    from pathlib import Path
    import os
    root = Path(live.PACKAGE_DIR).parent
    found = [d for d in (os.environ.get("STEP2MOTION_MODELS", ""), root / "models" / "step2motion-best",
                         root / "runs" / "smoke" / "model_set") if d and (Path(d) / "model_set.json").is_file()]
    if not found:
        pytest.skip("no model set here (models/step2motion-best or runs/smoke/model_set)")
    monkeypatch.setenv("STEP2MOTION_MODELS", str(found[0]))
    ctl = registered
    with pytest.raises(RuntimeError, match="start a live source first"):      # one-line error report
        bpy.ops.step2motion.live_follow()
    s = settings(bpy.context)
    s.replay_path = str(live.PACKAGE_DIR + "/samples/demo_walk.s2m")
    s.body_hop = 20
    assert bpy.ops.step2motion.live_replay() == {"FINISHED"}
    assert bpy.ops.step2motion.live_follow() == {"FINISHED"}
    assert ctl.body is not None and ctl.body.rec.hop == 20
    assert ctl.body.in_place and ctl.body.smooth                    # the panel's defaults
    ctl.refresh_status(force=True)
    text = "\n".join(_draw()["labels"])
    assert f"Following: {ctl.body.arm_name}" in text and "Pose every 20 frames" in text
    assert bpy.ops.step2motion.live_follow(stop=True) == {"FINISHED"} and ctl.body is None
    assert "step2motion.live_follow" in _draw()["ops"]
