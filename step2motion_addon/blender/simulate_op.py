# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulate Insoles: an animated armature → canonical motion → simulated insole take → insole scene.

The rig is read through the same bone map as baking, in reverse (world joint
positions and rotations → :func:`core.rigmap.motion_from_joint_tracks`); the
physics is ``core.sim.simulate_insoles``; the insoles are then built by
``build_take_scene`` and follow the rig's foot bones.
"""

from __future__ import annotations

import bpy

from ..core.errors import TakeError
from ..core.sim import SimParams, simulate_insoles
from . import insole_scene
from .reconstruct_op import current_bone_map, insoles_follow_feet, target_rig
from .retarget import motion_from_rig


def simulate_from_rig(context, arm, frame_start: int, frame_end: int, body_mass_kg: float = 70.0,
                      seed: int = 0) -> dict:
    """Build the simulated insole scene for ``arm``'s animation; returns build_take_scene's objects."""
    bm = current_bone_map(context, arm)
    bm.check()
    if frame_end - frame_start < 2:
        raise ValueError("the frame range needs at least three frames")
    motion = motion_from_rig(context, arm, bm.mapping, frame_start, frame_end)
    take = simulate_insoles(motion, SimParams(body_mass_kg=body_mass_kg, seed=seed))
    take.meta.name = f"{arm.name} simulated"
    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    keep = (scene.frame_start, scene.frame_end)
    created = insole_scene.build_take_scene(context, take, insole_scene.SceneOptions(fps=fps, frame_start=frame_start))
    scene.frame_start, scene.frame_end = keep
    created["take"] = take
    created["followed"] = insoles_follow_feet(context, created["root"], arm, bm.mapping)
    return created


class STEP2MOTION_OT_simulate_insoles(bpy.types.Operator):
    """Simulate smart-insole recordings from the selected animated armature and show them under its feet"""
    bl_idname = "step2motion.simulate_insoles"
    bl_label = "Simulate Insoles"
    bl_options = {"REGISTER", "UNDO"}

    body_mass: bpy.props.FloatProperty(name="Body Mass", default=70.0, min=20.0, max=250.0,
                                       description="Body mass of the character (kg)")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, description="Sensor noise seed")

    @classmethod
    def poll(cls, context):
        return target_rig(context, create=False) is not None

    def execute(self, context):
        arm = target_rig(context, create=False)
        scene = context.scene
        try:
            created = simulate_from_rig(context, arm, scene.frame_start, scene.frame_end, self.body_mass, self.seed)
        except (ValueError, TakeError) as exc:          # TakeError: a cut in the animation (root jump)
            self.report({"ERROR"}, f"{arm.name}: {exc}")
            return {"CANCELLED"}
        take = created["take"]
        steps = sum(1 for e in take.events if e.kind == "heel_strike")
        self.report({"INFO"}, f"Simulated {take.duration:.1f} s of insole data ({steps} steps) for {arm.name}")
        return {"FINISHED"}


classes = (STEP2MOTION_OT_simulate_insoles,)
