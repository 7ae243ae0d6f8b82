# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical motion → pose-bone channels of any rig, and a rig's animation → canonical motion.

Rest poses differ between rigs (T-pose, A-pose, bone rolls, a rig facing
another way), so raw local quaternions cannot be copied. Each mapped bone gets
a constant world-space *rest alignment* ``C`` taking its rest direction onto
the canonical rest direction of the same joint (the hips: the whole frame);
at frame t the bone's world rotation is ``g(t) · C · R_rest`` where ``g(t)`` is
the canonical joint's world rotation since its rest. Local channels then
follow from the rig's own hierarchy: unmapped bones stay at rest, bones only
rotate (the hips also translate), so nothing ever stretches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core import rigmap
from ..core.motion import rotations as rot
from ..core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX as J, Motion
from ..core.postprocess import as_motion

_Y = np.array([0.0, 1.0, 0.0])
_FEET = ("LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase")


def rig_bones(arm) -> list:
    """[(bone name, parent name or None)] of an armature object, parents first."""
    return [(b.name, b.parent.name if b.parent else None) for b in _ordered(arm.data.bones)]


def _ordered(bones):
    out, seen = [], set()

    def visit(b):
        if b.name in seen:
            return
        if b.parent is not None:
            visit(b.parent)
        seen.add(b.name)
        out.append(b)
    for b in bones:
        visit(b)
    return out


def detect_bone_map(arm) -> rigmap.BoneMap:
    return rigmap.detect(rig_bones(arm))


def _mat(m) -> np.ndarray:
    return np.array([list(r) for r in m], dtype=np.float64)


@dataclass
class RigRest:
    """The rest-pose facts of an armature object that retargeting needs (numpy, armature space)."""
    names: list
    parents: list                  # index or -1
    rest: np.ndarray               # (B, 4, 4) bone.matrix_local
    world: np.ndarray              # (4, 4) object matrix_world
    connected: list                # use_connect per bone

    @classmethod
    def of(cls, arm) -> "RigRest":
        bones = _ordered(arm.data.bones)
        names = [b.name for b in bones]
        index = {n: i for i, n in enumerate(names)}
        parents = [index[b.parent.name] if b.parent else -1 for b in bones]
        rest = np.stack([_mat(b.matrix_local) for b in bones]) if bones else np.zeros((0, 4, 4))
        return cls(names, parents, rest, _mat(arm.matrix_world), [bool(b.use_connect) for b in bones])

    @property
    def world_rot(self) -> np.ndarray:
        m = self.world[:3, :3]
        return m / np.cbrt(abs(np.linalg.det(m)))

    def head_world(self, i: int) -> np.ndarray:
        return self.world[:3, :3] @ self.rest[i, :3, 3] + self.world[:3, 3]


@dataclass
class RetargetResult:
    rotations: dict                 # bone name → (T, 4) float32 pose-bone quaternions (w, x, y, z), continuous
    location: np.ndarray            # (T, 3) location channel of the hips bone
    hips_bone: str
    scale: float                    # rig size / motion size
    notes: list = field(default_factory=list)


def _canonical_rest(offsets: np.ndarray) -> np.ndarray:
    pos = np.zeros((len(CANONICAL_JOINTS), 3))
    for j, p in enumerate(CANONICAL_PARENTS):
        pos[j] = 0.0 if p < 0 else pos[p] + offsets[j]
    return pos


def _chain_child(joint: str, mapping: dict):
    """Nearest mapped descendant along the joint's main chain (None for chain ends)."""
    main = {"Hips": "Spine", "Spine3": "Neck"}
    j = J[joint]
    while True:
        kids = [c for c, p in enumerate(CANONICAL_PARENTS) if p == j]
        if not kids:
            return None
        name = main.get(CANONICAL_JOINTS[j], CANONICAL_JOINTS[kids[0]])
        if name in mapping:
            return name
        j = J[name]


