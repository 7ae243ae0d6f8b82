# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything that differs between Blender 4.2 LTS and 5.0, in one place.

* Actions: 4.2/4.3 only have the legacy ``action.fcurves``; 4.4 introduced
  slotted, layered actions and 5.0 removed ``action.fcurves``. We branch on
  whether actions have ``slots`` rather than on version numbers.
* EEVEE's engine id is ``BLENDER_EEVEE_NEXT`` in 4.2–4.5, ``BLENDER_EEVEE`` in 5.0.
* ``Material.use_nodes`` is deprecated in 5.0 (node trees always exist there).

Keys are always written in bulk (``keyframe_points.add`` + ``foreach_set``):
``keyframe_insert`` per frame is orders of magnitude slower (see bench/bench_scene.py).
Long takes can be stored as sampled points instead (``FPoint``, 16 B per frame against
~70 B per ``BezTriple`` key): both versions have ``FCurve.convert_to_samples`` /
``convert_to_keyframes``, whose end frame is exclusive.
"""

from __future__ import annotations

import bpy
import numpy as np

LAYERED_ACTIONS = "slots" in bpy.types.Action.bl_rna.properties


def new_action(name: str, owner: bpy.types.ID) -> tuple[bpy.types.Action, object]:
    """A fresh action assigned to ``owner``; returns ``(action, channel container)``.

    The container has ``fcurves`` (and ``groups``): the action itself on 4.2/4.3,
    the slot's channelbag on 4.4+.
    """
    action = bpy.data.actions.new(name)
    anim = owner.animation_data or owner.animation_data_create()
    if not LAYERED_ACTIONS:
        anim.action = action
        return action, action
    slot = action.slots.new(id_type=owner.id_type, name=owner.name)
    layer = action.layers.new("Layer")
    strip = layer.strips.new(type="KEYFRAME")
    channels = strip.channelbag(slot, ensure=True)
    anim.action = action
    # A fresh action may animate nothing until the slot is assigned explicitly.
    anim.action_slot = slot
    return action, channels


def _interpolation_value(name: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[name].value


def _group(channels, name: str):
    group = channels.groups.get(name)
    return group if group is not None else channels.groups.new(name)


def write_fcurve(channels, data_path: str, frames: np.ndarray, values: np.ndarray,
                 index: int = 0, group: str | None = None,
                 interpolation: str = "LINEAR", samples: bool = False) -> bpy.types.FCurve:
    """Create one F-curve and fill it with all its keys in one go.

    ``samples``: store the curve as sampled points (one per frame; ``frames`` must be
    consecutive integers). It is written as keys, then converted at once, so only one
    curve's keys exist at a time. Samples evaluate like the linear keys they replace.
    """
    n = len(frames)
    if samples and n > 1 and not (float(frames[0]).is_integer() and np.array_equal(
            np.asarray(frames, dtype=np.float64), frames[0] + np.arange(n, dtype=np.float64))):
        raise ValueError("sampled F-curves need one value per whole frame")
    fc = channels.fcurves.new(data_path, index=index)
    if group:
        # 4.4/4.5 channelbag.fcurves.new() takes no group name: set it afterwards.
        fc.group = _group(channels, group)
    kp = fc.keyframe_points
    kp.add(n)
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    kp.foreach_set("co", co.ravel())
    kp.foreach_set("interpolation", np.full(n, _interpolation_value(interpolation), dtype=np.int32))
    fc.update()
    if samples and n:
        fc.convert_to_samples(int(frames[0]), int(frames[0]) + n)     # end frame exclusive
    return fc


def is_sampled(fc) -> bool:
    """True when the F-curve holds sampled points rather than keyframes."""
    return len(fc.sampled_points) > 0 and len(fc.keyframe_points) == 0


def samples_to_keyframes(fc) -> bool:
    """Turn a sampled F-curve back into linear keys, one per sample (editable again).

    What the Graph Editor's Channel > Samples to Keys does, without needing the
    curve to be visible there. False when there was nothing to convert.
    """
    pts = fc.sampled_points
    if not is_sampled(fc):
        return False
    first, last = int(round(pts[0].co[0])), int(round(pts[len(pts) - 1].co[0]))
    fc.convert_to_keyframes(first, last + 1)                          # end frame exclusive
    fc.update()
    return True


def find_fcurve(owner: bpy.types.ID, data_path: str, index: int = 0):
    """The F-curve animating ``data_path`` of ``owner`` (either action API), or None."""
    anim = owner.animation_data
    if anim is None or anim.action is None:
        return None
    action = anim.action
    if not LAYERED_ACTIONS:
        return action.fcurves.find(data_path, index=index)
    slot = anim.action_slot
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                fc = bag.fcurves.find(data_path, index=index)
                if fc is not None:
                    return fc
    return None


def eevee_engine_id() -> str:
    items = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def material_node_tree(material: bpy.types.Material) -> bpy.types.NodeTree:
    """The material's node tree, enabling nodes only where Blender still needs it."""
    if bpy.app.version < (5, 0, 0) and not material.use_nodes:
        material.use_nodes = True
    return material.node_tree
