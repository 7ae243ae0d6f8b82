# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender side of Step2Motion: registration of every class, in a fixed order.

Each module lists its classes in one ``classes`` tuple and may define
``register()``/``unregister()`` for menus and handlers. Unregistering walks the
same modules backwards, so a disable/enable cycle leaves nothing behind.
"""

from __future__ import annotations

import bpy

from . import import_op, panel, preferences, reconstruct_op, simulate_op

# Settings and operators before the panels that draw them.
from . import live, live_ops, live_panel  # noqa: E402  (live capture: controller, operators, panel)
MODULES = (preferences, import_op, reconstruct_op, simulate_op, panel, live, live_ops, live_panel)


def register():
    for module in MODULES:
        for cls in module.classes:
            bpy.utils.register_class(cls)
        if hasattr(module, "register"):
            module.register()


def unregister():
    for module in reversed(MODULES):
        if hasattr(module, "unregister"):
            module.unregister()
        for cls in reversed(module.classes):
            if cls.is_registered:
                bpy.utils.unregister_class(cls)