def hip_height_ratio(rig: RigRest, mapping: dict, offsets: np.ndarray) -> float:
    """Rig hip height over motion hip height, both measured above the lowest foot joint at rest."""
    idx = {n: i for i, n in enumerate(rig.names)}
    feet = [j for j in _FEET if j in mapping]
    rig_low = min(rig.head_world(idx[mapping[j]])[2] for j in feet)
    rig_h = rig.head_world(idx[mapping["Hips"]])[2] - rig_low
    pos = _canonical_rest(offsets)
    mot_h = pos[J["Hips"], 2] - min(pos[J[j], 2] for j in feet)
    if rig_h <= 1e-6 or mot_h <= 1e-6:
        raise ValueError("cannot measure hip height: the rig's or the motion's hips are not above its feet")
    return float(rig_h / mot_h)


def rest_alignment(rig: RigRest, mapping: dict, offsets: np.ndarray) -> dict:
    """joint → world rotation taking the rig bone's rest direction onto the canonical one."""
    idx = {n: i for i, n in enumerate(rig.names)}
    pos_c = _canonical_rest(offsets)
    ro = rig.world_rot
    out = {}

    def head(j):
        return rig.head_world(idx[mapping[j]])

    for j in CANONICAL_JOINTS:
        if j not in mapping:
            continue
        if j == "Hips":
            side_t = head("LeftUpLeg") - head("RightUpLeg")
            side_c = pos_c[J["LeftUpLeg"]] - pos_c[J["RightUpLeg"]]
            up_c = pos_c[J["Spine"]] - pos_c[J["Hips"]]
            up_t = (head(_chain_child("Hips", mapping)) - head("Hips")) if _chain_child("Hips", mapping) else up_c
            f_t = rot.frame_from_axes(side_t, up_t)
            f_c = rot.frame_from_axes(side_c, up_c)
            out[j] = rot.mul(f_c, rot.conj(f_t))
            continue
        child = _chain_child(j, mapping)
        d_t = None
        if child is not None:
            d_t = head(child) - head(j)
            d_c = pos_c[J[child]] - pos_c[J[j]]
        if d_t is None or np.linalg.norm(d_t) < 1e-6 or np.linalg.norm(d_c) < 1e-9:
            # Chain end: keep the parent's alignment (a hand follows its forearm).
            p = CANONICAL_PARENTS[J[j]]
            while p >= 0 and CANONICAL_JOINTS[p] not in out:
                p = CANONICAL_PARENTS[p]
            out[j] = out[CANONICAL_JOINTS[p]] if p >= 0 else rot.IDENTITY.copy()
            continue
        out[j] = rot.between(d_t, d_c)
    del ro
    return out


