# SPDX-License-Identifier: GPL-3.0-or-later
"""File > Import > Insole Recording, and drag-and-drop of recordings onto the 3D viewport."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ImportHelper

from ..core.errors import TakeError
from . import insole_scene
from .preferences import get_preferences

FILTER = "*.txt;*.csv;*.s2m"


class IMPORT_SCENE_OT_step2motion_take(bpy.types.Operator, ImportHelper):
    """Import an insole recording as animated pressure-coloured insoles"""
    bl_idname = "import_scene.step2motion_take"
    bl_label = "Import Insole Recording"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".txt"
    filter_glob: bpy.props.StringProperty(default=FILTER, options={"HIDDEN"})
    keep_take_rate: bpy.props.BoolProperty(
        name="Keep Take Rate", description="Use the recording's sample rate as the scene frame rate",
        default=False)
    fps: bpy.props.FloatProperty(
        name="Scene Rate", description="Scene frame rate; the take is resampled to it (fps)",
        default=30.0, min=1.0, max=1000.0)
    color_max: bpy.props.FloatProperty(
        name="Colour Range", description="Pressure at the top of the colour map (N/cm²); 0 = automatic",
        default=0.0, min=0.0, soft_max=100.0)
    trace_length: bpy.props.IntProperty(
        name="Trace Length", description="Frames of centre-of-pressure trace behind the marker",
        default=45, min=0, soft_max=600)
    arrow_scale: bpy.props.FloatProperty(
        name="Arrow Scale", description="Force arrow length in metres per kN",
        default=0.25, min=0.0, soft_max=2.0)

    def invoke(self, context, event):
        prefs = get_preferences(context)
        if prefs is not None:
            self.fps = prefs.default_fps
            self.trace_length = prefs.default_trace_length
        # A file dropped on the viewport (FileHandler) arrives with its path set: ask only for the
        # options (a popup) instead of opening the file browser again.
        return self.invoke_popup(context)

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "keep_take_rate")
        row = layout.row()
        row.active = not self.keep_take_rate
        row.prop(self, "fps")
        layout.prop(self, "color_max")
        layout.prop(self, "trace_length")
        layout.prop(self, "arrow_scale")

    def scene_options(self) -> insole_scene.SceneOptions:
        return insole_scene.SceneOptions(
            fps=None if self.keep_take_rate else self.fps, color_max=self.color_max,
            trace_length=self.trace_length, arrow_scale=self.arrow_scale)

    def execute(self, context):
        from ..core.formats import load_take
        wm = context.window_manager
        has_window = context.window is not None
        if has_window:
            wm.progress_begin(0, 100)
        try:
            take = load_take(self.filepath)
            created = insole_scene.build_take_scene(
                context, take, self.scene_options(),
                progress=(lambda f: wm.progress_update(int(10 + 90 * f))) if has_window else None)
        except TakeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except OSError as exc:
            self.report({"ERROR"}, f"{self.filepath}: {exc.strerror or exc}")
            return {"CANCELLED"}
        finally:
            if has_window:
                wm.progress_end()
        _show_data_colours(context)
        root = created["root"]
        for ob in context.view_layer.objects:
            ob.select_set(False)
        if root.name in context.view_layer.objects:
            context.view_layer.objects.active = root
            root.select_set(True)
        for line in take.report:
            self.report({"WARNING"}, line)
        self.report({"INFO"}, f"Imported {root.name}: {take.duration:.1f} s, {', '.join(take.sides)}")
        return {"FINISHED"}


def _show_data_colours(context) -> None:
    """Switch open 3D viewports in Solid mode to "Attribute" colours so the heatmap shows."""
    screen = context.screen
    if screen is None:
        return
    for area in screen.areas:
        if area.type == "VIEW_3D":
            for space in area.spaces:
                if space.type == "VIEW_3D" and space.shading.type == "SOLID":
                    space.shading.color_type = "VERTEX"


class IO_FH_step2motion_take(bpy.types.FileHandler):
    bl_idname = "IO_FH_step2motion_take"
    bl_label = "Insole Recording"
    bl_import_operator = "import_scene.step2motion_take"
    bl_file_extensions = ".txt;.csv;.s2m"

    @classmethod
    def poll_drop(cls, context):
        return context.area is not None and context.area.type == "VIEW_3D"


def menu_func_import(self, context):
    self.layout.operator(IMPORT_SCENE_OT_step2motion_take.bl_idname,
                         text="Insole Recording (.txt/.csv/.s2m)")


classes = (IMPORT_SCENE_OT_step2motion_take, IO_FH_step2motion_take)


def register():
    bpy.types.TOPBAR_MT_file_import.append(menu_func_import)


def unregister():
    bpy.types.TOPBAR_MT_file_import.remove(menu_func_import)
