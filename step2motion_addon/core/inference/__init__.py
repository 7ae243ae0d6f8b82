# SPDX-License-Identifier: GPL-3.0-or-later
"""Neural reconstruction at run time: pure numpy + onnxruntime (no torch, no bpy).

``ModelSet(dir)`` loads ONNX models + metadata once; ``reconstruct(take, models)``
returns per-frame local joint rotations of the canonical skeleton, root
position and foot contact probabilities.
"""

from .model_set import ModelSet
from .reconstruct import Reconstruction, reconstruct
from .sampler import Cancelled

__all__ = ["ModelSet", "Reconstruction", "reconstruct", "Cancelled"]
