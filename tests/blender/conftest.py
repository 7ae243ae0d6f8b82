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


def evaluated_face_rgb(ob, depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """(cell index per face, its RGB) of an insole mesh after the depsgraph's heatmap modifier."""
    me = ob.evaluated_get(depsgraph).data
    colours = np.empty(len(me.loops) * 4, dtype=np.float32)
    me.attributes["s2m_color"].data.foreach_get("color", colours)
    cells = np.empty(len(me.polygons), dtype=np.int32)
    me.attributes["cell"].data.foreach_get("value", cells)
    starts = np.empty(len(me.polygons), dtype=np.int32)
    me.polygons.foreach_get("loop_start", starts)
    return cells, colours.reshape(-1, 4)[starts, :3]


@pytest.fixture
def face_rgb():
    """:func:`evaluated_face_rgb` (tests are not a package: no imports between them)."""
    return evaluated_face_rgb
