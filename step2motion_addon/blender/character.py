# SPDX-License-Identifier: GPL-3.0-or-later
"""The default character: an armature of the canonical skeleton with a simple procedural body.

Bones carry the canonical joint names (so the "canonical" bone-map preset fits
exactly), the rest pose is a T-pose facing −Y with Z up, and the body is one
mesh of tapered eight-sided prisms, each rigidly weighted to its bone, so it is
visible in renders and deforms without stretching. Nothing is borrowed: the
proportions are rounded anthropometric ratios of body height.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ..core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX as J
from . import meshes

DEFAULT_HEIGHT = 1.75
BODY_COLOUR = (0.42, 0.52, 0.62)       # scene-linear slate blue, distinct from the data colours

# Rest offsets from the parent joint as fractions of body height (T-pose, −Y forward, +X left).
_OFFSETS_RATIO = {
    "Hips": (0, 0, 0),
    "LeftUpLeg": (0.052, 0, -0.030), "LeftLeg": (0, 0, -0.245), "LeftFoot": (0, 0, -0.246),
    "LeftToeBase": (0, -0.075, -0.026),
    "Spine": (0, 0, 0.057), "Spine1": (0, 0, 0.057), "Spine3": (0, 0, 0.069),
    "Neck": (0, 0, 0.114), "Head": (0, 0, 0.057),
    "LeftShoulder": (0.017, 0, 0.091), "LeftArm": (0.086, 0, 0), "LeftForeArm": (0.170, 0, 0),
    "LeftHand": (0.143, 0, 0),
}
# Body radius at each bone's head and tail, fractions of height.
_RADII = {
    "Hips": (0.060, 0.060), "UpLeg": (0.042, 0.030), "Leg": (0.030, 0.022), "Foot": (0.022, 0.018),
    "ToeBase": (0.018, 0.012), "Spine": (0.062, 0.064), "Spine1": (0.064, 0.068), "Spine3": (0.070, 0.040),
    "Neck": (0.022, 0.022), "Head": (0.050, 0.046), "Shoulder": (0.024, 0.026), "Arm": (0.026, 0.021),
    "ForeArm": (0.021, 0.016), "Hand": (0.016, 0.012),
}
# Where the last bone of a chain points (no child joint to aim at), fractions of height.
_LEAF_TAIL = {"ToeBase": (0, -0.035, 0), "Head": (0, 0, 0.085), "Hand": (0.055, 0, 0)}


def _base(name: str) -> str:
    return name.removeprefix("Left").removeprefix("Right")


def default_offsets(height: float = DEFAULT_HEIGHT) -> np.ndarray:
    """(22, 3) canonical rest offsets of a person ``height`` metres tall."""
    out = np.zeros((len(CANONICAL_JOINTS), 3))
    for j, name in enumerate(CANONICAL_JOINTS):
        key = name.replace("Right", "Left")
        v = np.array(_OFFSETS_RATIO[key], dtype=np.float64)
        if name.startswith("Right"):
            v[0] = -v[0]
        out[j] = v * height
    return out


def rest_positions(offsets: np.ndarray) -> np.ndarray:
    """(22, 3) rest joint positions with the lowest joint's sole on the floor (z = 0)."""
    pos = np.zeros((len(CANONICAL_JOINTS), 3))
    for j, p in enumerate(CANONICAL_PARENTS):
        pos[j] = 0.0 if p < 0 else pos[p] + offsets[j]
    return pos


def _tails(pos: np.ndarray, height: float) -> np.ndarray:
    tails = np.empty_like(pos)
    for j, name in enumerate(CANONICAL_JOINTS):
        kids = [c for c, p in enumerate(CANONICAL_PARENTS) if p == j]
        if name == "Hips":
            tails[j] = pos[J["Spine"]]
        elif name == "Spine3":
            tails[j] = pos[J["Neck"]]
        elif kids:
            tails[j] = pos[kids[0]]
        else:
            v = np.array(_LEAF_TAIL[_base(name)]) * height
            if name.startswith("Right"):
                v[0] = -v[0]
            tails[j] = pos[j] + v
    return tails


