# SPDX-License-Identifier: GPL-3.0-or-later
"""Bluetooth through the Live Capture operators: scan on the service loop, list, pick by address.

Same environment as tests/devices/test_ble_live.py: a private dbus-daemon +
bluezoo process and two emulated insoles (bless), bleak's unmodified backend.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from ble_test_env import BleTestEnv, unavailable_reason  # noqa: E402

import step2motion_addon  # noqa: E402
from step2motion_addon.blender import live  # noqa: E402
from step2motion_addon.blender.live_ops import settings  # noqa: E402

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"BLE test environment unavailable: {REASON}")


def _insole(env, side, adapter):
    p = subprocess.Popen([sys.executable, "-m", "step2motion_addon.devices.emulator_ble", "--side", side,
                          "--adapter", adapter], cwd=ROOT, env=env.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("advertising"), line + p.stderr.read()
    return p


def test_scan_lists_both_insoles_and_pick(empty_scene):
    with BleTestEnv(adapters=3) as env:
        procs = [_insole(env, "left", "hci1"), _insole(env, "right", "hci2")]
        step2motion_addon.register()
        try:
            ctl = live.controller()
            s = settings(bpy.context)
            s.adapter, s.scan_seconds = "hci0", 4.0
            assert bpy.ops.step2motion.live_scan() == {"FINISHED"}
            end = time.monotonic() + 20
            while ctl.scan_state == "scanning" and time.monotonic() < end:
                time.sleep(0.1)
            assert ctl.scan_state == "done", ctl.scan_state
            by_side = {d["side"]: d for d in ctl.scan_results}
            assert {"left", "right"} <= set(by_side), ctl.scan_results
            for side in ("left", "right"):
                assert bpy.ops.step2motion.live_pick(side=side, address=by_side[side]["address"]) == {"FINISHED"}
            assert ctl.picked == {side: by_side[side]["address"] for side in ("left", "right")}
            # Connecting after this scan is not asserted: under bluezoo a second scan on the same
            # adapter does not see devices already discovered (the device layer's own scan fails the
            # same way), so the connect path is covered by tests/devices/test_ble_live.py only.
        finally:
            step2motion_addon.unregister()
            for p in procs:
                p.terminate()
                p.wait(5)
    assert not [t for t in threading.enumerate() if t.name.startswith(("step2motion", "s2m-"))]
