# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests that run real Blender (the bpy wheel) in-process."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from step2motion_addon.core.take import FootStream, Take, TakeMeta  # noqa: E402


@pytest.fixture
def empty_scene():
    """A factory-fresh, empty Blender session for each test."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)


def heel_only_take(duration: float = 2.0, rate: float = 100.0, heel: float = 30.0,
                   size: int = 5) -> Take:
    """Both feet with heel and midfoot cells (1–8) at ``heel`` N/cm², toes unloaded."""
    t = np.arange(int(duration * rate)) / rate
    p = np.zeros((len(t), 16), dtype=np.float32)
    p[:, :8] = heel
    feet = {side: FootStream(side, t, p.copy()) for side in ("left", "right")}
    return Take(feet, TakeMeta(name="heel only", insole_size=size, device="test"))


@pytest.fixture
def heel_take():
    """Factory for :func:`heel_only_take` (tests are not a package: no imports between them)."""
    return heel_only_take
