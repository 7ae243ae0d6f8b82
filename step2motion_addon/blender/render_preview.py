# SPDX-License-Identifier: GPL-3.0-or-later
"""A Workbench preview of a take scene: camera framing both insoles, flat data colours.

Workbench is fast, deterministic and needs no GPU; flat lighting, the
"Attribute" colour mode and the Standard view transform keep the pixels equal
to the colour map (AgX/Filmic would shift them).
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Vector

BACKGROUND = (0.018, 0.02, 0.026)        # scene-linear, a dark slate
PREVIEW_CAMERA = "S2M Preview Camera"


def _world_points(objects) -> np.ndarray:
    pts = []
    for ob in objects:
        if ob is None:
            continue
        for corner in ob.bound_box:
            pts.append(tuple(ob.matrix_world @ Vector(corner)))
    return np.array(pts)


def frame_camera(scene, created: dict, tilt_deg: float = 30.0, margin: float = 1.08,
                 arrow_room: float | None = None) -> bpy.types.Object:
    """Place (or create) the preview camera looking at the insoles and the legend from the front, above."""
    cam = bpy.data.objects.get(PREVIEW_CAMERA)
    if cam is None:
        data = bpy.data.cameras.new(PREVIEW_CAMERA)
        cam = bpy.data.objects.new(PREVIEW_CAMERA, data)
        scene.collection.objects.link(cam)
    cam.data.lens = 70.0
    cam.data.sensor_fit = "HORIZONTAL"
    scene.camera = cam
    bpy.context.view_layer.update()
    keys = [k for k in created if k.startswith(("insole_", "rim_", "legend"))]
    pts = _world_points([created[k] for k in keys])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if arrow_room is None:                    # leave room for the longest force arrow
        root = created.get("root")
        peak = max((float(root.get(f"s2m_peak_{s}", 0.0)) for s in ("left", "right")), default=0.0) if root else 0.0
        arrow_room = peak * float(root.get("s2m_arrow_scale", 0.0)) / 1000.0 if root else 0.0
    hi[2] += arrow_room
    centre = (lo + hi) / 2
    tilt = math.radians(tilt_deg)
    aspect = scene.render.resolution_x / scene.render.resolution_y
    fov_x = 2 * math.atan(cam.data.sensor_width / (2 * cam.data.lens))
    fov_y = 2 * math.atan(math.tan(fov_x / 2) / aspect)
    half_w = (hi[0] - lo[0]) / 2 * margin
    # Depth seen by the tilted camera: ground extent foreshortened plus the height.
    half_h = ((hi[1] - lo[1]) * math.cos(tilt) + (hi[2] - lo[2]) * math.sin(tilt)) / 2 * margin
    dist = max(half_w / math.tan(fov_x / 2), half_h / math.tan(fov_y / 2))
    direction = Vector((0.0, -math.sin(tilt), math.cos(tilt)))
    cam.location = Vector(centre) + direction * dist
    cam.rotation_euler = (tilt, 0.0, 0.0)
    return cam


def setup_workbench(scene, resolution=(960, 540)) -> None:
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 90     # small PNGs for docs and reports
    scene.render.film_transparent = False
    scene.render.dither_intensity = 0.0            # exact data colours (and PNGs that compress)
    shading = scene.display.shading
    shading.light = "FLAT"
    shading.color_type = "VERTEX"           # "Attribute": the s2m_color data colours
    shading.show_object_outline = True
    shading.object_outline_color = (0.0, 0.0, 0.0)
    shading.show_cavity = False
    shading.show_shadows = False
    shading.show_specular_highlight = False
    if scene.world is None:
        scene.world = bpy.data.worlds.new("S2M World")
    scene.world.color = BACKGROUND
    vs = scene.view_settings
    vs.view_transform = "Standard"
    vs.look = "None"
    vs.exposure = 0.0
    vs.gamma = 1.0
    scene.display_settings.display_device = "sRGB"


def render_png(scene, path: str, frame: int | None = None) -> str:
    if frame is not None:
        scene.frame_set(int(frame))
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    return path
