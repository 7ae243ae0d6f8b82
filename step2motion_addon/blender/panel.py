# SPDX-License-Identifier: GPL-3.0-or-later
"""3D viewport sidebar (N panel) "Step2Motion": the active take's summary and visual options.

The options are custom properties of the take root; the scene's drivers read
them, so editing them here changes the heatmap range, trace and arrows at once.
Only the legend's text needs rewriting, done by a depsgraph handler.
"""

from __future__ import annotations

import os

import bpy
from bpy.app.handlers import persistent

from .insole_scene import take_root, update_legend


def active_take(context):
    """The take of the active object, else the last take imported into the scene."""
    root = take_root(context.active_object)
    if root is not None:
        return root
    roots = [ob for ob in context.scene.objects if ob.get("s2m_role") == "take"]
    return roots[-1] if roots else None


class VIEW3D_PT_step2motion_take(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Step2Motion"
    bl_label = "Insole Take"

    def draw(self, context):
        layout = self.layout
        root = active_take(context)
        if root is None:
            layout.label(text="No take in this scene")
            layout.operator("import_scene.step2motion_take", icon="IMPORT")
            return
        col = layout.column(align=True)
        path = root.get("s2m_file", "")
        col.label(text=os.path.basename(path) or root.name, icon="FILE")
        col.label(text=f"Device: {root.get('s2m_device', '?')}, size {root.get('s2m_insole_size', '?')}")
        col.label(text=f"Duration: {root.get('s2m_duration', 0.0):.1f} s")
        col.label(text=f"Rate: {root.get('s2m_rate', 0.0):.1f} Hz → {root.get('s2m_fps', 0.0):g} fps")
        for side in ("left", "right"):
            key = f"s2m_peak_{side}"
            if key in root:
                col.label(text=f"Peak force {side}: {root[key]:.0f} N")
        report = root.get("s2m_report", "")
        if report:
            box = layout.box()
            for line in report.splitlines()[:8]:
                box.label(text=line, icon="INFO")

        layout.separator()
        col = layout.column()
        col.use_property_split = True
        col.prop(root, '["s2m_color_max"]', text="Colour Range")
        col.prop(root, '["s2m_show_trace"]', text="Show Trace")
        sub = col.column()
        sub.active = bool(root.get("s2m_show_trace", True))
        sub.prop(root, '["s2m_trace_length"]', text="Trace Length")
        col.prop(root, '["s2m_show_arrows"]', text="Show Arrows")
        sub = col.column()
        sub.active = bool(root.get("s2m_show_arrows", True))
        sub.prop(root, '["s2m_arrow_scale"]', text="Arrow Scale (m/kN)")
        layout.operator(STEP2MOTION_OT_peak_frame.bl_idname, icon="TIME")


class STEP2MOTION_OT_peak_frame(bpy.types.Operator):
    """Jump to the frame of the largest total force"""
    bl_idname = "step2motion.peak_frame"
    bl_label = "Go to Peak Force"
    bl_options = {"REGISTER"}

    def execute(self, context):
        root = active_take(context)
        if root is None:
            self.report({"ERROR"}, "No Step2Motion take in this scene")
            return {"CANCELLED"}
        context.scene.frame_set(int(root.get("s2m_peak_frame", context.scene.frame_start)))
        return {"FINISHED"}


class VIEW3D_PT_step2motion_body(bpy.types.Panel):
    """Full-body motion: target rig and bone map, reconstruction, BVH bake, simulation, export."""
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Step2Motion"
    bl_label = "Full Body"

    def draw(self, context):
        from . import bake
        from .reconstruct_op import latest_take_action, target_rig
        layout = self.layout
        s = getattr(context.scene, "step2motion_recon", None)
        if s is None:
            return
        col = layout.column()
        col.use_property_split = True
        col.prop(s, "target")
        arm = target_rig(context, create=False)
        if arm is None:
            row = col.row(align=True)
            row.prop(s, "height")
            row.operator("step2motion.add_character", text="", icon="ARMATURE_DATA")
        col.prop(s, "in_place")
        col.prop(s, "foot_lock")
        col.prop(s, "smooth")
        col.prop(s, "key_storage")

        box = layout.box()
        box.label(text="Reconstruct", icon="MOD_ARMATURE")
        sub = box.column()
        sub.use_property_split = True
        sub.prop(s, "models_dir")
        row = sub.row(align=True)
        row.prop(s, "samples")
        row.prop(s, "seed")
        if s.samples > 1:
            sub.prop(s, "average_samples")
        sub.prop(s, "mirror")
        box.operator("step2motion.reconstruct", icon="PLAY")
        box.operator("step2motion.bake_bvh", icon="IMPORT")
        box.operator("step2motion.simulate_insoles", icon="MOD_PHYSICS")
        latest = latest_take_action(arm) if arm is not None else None
        if latest is not None and bake.is_sampled(latest):
            box.operator("step2motion.take_to_keyframes", icon="KEYFRAME")
        if latest is not None:
            box.operator("step2motion.export_take", icon="EXPORT")


class VIEW3D_PT_step2motion_bone_map(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Step2Motion"
    bl_label = "Bone Map"
    bl_parent_id = "VIEW3D_PT_step2motion_body"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = getattr(context.scene, "step2motion_recon", None)
        if s is None:
            return
        layout = self.layout
        row = layout.row(align=True)
        row.operator("step2motion.detect_bone_map", icon="VIEWZOOM")
        row.operator("step2motion.save_bone_map", text="", icon="FILE_TICK")
        row.operator("step2motion.load_bone_map", text="", icon="FILEBROWSER")
        if s.bone_map_source:
            layout.label(text=f"Source: {s.bone_map_source}  (* required)")
        layout.template_list("STEP2MOTION_UL_bone_map", "", s, "bone_map", s, "bone_map_index", rows=8)


@persistent
def _legend_follows_range(scene, depsgraph):
    """Keep the legend's numbers equal to each take's colour range."""
    for update in depsgraph.updates:
        ob = update.id.original if isinstance(update.id, bpy.types.Object) else None
        if ob is not None and ob.get("s2m_role") == "take":
            labels = [c for c in ob.children if c.get("s2m_role") == "legend_label"]
            top = float(ob.get("s2m_color_max", 0.0))
            if any(c.data.body != f"{float(c.get('s2m_fraction', 0.0)) * top:g}" for c in labels):
                update_legend(ob)


classes = (STEP2MOTION_OT_peak_frame, VIEW3D_PT_step2motion_take, VIEW3D_PT_step2motion_body,
           VIEW3D_PT_step2motion_bone_map)


def register():
    if _legend_follows_range not in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.append(_legend_follows_range)


def unregister():
    while _legend_follows_range in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.remove(_legend_follows_range)
