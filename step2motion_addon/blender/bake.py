# SPDX-License-Identifier: GPL-3.0-or-later
"""Non-destructive baking of a canonical motion onto an armature.

Every bake makes a NEW action named after the take, keyed in bulk through
:mod:`.compat` (legacy 4.2 or slotted 4.4+/5.0 actions), and pushes it onto
its own NLA track; earlier Step2Motion tracks are muted, the armature's
previously active action is stashed on a muted NLA track (as Blender itself
does when switching actions) and is otherwise left alone. A linked rig is
never edited: a library override is made (or, if that fails, a local copy)
and the bake goes there, which the result's messages say.

Long takes are stored as sampled points rather than keyframes (``key_storage``):
an hour at 30 fps is 9.8 M keys, ≈ 0.7 GB of Blender keyframes, held twice once
the depsgraph has evaluated the action; as samples it is ≈ 0.16 GB. Samples play
back identically but are not editable until converted back to keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core import rigmap
from ..core.motion.skeleton import Motion
from ..core.postprocess import as_motion
from . import compat
from .retarget import RigRest, retarget

TRACK_PREFIX = "S2M "
STASH_TRACK = "[Action Stash]"
KEY_STORAGES = ("auto", "keyframes", "samples")
SAMPLES_ABOVE_S = 600.0     # "auto": takes longer than 10 minutes are stored as samples


class BakeError(Exception):
    """A bake that cannot run; the message says why in one line (shown to the user as is)."""


@dataclass
class BakeOptions:
    name: str = "S2M Take"
    in_place: bool = False
    scale: float | None = None          # None: match hip heights
    frame_start: int | None = None      # None: the scene's start frame
    resample: bool = True               # motion → scene frame rate
    set_scene_range: bool = True
    # Extra keyed custom properties on the mapped pose bones: name → (frames, 22) values at the
    # motion's own rate, canonical joint order (e.g. the hypotheses' spread, ``s2m_spread``).
    bone_curves: dict = field(default_factory=dict)
    # "keyframes": editable keys; "samples": one sampled point per frame (≈ 4× less memory,
    # not editable until converted back); "auto": samples above SAMPLES_ABOVE_S of scene time.
    key_storage: str = "auto"


def resolve_key_storage(key_storage: str, frames: int, fps: float) -> str:
    """"keyframes" or "samples" for a bake of ``frames`` frames at ``fps``."""
    if key_storage not in KEY_STORAGES:
        raise BakeError(f"key storage must be one of {', '.join(KEY_STORAGES)}, not {key_storage!r}")
    if key_storage != "auto":
        return key_storage
    return "samples" if frames > SAMPLES_ABOVE_S * fps else "keyframes"


@dataclass
class BakeResult:
    armature: bpy.types.Object          # the rig that received the keys (an override/copy for linked rigs)
    action: bpy.types.Action
    track: object
    frames: int
    frame_start: int
    scale: float
    messages: list = field(default_factory=list)
    contact: object = None              # (frames, 2) bool contacts used for foot locking, when any
    seconds: dict = field(default_factory=dict)   # stage timings filled by the caller (reports, benchmarks)
    key_storage: str = "keyframes"      # how the action's curves are stored: "keyframes" or "samples"


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def editable_rig(context, arm) -> tuple[bpy.types.Object, list]:
    """The armature to key: itself, or a library override / local copy of a linked one."""
    msgs = []
    if arm.library is None and not (arm.override_library is not None and arm.override_library.is_system_override):
        return arm, msgs
    if arm.library is not None:
        try:
            new = arm.override_hierarchy_create(context.scene, context.view_layer, do_fully_editable=True)
        except (RuntimeError, TypeError) as exc:
            new = None
            msgs.append(f"library override of {arm.name} failed ({exc})")
        if new is not None and new.type == "ARMATURE":
            msgs.append(f"{arm.name} is linked from {arm.library.filepath}: baked onto its library override "
                        f"{new.name} (the linked rig is unchanged)")
            return new, msgs
        copy = arm.copy()
        context.scene.collection.objects.link(copy)
        copy.name = f"{arm.name} (local copy)"
        msgs.append(f"{arm.name} is linked from {arm.library.filepath}: baked onto the local copy {copy.name}")
        return copy, msgs
    # A system override is not user-editable: make it editable (this changes no data).
    arm.override_library.is_system_override = False
    msgs.append(f"{arm.name}: library override made editable")
    return arm, msgs


def _stash_active(arm) -> str | None:
    """Keep the armature's active action on a muted NLA track, then clear the active slot."""
    anim = arm.animation_data
    if anim is None or anim.action is None:
        return None
    action = anim.action
    in_nla = any(s.action == action for t in anim.nla_tracks for s in t.strips)
    if not in_nla:
        track = anim.nla_tracks.new()
        track.name = STASH_TRACK
        start = int(action.frame_range[0])
        strip = track.strips.new(action.name, start, action)
        _assign_strip_slot(strip, anim)
        track.mute = True
    anim.action = None
    return action.name


