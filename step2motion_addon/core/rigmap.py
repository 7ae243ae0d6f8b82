# SPDX-License-Identifier: GPL-3.0-or-later
"""Bone maps: which bone of a user's rig plays each canonical joint (pure Python, no bpy).

A bone map is a plain ``{canonical joint: bone name}`` dict. Presets list, per
joint, the names a rig family uses (first present name wins); :func:`detect`
scores every preset against a rig's bone names and falls back to a
name-and-hierarchy heuristic when no preset fits. Only the hips and the legs
are required to drive a rig; spine, neck, head, arms and toes may be missing
(those bones then stay in their rest pose).

Rigify: the preset targets the generated rig's **FK controls** (``thigh_fk.L``…,
``torso`` for the hips): its DEF-/ORG- bones are driven by constraints and
would ignore keys, so set the limbs' IK/FK switch to FK (1.0) to see the bake.
DEF- names are still recognised for detection (and mapped to the controls).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from .motion import rotations as rot
from .motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX, Motion

REQUIRED = ("Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot")
MAP_FORMAT = "step2motion-bone-map"


def _sided(pattern: dict) -> dict:
    """Expand ``{joint with '#'}`` templates for both sides: '#' → Left/Right, '@'/'%' → side tokens."""
    out = {}
    for joint, names in pattern.items():
        if "#" not in joint:
            out[joint] = list(names)
            continue
        for side, l_up, l_low, lr in (("Left", "L", "l", "L"), ("Right", "R", "r", "R")):
            out[joint.replace("#", side)] = [n.replace("#", side).replace("@", l_up).replace("%", l_low)
                                             .replace("&", lr.lower()) for n in names]
    return out


PRESETS: dict = {
    # The default character and any rig using the canonical names (also Blender's
    # BVH import of Mixamo/CMU-style "Hips/LeftUpLeg" files).
    "canonical": _sided({
        "Hips": ["Hips"], "Spine": ["Spine"], "Spine1": ["Spine1"], "Spine3": ["Spine3", "Spine2"],
        "Neck": ["Neck"], "Head": ["Head"],
        "#UpLeg": ["#UpLeg"], "#Leg": ["#Leg"], "#Foot": ["#Foot"], "#ToeBase": ["#ToeBase"],
        "#Shoulder": ["#Shoulder"], "#Arm": ["#Arm"], "#ForeArm": ["#ForeArm"], "#Hand": ["#Hand"],
    }),
    "mixamo": _sided({
        "Hips": ["mixamorig:Hips"], "Spine": ["mixamorig:Spine"], "Spine1": ["mixamorig:Spine1"],
        "Spine3": ["mixamorig:Spine2"], "Neck": ["mixamorig:Neck"], "Head": ["mixamorig:Head"],
        "#UpLeg": ["mixamorig:#UpLeg"], "#Leg": ["mixamorig:#Leg"], "#Foot": ["mixamorig:#Foot"],
        "#ToeBase": ["mixamorig:#ToeBase"], "#Shoulder": ["mixamorig:#Shoulder"], "#Arm": ["mixamorig:#Arm"],
        "#ForeArm": ["mixamorig:#ForeArm"], "#Hand": ["mixamorig:#Hand"],
    }),
    # Rigify generated rig: FK controls (see the module docstring); DEF names help detection only.
    "rigify": _sided({
        "Hips": ["torso"], "Spine": ["spine_fk.001"], "Spine1": ["spine_fk.002"], "Spine3": ["spine_fk.003", "chest"],
        "Neck": ["neck"], "Head": ["head"],
        "#UpLeg": ["thigh_fk.@"], "#Leg": ["shin_fk.@"], "#Foot": ["foot_fk.@"], "#ToeBase": ["toe_fk.@", "toe.@"],
        "#Shoulder": ["shoulder.@"], "#Arm": ["upper_arm_fk.@"], "#ForeArm": ["forearm_fk.@"], "#Hand": ["hand_fk.@"],
    }),
    # Rigify metarig / plain Blender "thigh.L" naming (also DEF- bones of a rig without controls).
    "rigify_metarig": _sided({
        "Hips": ["spine", "DEF-spine"], "Spine": ["spine.001", "DEF-spine.001"],
        "Spine1": ["spine.002", "DEF-spine.002"], "Spine3": ["spine.003", "DEF-spine.003"],
        "Neck": ["spine.004", "DEF-spine.004"], "Head": ["spine.006", "DEF-spine.006"],
        "#UpLeg": ["thigh.@", "DEF-thigh.@"], "#Leg": ["shin.@", "DEF-shin.@"], "#Foot": ["foot.@", "DEF-foot.@"],
        "#ToeBase": ["toe.@", "DEF-toe.@"], "#Shoulder": ["shoulder.@", "DEF-shoulder.@"],
        "#Arm": ["upper_arm.@", "DEF-upper_arm.@"], "#ForeArm": ["forearm.@", "DEF-forearm.@"],
        "#Hand": ["hand.@", "DEF-hand.@"],
    }),
    # Auto-Rig Pro: deform bones (".x" centre, ".l/.r" sides); its game-engine export
    # renames the stretch bones to thigh/leg/arm/forearm.
    "auto_rig_pro": _sided({
        "Hips": ["root.x"], "Spine": ["spine_01.x"], "Spine1": ["spine_02.x"], "Spine3": ["spine_03.x", "spine_02.x"],
        "Neck": ["neck.x"], "Head": ["head.x"],
        "#UpLeg": ["thigh_stretch.%", "thigh.%"], "#Leg": ["leg_stretch.%", "leg.%"], "#Foot": ["foot.%"],
        "#ToeBase": ["toes_01.%"], "#Shoulder": ["shoulder.%"], "#Arm": ["arm_stretch.%", "arm.%"],
        "#ForeArm": ["forearm_stretch.%", "forearm.%"], "#Hand": ["hand.%"],
    }),
    # CMU files as converted with cgspeed-style names, imported with Blender's BVH importer.
    "cmu_bvh": _sided({
        "Hips": ["Hips"], "Spine": ["LowerBack"], "Spine1": ["Spine"], "Spine3": ["Spine1"],
        "Neck": ["Neck", "Neck1"], "Head": ["Head"],
        "#UpLeg": ["#UpLeg"], "#Leg": ["#Leg"], "#Foot": ["#Foot"], "#ToeBase": ["#ToeBase"],
        "#Shoulder": ["#Shoulder"], "#Arm": ["#Arm"], "#ForeArm": ["#ForeArm"], "#Hand": ["#Hand"],
    }),
    # CMU's original ASF/AMC joint names (lfemur, ltibia…), as some BVH conversions keep them.
    "cmu_asf": _sided({
        "Hips": ["hip", "root", "Hips"], "Spine": ["lowerback"], "Spine1": ["upperback"], "Spine3": ["thorax"],
        "Neck": ["lowerneck", "upperneck"], "Head": ["head"],
        "#UpLeg": ["&femur"], "#Leg": ["&tibia"], "#Foot": ["&foot"], "#ToeBase": ["&toes"],
        "#Shoulder": ["&clavicle"], "#Arm": ["&humerus"], "#ForeArm": ["&radius"], "#Hand": ["&wrist", "&hand"],
    }),
    # iClone / Character Creator ("CC_Base_"), the naming of the project's CMU clips.
    "character_creator": _sided({
        "Hips": ["CC_Base_Hip"], "Spine": ["CC_Base_Waist"], "Spine1": ["CC_Base_Spine01"],
        "Spine3": ["CC_Base_Spine02"], "Neck": ["CC_Base_NeckTwist01"], "Head": ["CC_Base_Head"],
        "#UpLeg": ["CC_Base_@_Thigh"], "#Leg": ["CC_Base_@_Calf"], "#Foot": ["CC_Base_@_Foot"],
        "#ToeBase": ["CC_Base_@_ToeBase"], "#Shoulder": ["CC_Base_@_Clavicle"], "#Arm": ["CC_Base_@_Upperarm"],
        "#ForeArm": ["CC_Base_@_Forearm"], "#Hand": ["CC_Base_@_Hand"],
    }),
}
PRESET_LABELS = {
    "canonical": "Step2Motion / canonical names", "mixamo": "Mixamo", "rigify": "Rigify (FK controls)",
    "rigify_metarig": "Rigify metarig / DEF bones", "auto_rig_pro": "Auto-Rig Pro",
    "cmu_bvh": "CMU BVH (Blender import)", "cmu_asf": "CMU ASF names (lfemur…)",
    "character_creator": "Character Creator / iClone",
}


@dataclass
class BoneMap:
    mapping: dict                       # canonical joint → bone name
    source: str = "manual"              # preset name, "heuristic" or "manual"
    score: float = 0.0                  # fraction of canonical joints found
    notes: list = field(default_factory=list)

    def missing_required(self) -> list:
        return [j for j in REQUIRED if not self.mapping.get(j)]

    def unmapped(self) -> list:
        return [j for j in CANONICAL_JOINTS if not self.mapping.get(j)]

    def check(self) -> None:
        """Raise ValueError naming the required joints that have no bone."""
        missing = self.missing_required()
        if missing:
            raise ValueError("bone map lacks required bones for: " + ", ".join(missing)
                             + " (map them in the bone list; spine, arms, head and toes are optional)")


def apply_preset(preset: str, bone_names) -> dict:
    """The preset's mapping restricted to bones the rig has (first listed name that exists)."""
    names = set(bone_names)
    out = {}
    for joint, candidates in PRESETS[preset].items():
        for c in candidates:
            if c in names:
                out[joint] = c
                break
    return out


