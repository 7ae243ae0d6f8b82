# SPDX-License-Identifier: GPL-3.0-or-later
"""Step2Motion for Blender: motion capture from smart insoles.

This package is both the Blender extension (``register``/``unregister``) and a
plain Python library (``step2motion_addon.core``) used by the command line, the
training pipeline and the tests. Importing it never imports ``bpy``: the
Blender side is loaded only when Blender registers the add-on.
"""

__version__ = "0.1.0"


def register():
    from . import blender
    blender.register()


def unregister():
    from . import blender
    blender.unregister()
