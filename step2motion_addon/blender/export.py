# SPDX-License-Identifier: GPL-3.0-or-later
"""Exports of a baked take through Blender's own bundled exporters: BVH, FBX, glTF.

The exporters are core add-ons shipped with Blender (and the bpy wheel); they
are enabled on demand. Each exporter reads the armature's *active* action, so
the baked action is made active for the export and the previous state
(active action, NLA track mutes) is restored afterwards.
"""

from __future__ import annotations

import os

import bpy

from . import compat

ADDONS = {"bvh": "io_anim_bvh", "fbx": "io_scene_fbx", "gltf": "io_scene_gltf2"}


class ExportError(Exception):
    pass


def ensure_exporter(kind: str) -> None:
    """Enable the bundled exporter add-on for ``kind``; ExportError if Blender lacks it."""
    import addon_utils
    module = ADDONS[kind]
    loaded, enabled = addon_utils.check(module)
    if not enabled:
        mod = addon_utils.enable(module, default_set=False, persistent=False)
        if mod is None:
            raise ExportError(f"Blender's {kind.upper()} exporter ({module}) is not available in this build")


class _ActiveTake:
    """Context manager: the take's action active and alone, restored on exit."""

    def __init__(self, arm, action):
        self.arm, self.action = arm, action

    def __enter__(self):
        anim = self.arm.animation_data or self.arm.animation_data_create()
        self.prev = (anim.action, getattr(anim, "action_slot", None) if compat.LAYERED_ACTIONS else None)
        self.mutes = [(t, t.mute) for t in anim.nla_tracks]
        for t, _ in self.mutes:
            t.mute = True
        anim.action = self.action
        if compat.LAYERED_ACTIONS and self.action.slots:
            anim.action_slot = self.action.slots[0]
        return self

    def __exit__(self, *exc):
        anim = self.arm.animation_data
        anim.action = self.prev[0]
        if compat.LAYERED_ACTIONS and self.prev[0] is not None and self.prev[1] is not None:
            anim.action_slot = self.prev[1]
        for t, mute in self.mutes:
            t.mute = mute
        return False


def _select_only(context, objects) -> None:
    for ob in context.view_layer.objects:
        ob.select_set(False)
    for ob in objects:
        if ob.name in context.view_layer.objects:
            ob.select_set(True)
    context.view_layer.objects.active = objects[0]


def _frame_range(action) -> tuple[int, int]:
    lo, hi = action.frame_range
    return int(round(lo)), int(round(hi))


def export_take(context, kind: str, path: str, arm, action) -> str:
    """Write ``arm`` animated by ``action`` to ``path`` as ``kind`` ('bvh', 'fbx' or 'gltf')."""
    if kind not in ADDONS:
        raise ExportError(f"unknown export format {kind!r}; use one of {', '.join(ADDONS)}")
    ensure_exporter(kind)
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    scene = context.scene
    start, end = _frame_range(action)
    saved = (scene.frame_start, scene.frame_end)
    meshes = [c for c in arm.children if c.type == "MESH"]
    try:
        scene.frame_start, scene.frame_end = start, end
        with _ActiveTake(arm, action):
            _select_only(context, [arm] + meshes)
            if kind == "bvh":
                res = bpy.ops.export_anim.bvh(filepath=path, check_existing=False, frame_start=start,
                                              frame_end=end, root_transform_only=True)
            elif kind == "fbx":
                res = bpy.ops.export_scene.fbx(filepath=path, check_existing=False, use_selection=True,
                                               object_types={"ARMATURE", "MESH"}, add_leaf_bones=False,
                                               bake_anim=True, bake_anim_use_nla_strips=False,
                                               bake_anim_use_all_actions=False)
            else:
                res = bpy.ops.export_scene.gltf(filepath=path, check_existing=False, use_selection=True,
                                                export_format="GLB" if path.lower().endswith(".glb") else "GLTF_SEPARATE",
                                                export_animations=True, export_animation_mode="ACTIVE_ACTIONS")
    finally:
        scene.frame_start, scene.frame_end = saved
    if res != {"FINISHED"}:
        raise ExportError(f"{kind.upper()} export to {path} did not finish ({res})")
    return path