def _hierarchy_ok(mapping: dict, parents: dict) -> bool:
    """Every mapped joint descends from its nearest mapped canonical ancestor's bone."""
    for joint, bone in mapping.items():
        p = CANONICAL_PARENTS[JOINT_INDEX[joint]]
        while p >= 0 and CANONICAL_JOINTS[p] not in mapping:
            p = CANONICAL_PARENTS[p]
        if p < 0:
            continue
        target = mapping[CANONICAL_JOINTS[p]]
        b = parents.get(bone)
        seen = 0
        while b is not None and b != target and seen < 1000:
            b = parents.get(b)
            seen += 1
        if b != target:
            return False
    return True


def score_preset(preset: str, bones: list) -> tuple[float, dict]:
    """(score, mapping) of one preset on ``bones = [(name, parent name or None), …]``.

    Score: fraction of the 22 joints found, halved when the found bones do not
    nest like the canonical skeleton (names match but the rig is something else).
    """
    names = [b for b, _ in bones]
    mapping = apply_preset(preset, names)
    score = len(mapping) / len(CANONICAL_JOINTS)
    if mapping and not _hierarchy_ok(mapping, dict(bones)):
        score *= 0.5
    return score, mapping


def heuristic_map(bones: list) -> dict:
    """Name-synonym and hierarchy matching for rigs no preset knows (may be partial)."""
    import os

    from .motion.retarget import _SYNONYMS, _split_side, map_joints
    names = [b for b, _ in bones]
    index = {n: i for i, n in enumerate(names)}
    parents = np.array([index.get(p, -1) if p is not None else -1 for _, p in bones])
    # A prefix every bone shares ("bn_", "Bip01 ", "rig:") hides the side token: drop it.
    prefix = os.path.commonprefix(names) if len(names) > 3 else ""
    bare = [n[len(prefix):] or n for n in names]
    try:
        found = map_joints(bare, parents)
        return {j: names[i] for j, i in found.items()}
    except KeyError:
        pass
    # Partial: synonyms only, each bone used once, first bone in hierarchy order wins.
    info = [_split_side(n) for n in bare]
    out = {}
    for key, words in _SYNONYMS.items():
        sides = (None,) if key in ("Hips", "Neck", "Head") else ("Left", "Right")
        for side in sides:
            joint = key if side is None else side + key
            for word in words:
                hits = [i for i, (s, b) in enumerate(info) if b == word and s == side
                        and names[i] not in out.values()]
                if hits:
                    out[joint] = names[hits[0]]
                    break
    return out