def _assign_strip_slot(strip, anim) -> None:
    if compat.LAYERED_ACTIONS and hasattr(strip, "action_slot") and strip.action_slot is None:
        slot = getattr(anim, "action_slot", None)
        if slot is None and strip.action.slots:
            slot = strip.action.slots[0]
        if slot is not None:
            strip.action_slot = slot


def bake_motion(context, arm, motion, bone_map, options: BakeOptions | None = None) -> BakeResult:
    """Bake ``motion`` (Motion or Reconstruction) onto ``arm`` through ``bone_map``.

    Raises :class:`BakeError` with a clear message for unmapped required bones,
    names the rig lacks, or a non-armature.
    """
    opts = options or BakeOptions()
    if arm is None or arm.type != "ARMATURE":
        raise BakeError("select an armature to bake onto")
    mapping = bone_map.mapping if isinstance(bone_map, rigmap.BoneMap) else dict(bone_map)
    mapping = {j: b for j, b in mapping.items() if b}
    missing = rigmap.BoneMap(mapping).missing_required()
    if missing:
        raise BakeError(f"{arm.name}: no bone mapped for required joints {', '.join(missing)} "
                        "(map them in the bone list; spine, arms, head and toes are optional)")
    lacking = sorted(f"{j}→{b}" for j, b in mapping.items() if b not in arm.data.bones)
    if lacking:
        raise BakeError(f"{arm.name} has no bones named {', '.join(lacking)}: re-detect or edit the bone map")
    scene = context.scene
    m = as_motion(motion)
    src_fps, src_frames = m.fps, m.frames
    messages = []
    fps = scene_fps(scene)
    # Rates within 0.05 % are the same rate written with few digits (BVH frame times): no resampling.
    if opts.resample and abs(m.fps - fps) > 5e-4 * fps:
        messages.append(f"motion resampled from {m.fps:g} to the scene's {fps:g} fps")
        m = m.resampled(fps)
    if m.frames < 1:
        raise BakeError("the motion has no frames")
    storage = resolve_key_storage(opts.key_storage, m.frames, fps)
    sampled = storage == "samples"
    target, msgs = editable_rig(context, arm)
    messages += msgs
    try:
        res = retarget(m, RigRest.of(target), mapping, in_place=opts.in_place, scale=opts.scale)
    except ValueError as exc:
        raise BakeError(f"{target.name}: {exc}") from None
    messages += res.notes
    frame0 = int(scene.frame_start if opts.frame_start is None else opts.frame_start)
    frames = frame0 + np.arange(m.frames, dtype=np.float64)
    # Retargeted: the motion is no longer needed (freed here unless the caller keeps it).
    del m, motion

    changed_modes = []
    for bone in res.rotations:
        pb = target.pose.bones[bone]
        if pb.rotation_mode != "QUATERNION":
            changed_modes.append(bone)
            pb.rotation_mode = "QUATERNION"
    if changed_modes:
        messages.append(f"{len(changed_modes)} bones switched to quaternion rotation mode")

    stashed = _stash_active(target)
    if stashed:
        messages.append(f"previous action {stashed} kept on a muted '{STASH_TRACK}' NLA track")
    action, channels = compat.new_action(opts.name, target)
    action["s2m_take"] = opts.name
    action["s2m_key_storage"] = storage
    for bone in list(res.rotations):
        q = res.rotations.pop(bone)     # each bone's channels freed once written
        path = target.pose.bones[bone].path_from_id("rotation_quaternion")
        for k in range(4):
            compat.write_fcurve(channels, path, frames, q[:, k], index=k, group=bone, samples=sampled)
        del q
    path = target.pose.bones[res.hips_bone].path_from_id("location")
    for k in range(3):
        compat.write_fcurve(channels, path, frames, res.location[:, k], index=k, group=res.hips_bone,
                            samples=sampled)
    if opts.bone_curves:
        _key_bone_curves(target, channels, mapping, opts.bone_curves, src_fps, src_frames, fps, frames,
                         sampled)
    if sampled:
        messages.append(f"{len(frames)} frames stored as sampled points to save memory: they play back as "
                        "keys do; to edit them as keys, Convert Take to Keyframes (Step2Motion panel)")

    anim = target.animation_data
    for t in anim.nla_tracks:
        if t.name.startswith(TRACK_PREFIX):
            t.mute = True
    track = anim.nla_tracks.new()
    track.name = f"{TRACK_PREFIX}{action.name}"[:63]
    strip = track.strips.new(action.name, frame0, action)
    _assign_strip_slot(strip, anim)
    anim.action = None
    if opts.set_scene_range:
        scene.frame_start = frame0
        scene.frame_end = int(frames[-1])
    scene.frame_set(scene.frame_current)
    return BakeResult(target, action, track, len(frames), frame0, res.scale, messages, key_storage=storage)


