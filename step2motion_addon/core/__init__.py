"""Pure-numpy core: take model, insole geometry, formats, signal processing.

Nothing under ``core`` may import ``bpy``: the command line, the training
pipeline and the tests use it without Blender.
"""
