# SPDX-License-Identifier: GPL-3.0-or-later
"""Source rigs → the canonical 22-joint skeleton, keeping each clip's bone lengths.

The source skeleton is evaluated (FK), converted to the canonical world (Z up,
metres) and every canonical joint is mapped to a source joint by name (Bandai,
CMU/iClone ``CC_Base_*``, Mixamo, Blender/Rigify and similar spellings). Joint
rotations are then re-solved from the mapped positions: each bone's swing is
exact (the canonical FK lands on the source joint), its twist follows the
source joint's own rotation, and the two branching joints (Hips, Spine3) take
the best rigid fit of their children. A canonical joint the source lacks (a
third spine joint, say) is placed half-way along its neighbours.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import FormatError
from . import rotations as rot
from .bvh import BvhClip
from .skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS, JOINT_INDEX, Motion

# Name synonyms after normalisation (lower case, no separators, side removed).
_SYNONYMS = {
    "Hips": ("hips", "hip", "pelvis", "root"),
    "UpLeg": ("upleg", "upperleg", "thigh", "femur", "legupper", "uplegroll"),
    "Leg": ("leg", "lowerleg", "calf", "shin", "knee", "tibia", "leglower"),
    "Foot": ("foot", "ankle"),
    "ToeBase": ("toebase", "toes", "toe", "ball", "toe0"),
    "Shoulder": ("shoulder", "clavicle", "collar", "collarbone"),
    "Arm": ("arm", "upperarm", "armupper"),
    "ForeArm": ("forearm", "lowerarm", "elbow", "armlower"),
    "Hand": ("hand", "wrist"),
    "Neck": ("neck", "necktwist01", "neck1", "neck01"),
    "Head": ("head",),
}
_SPINE_WORDS = ("spine", "chest", "waist", "torso", "abdomen", "upperchest", "back")
_PREFIXES = ("mixamorig:", "mixamorig1:", "mixamorig", "cc_base_", "bip01_", "bip01 ", "def-", "orgs-")
_SIDE_WORD = {"l": "Left", "left": "Left", "r": "Right", "right": "Right"}


def _strip_prefix(name: str) -> str:
    low = name.lower()
    for p in _PREFIXES:
        if low.startswith(p):
            return name[len(p):]
    return name


def _split_side(name: str) -> tuple[str | None, str]:
    """(side 'Left'|'Right'|None, normalised base name) of a joint name."""
    n = _strip_prefix(name)
    side = None
    m = (re.match(r"^(left|right)", n, re.I) or re.match(r"^([LRlr])[_.\s-]", n)
         or re.search(r"[_.\s-](left|right|[LRlr])$", n, re.I))
    if m:
        side = _SIDE_WORD[m.group(1).lower()]
        n = n[:m.start(1)] + n[m.end(1):]
    return side, re.sub(r"[^a-z0-9]", "", n.lower())


def map_joints(names: list, parents: np.ndarray) -> dict:
    """canonical joint name → source joint index (Spine1 may be missing)."""
    info = [_split_side(n) for n in names]
    found: dict = {}
    for key, words in _SYNONYMS.items():
        for side in ((None,) if key in ("Hips", "Neck", "Head") else ("Left", "Right")):
            canon = key if side is None else side + key
            for word in words:        # earlier synonyms win, first joint in file order wins
                hits = [i for i, (s, b) in enumerate(info) if b == word and (s == side or (side is None and s is None))]
                if hits:
                    found[canon] = hits[0]
                    break
    missing = [n for n in CANONICAL_JOINTS if n not in found and n not in ("Spine", "Spine1", "Spine3")]
    if missing:
        raise KeyError(", ".join(missing))

    def ancestors(i):
        out = []
        while i >= 0:
            out.append(i)
            i = int(parents[i])
        return out

    # Hips: the lowest common ancestor of both thighs and the neck.
    anc = [ancestors(found[n]) for n in ("LeftUpLeg", "RightUpLeg", "Neck")]
    common = [i for i in anc[0] if i in anc[1] and i in anc[2]]
    if not common:
        raise KeyError("Hips (no common ancestor of legs and neck)")
    hips = common[0]
    if found.get("Hips") not in common:
        found["Hips"] = hips
    hips = found["Hips"]
    # Spine chain: joints strictly between Hips and Neck that branch to the arms or carry a spine name.
    chain = [i for i in reversed(ancestors(found["Neck"])) if i != hips and i not in ancestors(hips) and i != found["Neck"]]
    spine_like = [i for i in chain if any(w in info[i][1] for w in _SPINE_WORDS)] or chain
    sh = set(ancestors(found["LeftShoulder"])) & set(ancestors(found["RightShoulder"]))
    top = [i for i in chain if i in sh]
    spine3 = top[-1] if top else (spine_like[-1] if spine_like else None)
    if spine3 is None:
        raise KeyError("Spine (no joint between Hips and Neck)")
    below = [i for i in spine_like if chain.index(i) < chain.index(spine3)]
    found["Spine3"] = spine3
    if below:
        found["Spine"] = below[0]
        if len(below) >= 2:
            found["Spine1"] = below[len(below) // 2] if len(below) > 2 else below[1]
    return found


def _detect_units_and_up(pos: np.ndarray, idx: dict) -> tuple[float, np.ndarray]:
    """Metres per file unit and the world rotation matrix (file axes → Z-up)."""
    head = pos[:, idx["Head"]]
    feet = 0.5 * (pos[:, idx["LeftFoot"]] + pos[:, idx["RightFoot"]])
    up_vec = np.median(head - feet, axis=0)
    axis = int(np.argmax(np.abs(up_vec)))
    sign = np.sign(up_vec[axis])
    height = abs(up_vec[axis])          # ankle to head top-ish, ≈ 1.4 m on adults
    if height > 30:
        scale = 0.01 if height < 400 else 0.001      # centimetres or millimetres
    elif height > 8:
        scale = 0.0254                                # inches
    else:
        scale = 1.0
    z = np.zeros(3)
    z[axis] = sign
    x = np.zeros(3)
    x[(axis + 1) % 3] = 1.0
    y = np.cross(z, x)
    return scale, np.stack([x, y, z])        # rows: new axes in file coordinates


def motion_from_bvh(clip: BvhClip, meta: dict | None = None) -> Motion:
    """Retarget a BVH clip to the canonical skeleton (Z up, metres, per-clip bone lengths)."""
    try:
        src = map_joints(clip.names, clip.parents)
    except KeyError as exc:
        raise FormatError(f"skeleton lacks joints {exc.args[0]}", clip.path, None,
                          "a humanoid with hips, spine, neck, head, arms, legs, feet and toes") from None
    needed = clip.needed(src.values())
    local = clip.local_transforms(needed)
    gpos, grot = clip.fk(needed, local)
    scale, m = _detect_units_and_up(gpos, src)
    qm = rot.from_matrix(m)
    t_count = clip.frames
    # Target positions of the canonical joints in the canonical world.
    tgt = np.empty((t_count, len(CANONICAL_JOINTS), 3))
    srot = np.empty((t_count, len(CANONICAL_JOINTS), 4))
    for name, j in JOINT_INDEX.items():
        if name in src:
            tgt[:, j] = gpos[:, src[name]] @ m.T * scale
            srot[:, j] = rot.mul(qm[None], grot[:, src[name]])
    if "Spine" not in src:                      # only Spine3 present: split Hips→Spine3 in thirds
        h, s3 = tgt[:, JOINT_INDEX["Hips"]], tgt[:, JOINT_INDEX["Spine3"]]
        tgt[:, JOINT_INDEX["Spine"]] = h + (s3 - h) / 3
        srot[:, JOINT_INDEX["Spine"]] = srot[:, JOINT_INDEX["Hips"]]
    if "Spine1" not in src:
        s, s3 = tgt[:, JOINT_INDEX["Spine"]], tgt[:, JOINT_INDEX["Spine3"]]
        tgt[:, JOINT_INDEX["Spine1"]] = 0.5 * (s + s3)
        srot[:, JOINT_INDEX["Spine1"]] = srot[:, JOINT_INDEX["Spine"]]
    mapped = [n for n in CANONICAL_JOINTS if n in src]
    rotations, offsets = solve_rotations(tgt, srot)
    info = dict(meta or {})
    info.setdefault("source", clip.path)
    info["mapped_joints"] = mapped
    info["source_joints"] = {n: clip.names[i] for n, i in src.items()}
    info["units_to_m"] = scale
    # Joints reached in the source through extra animated joints (e.g. a second
    # neck joint): a fixed canonical bone can only approximate their position.
    lq = local[1]
    info["indirect_joints"] = [n for n in mapped if n != "Hips"
                               and _via_animated(clip.parents, lq, src[n], src[_mapped_parent(n, src)])]
    return Motion(clip.fps, offsets, rotations, tgt[:, 0].copy(), info)


def _mapped_parent(name: str, src: dict) -> str:
    """Nearest canonical ancestor that has a source joint."""
    p = CANONICAL_PARENTS[JOINT_INDEX[name]]
    while CANONICAL_JOINTS[p] not in src:
        p = CANONICAL_PARENTS[p]
    return CANONICAL_JOINTS[p]


def _via_animated(parents: np.ndarray, quats: np.ndarray, child: int, parent: int | None) -> bool:
    """True if the source path parent → child passes through a joint with varying rotation."""
    if parent is None:
        return True
    i = int(parents[child])
    while i >= 0 and i != parent:
        q = quats[:, i]
        if np.ptp(q, axis=0).max() > 1e-6:
            return True
        i = int(parents[i])
    return False


# Rest directions of single-child bones (Z up, facing −Y, left on +X).
_TEMPLATE = {
    "LeftLeg": (0, 0, -1), "LeftFoot": (0, 0, -1), "RightLeg": (0, 0, -1), "RightFoot": (0, 0, -1),
    "Spine1": (0, 0, 1), "Spine3": (0, 0, 1), "Head": (0, 0, 1),
    "LeftArm": (1, 0, 0), "LeftForeArm": (1, 0, 0), "LeftHand": (1, 0, 0),
    "RightArm": (-1, 0, 0), "RightForeArm": (-1, 0, 0), "RightHand": (-1, 0, 0),
}
_BRANCHING = ("Hips", "Spine3")
_FEET = ("LeftFoot", "RightFoot")


def _children(j: int) -> list:
    return [c for c, p in enumerate(CANONICAL_PARENTS) if p == j]


def _body_frame(x_vec: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation with local X along ``x_vec`` (horizontal part) and Z up."""
    return rot.frame_from_axes(x_vec, up)