def _key_bone_curves(target, channels, mapping, curves, src_fps, src_frames, fps, frames,
                     samples: bool = False) -> None:
    """Key per-bone custom properties, resampled from the motion's rate to the scene's frames."""
    from ..core.motion.skeleton import CANONICAL_JOINTS
    t_src = np.arange(src_frames) / src_fps
    t_new = (frames - frames[0]) / fps
    for prop, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        for j, joint in enumerate(CANONICAL_JOINTS):
            bone = mapping.get(joint)
            if not bone or bone not in target.pose.bones:
                continue
            pb = target.pose.bones[bone]
            pb[prop] = float(values[:, j].mean())
            v = np.interp(t_new, t_src, values[:, j]) if len(t_src) > 1 else np.full(len(frames), values[0, j])
            compat.write_fcurve(channels, pb.path_from_id(f'["{prop}"]'), frames, v, group=bone, samples=samples)


def action_fcurves(action, arm=None) -> list:
    """All F-curves of an action, either API (for tests and exports)."""
    if not compat.LAYERED_ACTIONS:
        return list(action.fcurves)
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for slot in action.slots:
                bag = strip.channelbag(slot)
                if bag is not None:
                    out += list(bag.fcurves)
    return out


def is_sampled(action) -> bool:
    """True when the bake stored ``action`` as sampled points (see :attr:`BakeOptions.key_storage`)."""
    return action.get("s2m_key_storage") == "samples"


def samples_to_keyframes(action) -> int:
    """Convert every sampled F-curve of ``action`` to linear keyframes; returns how many."""
    done = sum(compat.samples_to_keyframes(fc) for fc in action_fcurves(action))
    action["s2m_key_storage"] = "keyframes"
    return done


def make_active(arm, action) -> None:
    """Make a baked action the active one (exporters read the active action)."""
    anim = arm.animation_data or arm.animation_data_create()
    anim.action = action
    if compat.LAYERED_ACTIONS and action.slots:
        anim.action_slot = action.slots[0]
