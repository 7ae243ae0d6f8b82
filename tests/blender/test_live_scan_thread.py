# SPDX-License-Identifier: GPL-3.0-or-later
"""The panel's Bluetooth scan thread asks bleak for a multi-threaded COM apartment on Windows.

Off Windows the fix is a no-op, so this only checks the wiring: with the
platform reported as win32, the scan's service thread calls bleak's
``uninitialize_sta`` once, before the scan, through ``devices.ble.ensure_mta`` (also what a
capture on the same loop calls: once per thread).
"""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest

bpy = pytest.importorskip("bpy")
bleak = pytest.importorskip("bleak")

from step2motion_addon.blender import live  # noqa: E402
from step2motion_addon.devices import ble  # noqa: E402


def test_scan_thread_leaves_sta_once_on_windows(monkeypatch):
    calls = []
    util = types.ModuleType("bleak.backends.winrt.util")
    util.uninitialize_sta = lambda: calls.append(threading.current_thread().name)
    monkeypatch.setitem(sys.modules, "bleak.backends.winrt.util", util)
    monkeypatch.setattr(ble, "sys", types.SimpleNamespace(platform="win32"))

    class Scanner:
        @staticmethod
        async def discover(**kw):
            calls.append("discover")
            return {}
    monkeypatch.setattr(bleak, "BleakScanner", Scanner)

    ctl = live.LiveController()
    try:
        for _ in range(2):
            ctl.scan(0.01)
            ctl._scan_future.result(10.0)
            end = time.monotonic() + 10.0       # the done callback runs just after the result is set
            while ctl.scan_state == "scanning" and time.monotonic() < end:
                time.sleep(0.005)
            assert ctl.scan_state == "done"
    finally:
        ctl.shutdown()
    # Once per thread, first: a second call would uninitialise the apartment WinRT set up.
    assert calls == ["step2motion-service", "discover", "discover"]