def _prism(head, tail, r0, r1, sides=8):
    """Vertices (2·sides + 2) and quads/n-gons of a tapered prism from head to tail."""
    axis = tail - head
    length = np.linalg.norm(axis)
    y = axis / max(length, 1e-9)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(y, ref)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False) + np.pi / sides
    ring = np.cos(a)[:, None] * x + np.sin(a)[:, None] * z
    verts = np.concatenate([head + r0 * ring, tail + r1 * ring])
    faces = [[i, (i + 1) % sides, sides + (i + 1) % sides, sides + i] for i in range(sides)]
    faces.append(list(range(sides))[::-1])
    faces.append(list(range(sides, 2 * sides)))
    return verts, faces


def create_character(context, height: float = DEFAULT_HEIGHT, name: str = "S2M Character",
                     offsets: np.ndarray | None = None, with_mesh: bool = True) -> bpy.types.Object:
    """Create the default character in ``context.scene``; returns the armature object.

    ``offsets`` (22, 3) gives the skeleton's proportions (e.g. a motion's own);
    they are scaled so the character is ``height`` metres tall (top of head).
    The armature's origin is on the floor below the hips.
    """
    base = default_offsets(1.0) if offsets is None else np.asarray(offsets, dtype=np.float64)
    # Height: floor (lowest joint minus a sole) to the head joint plus the skull above it.
    pos1 = rest_positions(base)
    unit_height = pos1[J["Head"], 2] - pos1[:, 2].min() + 0.085 + 0.012
    if offsets is None:
        unit_height = 1.0 + 0.0       # the ratios are already fractions of height
    scale = height / unit_height
    offsets_m = base * scale
    pos = rest_positions(offsets_m)
    floor = pos[:, 2].min() - (0.013 * height)    # toe joints sit just above the sole
    pos[:, 2] -= floor
    tails = _tails(pos, height)

    arm_data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, arm_data)
    context.scene.collection.objects.link(arm)
    arm["s2m_role"] = "character"
    arm["s2m_height"] = float(height)
    arm.show_in_front = False
    view_layer = context.view_layer
    prev_active = view_layer.objects.active
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        ebones = arm_data.edit_bones
        for j, jn in enumerate(CANONICAL_JOINTS):
            eb = ebones.new(jn)
            eb.head = Vector(pos[j])
            eb.tail = Vector(tails[j])
            # Local Z towards the character's front/up: a predictable roll for users' tools.
            eb.align_roll(Vector((0.0, -1.0, 0.0)) if abs(tails[j][1] - pos[j][1]) < 1e-6 else Vector((0, 0, 1.0)))
        for j, p in enumerate(CANONICAL_PARENTS):
            if p >= 0:
                eb = ebones[CANONICAL_JOINTS[j]]
                eb.parent = ebones[CANONICAL_JOINTS[p]]
                eb.use_connect = bool(np.allclose(tails[p], pos[j]))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = prev_active if prev_active is not None else arm
    for pb in arm.pose.bones:
        pb.rotation_mode = "QUATERNION"
    if with_mesh:
        _add_body(context, arm, pos, tails, height)
    return arm


def _add_body(context, arm, pos, tails, height):
    verts, faces, groups = [], [], []
    for j, jn in enumerate(CANONICAL_JOINTS):
        r0, r1 = (np.array(_RADII[_base(jn)]) * height)
        head, tail = pos[j], tails[j]
        if jn == "Hips":            # pelvis block spans both hip joints
            head = head - np.array([0, 0, 0.04 * height])
        v, f = _prism(head, tail, r0, r1)
        off = sum(len(x) for x in verts)
        verts.append(v)
        faces += [[i + off for i in face] for face in f]
        groups.append((jn, off, len(v)))
    verts = np.concatenate(verts)
    sizes = np.array([len(f) for f in faces])
    me = meshes.mesh_from_polygons(f"{arm.name} Body", verts, np.concatenate(faces), sizes)
    meshes.set_colour(me, BODY_COLOUR)
    for poly in me.polygons:
        poly.use_smooth = False
    body = bpy.data.objects.new(f"{arm.name} Body", me)
    context.scene.collection.objects.link(body)
    body.parent = arm
    body["s2m_role"] = "character_body"
    for jn, off, n in groups:
        vg = body.vertex_groups.new(name=jn)
        vg.add(list(range(off, off + n)), 1.0, "REPLACE")
    mod = body.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    return body