def solve_rotations(tgt: np.ndarray, srot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (T, 22, 4) and offsets (22, 3) reproducing ``tgt`` by FK.

    ``srot`` holds the source's world rotation for every canonical joint (its
    twist is kept); ``tgt`` the world positions (T, 22, 3).
    """
    t_count = tgt.shape[0]
    n = len(CANONICAL_JOINTS)
    J = JOINT_INDEX
    up = np.array([0.0, 0, 1])
    ref = 0
    # Per-foot reference frame: the foot is flat and still (lowest, slowest toe).
    toe_ref = {}
    for foot, toe in (("LeftFoot", "LeftToeBase"), ("RightFoot", "RightToeBase")):
        z = tgt[:, J[toe], 2]
        speed = np.r_[0.0, np.linalg.norm(np.diff(tgt[:, J[foot]], axis=0), axis=1)]
        score = (z - z.min()) + 2.0 * speed
        toe_ref[foot] = int(np.argmin(score))
    g = np.empty((t_count, n, 4))
    g_ref = np.empty((n, 4))
    offsets = np.zeros((n, 3))
    for j, name in enumerate(CANONICAL_JOINTS):
        kids = _children(j)
        p = CANONICAL_PARENTS[j]
        r = toe_ref.get(name, toe_ref.get(CANONICAL_JOINTS[p]) if p >= 0 and CANONICAL_JOINTS[p] in _FEET else ref)
        rel = rot.mul(srot[:, j], rot.conj(srot[r, j])[None])        # source turn since the reference frame
        if name in _BRANCHING:
            if name == "Hips":
                xv = tgt[ref, J["LeftUpLeg"]] - tgt[ref, J["RightUpLeg"]]
                zv = tgt[ref, J["Spine"]] - tgt[ref, J["Hips"]]
            else:
                xv = tgt[ref, J["LeftShoulder"]] - tgt[ref, J["RightShoulder"]]
                zv = tgt[ref, J["Neck"]] - tgt[ref, J["Spine3"]]
            g_ref[j] = rot.frame_from_axes(xv, zv)
            local = rot.rotate(rot.conj(g_ref[j]), tgt[ref, kids] - tgt[ref, j])
            offsets[kids] = local
            vecs = tgt[:, kids] - tgt[:, j:j + 1]
            g[:, j] = rot.kabsch(local, vecs)
        elif name in _FEET:
            toe = kids[0]
            v = tgt[r, toe] - tgt[r, j]
            g_ref[j] = rot.frame_from_axes(np.array([-v[1], v[0], 0.0]), up)   # yaw only: local −Y along the toe
            offsets[toe] = rot.rotate(rot.conj(g_ref[j]), v)
            guess = rot.mul(rel, g_ref[j][None])
            cur = rot.rotate(guess, offsets[toe])
            g[:, j] = rot.mul(rot.between(cur, tgt[:, toe] - tgt[:, j]), guess)
        elif kids:
            c = kids[0]
            d = np.array(_TEMPLATE.get(CANONICAL_JOINTS[c], (0, 0, 1)), dtype=np.float64)
            v = tgt[r, c] - tgt[r, j]
            length = np.linalg.norm(v)
            offsets[c] = d * length
            parent_ref = g_ref[p] if p >= 0 else rot.IDENTITY
            g_ref[j] = rot.mul(rot.between(rot.rotate(parent_ref, d), v), parent_ref)
            guess = rot.mul(rel, g_ref[j][None])
            cur = rot.rotate(guess, offsets[c])
            g[:, j] = rot.mul(rot.between(cur, tgt[:, c] - tgt[:, j]), guess)
        else:                                   # leaf: orientation follows the source
            g_ref[j] = g_ref[p]
            g[:, j] = rot.mul(rel, g_ref[j][None])
    local = np.empty_like(g)
    for j, p in enumerate(CANONICAL_PARENTS):
        local[:, j] = g[:, j] if p < 0 else rot.mul(rot.conj(g[:, p]), g[:, j])
    local = rot.make_continuous(rot.normalize(local), axis=0)
    return local, offsets