def retarget(motion, arm_or_rest, mapping: dict, in_place: bool = False, scale: float | None = None,
             start_xy: np.ndarray | None = None, chunk: int = 8192) -> RetargetResult:
    """Pose-bone channels reproducing ``motion`` on the rig.

    ``start_xy``: world position of the hips at the first frame (default: the
    rig's rest hips). The floor is the armature object's world z. ``chunk``:
    frames converted at a time (bounds the temporaries; same result for any value).
    """
    m = as_motion(motion)
    rig = arm_or_rest if isinstance(arm_or_rest, RigRest) else RigRest.of(arm_or_rest)
    bm = rigmap.BoneMap(dict(mapping))
    bm.check()
    idx = {n: i for i, n in enumerate(rig.names)}
    absent = sorted(f"{j} → {b}" for j, b in mapping.items() if b not in idx)
    if absent:
        raise ValueError("bone map names bones the rig does not have: " + ", ".join(absent))
    mapping = {j: b for j, b in mapping.items() if j in J}
    notes = []
    s = hip_height_ratio(rig, mapping, m.offsets) if scale is None else float(scale)
    align = rest_alignment(rig, mapping, m.offsets)
    t_count = m.frames
    ro = rig.world_rot
    ro_q = rot.from_matrix(ro)
    rest_q = rot.from_matrix(rig.rest[:, :3, :3] / np.linalg.norm(rig.rest[:, :3, :3], axis=1, keepdims=True))
    bone_joint = {b: j for j, b in mapping.items()}
    # Per bone, what does not change over time: (parent, joint or None, constant rotations).
    plan = []
    for i, name in enumerate(rig.names):
        p = rig.parents[i]
        joint = bone_joint.get(name)
        if joint is None:
            plan.append((p, None, rest_q[i] if p < 0 else rot.mul(rot.conj(rest_q[p]), rest_q[i]), None))
        else:
            world_rest = rot.mul(ro_q, rest_q[i])
            local_rest = rot.conj(rest_q[i]) if p < 0 else rot.mul(rot.conj(rest_q[i]), rest_q[p])
            plan.append((p, joint, rot.mul(align[joint], world_rest), local_rest))
    # float32 like Blender's keys: half the memory, the same keys once written.
    rotations = {name: np.empty((t_count, 4), dtype=np.float32) for name in rig.names if name in bone_joint}
    # Time chunks: the armature-space rotations of every rig bone over an hour would take
    # (bones × 3.5 MB) for each temporary; per chunk they stay small. Only sign continuity
    # crosses chunk borders, carried from the previous chunk's last frame.
    chunk = max(int(chunk), 1)
    for a in range(0, t_count, chunk):
        b = min(a + chunk, t_count)
        g = Motion(m.fps, m.offsets, m.rotations[a:b], m.root_pos[a:b]).global_rotations()
        pose = np.empty((len(rig.names), b - a, 4))       # armature-space pose rotation, parents first
        for i, name in enumerate(rig.names):
            p, joint, const, local_rest = plan[i]
            if joint is None:
                pose[i] = np.broadcast_to(const, (b - a, 4)) if p < 0 else rot.mul(pose[p], const[None])
                continue
            w = rot.mul(g[:, J[joint]], const[None])
            pose[i] = rot.mul(rot.conj(ro_q)[None], w)
            if p < 0:
                basis = rot.mul(local_rest[None], pose[i])
            else:
                basis = rot.mul(local_rest[None], rot.mul(rot.conj(pose[p]), pose[i]))
            q = rot.make_continuous(rot.normalize(basis), axis=0)
            out = rotations[name]
            if a > 0 and np.dot(q[0], out[a - 1]) < 0:
                q = -q
            out[a:b] = q
        del g, pose
    # Hips translation: scaled root path in the world, back to the bone's rest space.
    hips_i = idx[mapping["Hips"]]
    root = m.root_pos * s
    if in_place:
        root[:, :2] = root[:1, :2]
    start = rig.head_world(hips_i)[:2] if start_xy is None else np.asarray(start_xy, dtype=np.float64)
    world = np.empty((t_count, 3))
    world[:, :2] = root[:, :2] - root[:1, :2] + start
    world[:, 2] = root[:, 2] + rig.world[2, 3]
    inv = np.linalg.inv(rig.world)
    arm_pos = world @ inv[:3, :3].T + inv[:3, 3]
    p = rig.parents[hips_i]
    anc = p
    while anc >= 0:
        if rig.names[anc] in bone_joint:
            notes.append(f"the hips bone's ancestor {rig.names[anc]} is mapped; hips placement may be off")
        anc = rig.parents[anc]
    if rig.connected[hips_i]:
        notes.append(f"{rig.names[hips_i]} is connected to its parent: root motion cannot be keyed on it")
    r = rig.rest[hips_i, :3, :3]
    r = r / np.linalg.norm(r, axis=0, keepdims=True)
    location = (arm_pos - rig.rest[hips_i, :3, 3]) @ r        # r^T (x − head), row-wise
    return RetargetResult(rotations, location, rig.names[hips_i], s, notes)


# -- rig animation → canonical motion (for the insole simulator) ------------------------------
def motion_from_rig(context, arm, mapping: dict, frame_start: int, frame_end: int) -> Motion:
    """Sample the armature's evaluated pose over the frame range → canonical :class:`Motion`."""
    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    frames = list(range(int(frame_start), int(frame_end) + 1))
    joints = [j for j in CANONICAL_JOINTS if j in mapping and mapping[j] in arm.pose.bones]
    pos = {j: np.empty((len(frames), 3)) for j in joints}
    quat = {j: np.empty((len(frames), 4)) for j in joints}
    current = scene.frame_current
    try:
        for k, f in enumerate(frames):
            scene.frame_set(f)
            mw = _mat(arm.matrix_world)
            for j in joints:
                m = mw @ _mat(arm.pose.bones[mapping[j]].matrix)
                pos[j][k] = m[:3, 3]
                r = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)
                quat[j][k] = rot.from_matrix(r)
    finally:
        scene.frame_set(current)
    for j in joints:
        quat[j] = rot.make_continuous(quat[j], axis=0)
    return rigmap.motion_from_joint_tracks(pos, quat, fps, {"source": f"armature {arm.name}"})
