# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences and the per-user data folder.

Preferences are keyed by the top-level package: ``bl_ext.user_default.step2motion``
when installed as an extension, ``step2motion_addon`` when the package is used
directly with the bpy wheel.
"""

from __future__ import annotations

import os
import tempfile

import bpy

ADDON_ID = __package__.rpartition(".")[0] or __package__


class STEP2MOTION_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    default_fps: bpy.props.FloatProperty(
        name="Scene Rate", description="Scene frame rate used for imported takes (fps)",
        default=30.0, min=1.0, max=1000.0)
    default_trace_length: bpy.props.IntProperty(
        name="Trace Length", description="Frames of centre-of-pressure trace behind the marker",
        default=45, min=0, max=10000)

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "default_fps")
        col.prop(self, "default_trace_length")
        path = user_data_dir()
        col.label(text=f"Data folder: {path}" if path else "Data folder: (not installed as an extension)")


def get_preferences(context=None):
    """The preferences, or None when the package is not enabled as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def user_data_dir(create: bool = True) -> str | None:
    """Writable per-user folder (never next to the add-on's files).

    Extensions get Blender's extension user path; the plain package (bpy wheel,
    tests) falls back to a temporary folder.
    """
    try:
        return bpy.utils.extension_path_user(ADDON_ID, create=create)
    except (ValueError, AttributeError, RuntimeError):
        path = os.path.join(tempfile.gettempdir(), "step2motion")
        if create:
            os.makedirs(path, exist_ok=True)
        return path


classes = (STEP2MOTION_AddonPreferences,)
