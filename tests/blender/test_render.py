# SPDX-License-Identifier: GPL-3.0-or-later
"""Render check: a loaded heel renders in the colour map's high end, unloaded toes in its low end."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from step2motion_addon.blender import colormap, insole_scene, render_preview  # noqa: E402
from step2motion_addon.core import insole  # noqa: E402


def _cell_centre_pixel(scene, ob, cell: int, size=(480, 270)) -> tuple[int, int]:
    """Pixel of the insole face nearest to the cell's sensor point (well inside the cell)."""
    me = ob.data
    cells = np.empty(len(me.polygons), dtype=np.int32)
    me.attributes["cell"].data.foreach_get("value", cells)
    centres = np.empty(len(me.polygons) * 3)
    me.polygons.foreach_get("center", centres)
    centres = centres.reshape(-1, 3)
    target = insole.to_metres(np.array([insole.CELL_X[cell], insole.CELL_Y[cell]]), ob["s2m_side"], 5)
    d = np.linalg.norm(centres[:, :2] - target, axis=1) + np.where(cells == cell, 0.0, 1e3)
    world = ob.matrix_world @ Vector(centres[int(d.argmin())])
    uv = world_to_camera_view(scene, scene.camera, world)
    assert 0 < uv.x < 1 and 0 < uv.y < 1 and uv.z > 0
    return int(uv.x * size[0]), int(uv.y * size[1])


def test_heel_loaded_toes_unloaded_pixels(empty_scene, heel_take, tmp_path):
    scene = empty_scene
    created = insole_scene.build_take_scene(
        bpy.context, heel_take(heel=30.0), insole_scene.SceneOptions(color_max=30.0))
    render_preview.setup_workbench(scene, (480, 270))
    render_preview.frame_camera(scene, created)
    png = render_preview.render_png(scene, str(tmp_path / "heel.png"), frame=10)
    image = bpy.data.images.load(png)
    w, h = image.size
    pixels = np.array(image.pixels[:], dtype=np.float32).reshape(h, w, image.channels)[..., :3]
    high, low = colormap.colour_srgb(1.0), colormap.colour_srgb(0.0)
    for side in ("left", "right"):
        ob = created[f"insole_{side}"]
        hx, hy = _cell_centre_pixel(scene, ob, insole.CELL_NAMES.index("heel lateral"))
        tx, ty = _cell_centre_pixel(scene, ob, insole.CELL_NAMES.index("hallux"))
        heel, toe = pixels[hy, hx], pixels[ty, tx]
        assert np.abs(heel - toe).max() > 0.5, (side, heel, toe)
        np.testing.assert_allclose(heel, high, atol=0.03)
        np.testing.assert_allclose(toe, low, atol=0.03)