def detect(bones: list) -> BoneMap:
    """Best bone map for a rig given ``[(bone name, parent name or None), …]`` in any order."""
    best = BoneMap({}, "none", 0.0)
    for preset in PRESETS:
        score, mapping = score_preset(preset, bones)
        if score > best.score:
            best = BoneMap(mapping, preset, score)
    if best.score < 0.999:
        guess = heuristic_map(bones)
        # Keep the preset's hits, fill the rest from the heuristic where it nests correctly.
        merged = dict(guess)
        merged.update(best.mapping)
        if not _hierarchy_ok(merged, dict(bones)):
            merged = best.mapping if len(best.mapping) >= len(guess) else guess
        if len(merged) > len(best.mapping):
            src = "heuristic" if not best.mapping else f"{best.source}+heuristic"
            best = BoneMap(merged, src, len(merged) / len(CANONICAL_JOINTS))
    best.notes = [f"unmapped (stay at rest): {', '.join(best.unmapped())}"] if best.unmapped() else []
    return best


# -- save / load ------------------------------------------------------------------
def to_json(bone_map: BoneMap, rig_name: str = "") -> str:
    return json.dumps({"format": MAP_FORMAT, "version": 1, "rig": rig_name, "source": bone_map.source,
                       "bones": {j: bone_map.mapping.get(j, "") for j in CANONICAL_JOINTS}}, indent=1)


def from_json(text: str, path: str = "") -> BoneMap:
    """Parse a saved bone map; ValueError with a one-line reason on anything else."""
    where = f"{path}: " if path else ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or data.get("format") != MAP_FORMAT or not isinstance(data.get("bones"), dict):
        raise ValueError(f"{where}not a Step2Motion bone map (expected format {MAP_FORMAT!r} with 'bones')")
    unknown = [k for k in data["bones"] if k not in JOINT_INDEX]
    if unknown:
        raise ValueError(f"{where}unknown joints {', '.join(map(str, unknown))}")
    mapping = {j: str(b) for j, b in data["bones"].items() if isinstance(b, str) and b}
    return BoneMap(mapping, "file", len(mapping) / len(CANONICAL_JOINTS))


# -- rig → canonical motion (the inverse of retargeting) ----------------------------
def motion_from_joint_tracks(positions: dict, rotations: dict, fps: float, meta: dict | None = None) -> Motion:
    """Canonical :class:`Motion` from world tracks of the mapped joints.

    ``positions[joint]`` (T, 3) metres Z up and ``rotations[joint]`` (T, 4) world
    rotations (any constant bone-frame offset: only changes since a reference
    frame are used, for the twist). The rig must face −Y at rest. Missing spine
    joints are placed between their neighbours; a missing arm/head/toe chain is
    synthesised as a short rigid stub so the skeleton stays complete.
    """
    from .motion.retarget import solve_rotations
    missing = [j for j in REQUIRED if j not in positions]
    if missing:
        raise ValueError("cannot read the rig's motion without " + ", ".join(missing))
    t_count = len(positions["Hips"])
    J = JOINT_INDEX
    tgt = np.full((t_count, len(CANONICAL_JOINTS), 3), np.nan)
    srot = np.zeros((t_count, len(CANONICAL_JOINTS), 4))
    srot[..., 0] = 1.0
    for j, p in positions.items():
        tgt[:, J[j]] = p
        srot[:, J[j]] = rotations.get(j, np.broadcast_to(rot.IDENTITY, (t_count, 4)))
    hips = tgt[:, J["Hips"]]
    up = np.array([0.0, 0.0, 1.0])
    scale = float(np.nanmedian(np.linalg.norm(tgt[:, J["LeftUpLeg"]] - tgt[:, J["LeftLeg"]], axis=-1)))
    hq = srot[:, J["Hips"]]

    def fill(joint, value, like=None):
        if np.isnan(tgt[:, J[joint]]).any():
            tgt[:, J[joint]] = value
            srot[:, J[joint]] = srot[:, J[like or CANONICAL_JOINTS[CANONICAL_PARENTS[J[joint]]]]]

    # Stubs in the hips frame at rest, scaled by the thigh length, for chains the rig lacks.
    def stub(offset):
        rel = rot.mul(hq, rot.conj(hq[:1]))
        return hips + rot.rotate(rel, np.asarray(offset) * scale)

    fill("Spine3", tgt[:, J["Neck"]] - 0.15 * scale * up if "Neck" in positions else stub([0, 0, 0.9]))
    fill("Neck", stub([0, 0, 1.3]) if "Neck" not in positions else tgt[:, J["Neck"]])
    fill("Head", tgt[:, J["Neck"]] + (tgt[:, J["Neck"]] - tgt[:, J["Spine3"]]) * 0.5)
    fill("Spine", hips + (tgt[:, J["Spine3"]] - hips) / 3)
    fill("Spine1", 0.5 * (tgt[:, J["Spine"]] + tgt[:, J["Spine3"]]))
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        fill(f"{side}Shoulder", tgt[:, J["Spine3"]] + stub([0.1 * sign, 0, 0]) - hips)
        fill(f"{side}Arm", tgt[:, J[f"{side}Shoulder"]] + stub([0.2 * sign, 0, 0]) - hips)
        fill(f"{side}ForeArm", tgt[:, J[f"{side}Arm"]] + stub([0.4 * sign, 0, 0]) - hips)
        fill(f"{side}Hand", tgt[:, J[f"{side}ForeArm"]] + stub([0.4 * sign, 0, 0]) - hips)
        foot = tgt[:, J[f"{side}Foot"]]
        fill(f"{side}ToeBase", foot + stub([0, -0.3, -0.1]) - hips)
    rotations_local, offsets = solve_rotations(tgt, srot)
    info = dict(meta or {})
    info["mapped_joints"] = [j for j in CANONICAL_JOINTS if j in positions]
    return Motion(fps, offsets, rotations_local, hips.copy(), info)
