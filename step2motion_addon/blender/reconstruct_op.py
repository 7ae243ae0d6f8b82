# SPDX-License-Identifier: GPL-3.0-or-later
"""Reconstruct Motion, Bake Motion from BVH, the bone-map list, the default character and exports.

The settings live on the scene (``scene.step2motion_recon``) so they also work
with linked rigs, whose objects cannot hold new properties. Long steps report
through ``window_manager.progress_*`` when a window exists (not in background
mode). The pure work is in plain functions (:func:`reconstruct_take`,
:func:`bake_onto_target`, :func:`insoles_follow_feet`) shared with the
``reconstruct`` command.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper, ImportHelper
from mathutils import Matrix

from ..core import postprocess, rigmap
from ..core.errors import TakeError
from ..core.motion.skeleton import CANONICAL_JOINTS
from . import bake, character, export
from .insole_scene import take_root
from .preferences import user_data_dir
from .retarget import RigRest, detect_bone_map

MODEL_SET_FILE = "model_set.json"


# -- model sets -------------------------------------------------------------------------
PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "models"   # shipped inside the extension (read only)
PREFERRED_SET = "step2motion-best"


def model_set_candidates(explicit: str | None = None) -> list:
    """Folders searched for a trained model set, in order.

    An explicit folder (panel / ``--models``) or ``$STEP2MOTION_MODELS`` wins; then the
    set shipped inside the installed extension; then ``./models``, the development
    checkout's ``models/`` and the extension's user folder.
    """
    out = []
    if explicit:
        out.append(Path(bpy.path.abspath(explicit)) if explicit.startswith("//") else Path(explicit))
    if os.environ.get("STEP2MOTION_MODELS"):
        out.append(Path(os.environ["STEP2MOTION_MODELS"]))
    out.append(PACKAGED_MODELS)
    out.append(Path.cwd() / "models")
    out.append(Path(__file__).resolve().parents[2] / "models")     # a development checkout
    user = user_data_dir(create=False)
    if user:
        out.append(Path(user) / "models")
    seen, uniq = set(), []
    for p in out:
        if str(p) not in seen:
            seen.add(str(p))
            uniq.append(p)
    return uniq


def find_model_set(explicit: str | None = None) -> Path:
    """The first folder holding ``model_set.json`` (also one level down, ``step2motion-best`` first).

    TakeError naming every folder looked at.
    """
    cands = model_set_candidates(explicit)
    for d in cands[:1] if explicit else cands:
        if (d / MODEL_SET_FILE).is_file():
            return d
        if d.is_dir():
            subs = sorted(p.parent for p in d.glob(f"*/{MODEL_SET_FILE}"))
            if subs:
                best = [p for p in subs if p.name == PREFERRED_SET]
                return (best or subs)[-1]
    looked = ", ".join(str(d) for d in (cands[:1] if explicit else cands))
    raise TakeError(f"no trained model set ({MODEL_SET_FILE} + ONNX files) found; looked in {looked}. "
                    "The models are trained and exported by training/ (see docs/models.md); "
                    "until then use 'Bake Motion from BVH' or the --ground-truth option",
                    path=str(cands[0]) if explicit else None)


def model_set_info(path: Path, models) -> dict:
    """Name, folder, use restriction and the licences of the data the set was trained on."""
    data = models.meta.get("training_data") or []
    licences = [d.get("licence", "") for d in data if d.get("licence")]
    non_commercial = any("non-commercial" in lic.lower() or "NC" in lic for lic in licences)
    return {"name": models.meta.get("name") or Path(path).name, "path": str(path), "licence": licences,
            "use": models.meta.get("use") or ("non-commercial only" if non_commercial else "unrestricted"),
            "non_commercial": non_commercial}


# -- scene settings ------------------------------------------------------------------------
def _is_armature(self, ob):
    return ob.type == "ARMATURE"


class STEP2MOTION_BoneMapItem(bpy.types.PropertyGroup):
    joint: bpy.props.StringProperty(name="Joint")
    bone: bpy.props.StringProperty(name="Bone", description="Bone of the target rig playing this joint")


class STEP2MOTION_ReconSettings(bpy.types.PropertyGroup):
    target: bpy.props.PointerProperty(type=bpy.types.Object, poll=_is_armature, name="Target Rig",
                                      description="Armature that receives the motion (empty: the default character)")
    height: bpy.props.FloatProperty(name="Height", default=character.DEFAULT_HEIGHT, min=0.5, max=2.5,
                                    unit="LENGTH", description="Body height of the default character (m)")
    in_place: bpy.props.BoolProperty(name="In Place", default=False,
                                     description="Drop the horizontal root motion (keep turning and height)")
    foot_lock: bpy.props.BoolProperty(name="Foot Locking", default=True,
                                      description="Pin feet while the insoles measure load (two-bone IK)")
    smooth: bpy.props.FloatProperty(name="Smoothing", default=0.0, min=0.0, max=5.0,
                                    description="Gaussian smoothing in frames; contacts are kept")
    models_dir: bpy.props.StringProperty(name="Models", subtype="DIR_PATH",
                                         description="Folder with a trained model set (empty: search the defaults)")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0,
                                description="Random seed of the first sample. With 1 sample the shipped "
                                            "model set gives one deterministic estimate: every seed bakes "
                                            "the same motion")
    samples: bpy.props.IntProperty(name="Samples", default=1, min=1, max=16,
                                   description="Hypotheses to sample from the full noise (seeds Seed, Seed+1, "
                                               "...); their mean "
                                               "(or the first) is baked, their spread is keyed per bone as "
                                               "s2m_spread and colours the default character")
    average_samples: bpy.props.BoolProperty(
        name="Bake the Mean", default=True,
        description="With several samples, bake their mean: closer to the true motion (test clips, 4 samples: "
                    "6.40 -> 6.24 cm mean joint error), a little less smooth than one sample. Off: bake the "
                    "first sample (Seed)")
    mirror: bpy.props.EnumProperty(
        name="Mirror Average", default="SET",
        items=(("SET", "Model Set", "As the model set says (the shipped set: on)"),
               ("ON", "On", "Also reconstruct the take's mirror image and average it in: better legs (test "
                            "clips: 3.75 -> 3.65 cm mean joint error), up to twice the pose model's time"),
               ("OFF", "Off", "One pass: faster (up to half the time); arms of runs swing more freely")),
        description="Average each pose with the pose of the take's mirror image (feet swapped), mirrored back")
    key_storage: bpy.props.EnumProperty(
        name="Key Storage", default="auto",
        items=(("auto", "Auto", "Keyframes, or samples for takes longer than 10 minutes"),
               ("keyframes", "Keyframes", "Editable keys (about 70 bytes per channel and frame)"),
               ("samples", "Samples", "Sampled points: about 4x less memory, play back the same; not editable "
                                      "until converted (Convert Take to Keyframes)")),
        description="How the baked action stores its curves")
    bone_map: bpy.props.CollectionProperty(type=STEP2MOTION_BoneMapItem)
    bone_map_index: bpy.props.IntProperty()
    bone_map_source: bpy.props.StringProperty(name="Bone Map Source")
    bone_map_rig: bpy.props.StringProperty()


def settings(context) -> STEP2MOTION_ReconSettings | None:
    """The scene's settings; None when the add-on is not registered (the command line)."""
    return getattr(context.scene, "step2motion_recon", None)


def store_bone_map(context, arm, bm: rigmap.BoneMap) -> None:
    s = settings(context)
    if s is None:
        return
    s.bone_map.clear()
    for j in CANONICAL_JOINTS:
        item = s.bone_map.add()
        item.joint = j
        item.bone = bm.mapping.get(j, "")
    s.bone_map_source = bm.source
    s.bone_map_rig = arm.name if arm is not None else ""


def current_bone_map(context, arm) -> rigmap.BoneMap:
    """The panel's bone list when it was made for this rig, else a fresh detection (stored)."""
    s = settings(context)
    if s is not None and s.bone_map and s.bone_map_rig == arm.name:
        return rigmap.BoneMap({i.joint: i.bone for i in s.bone_map if i.bone}, s.bone_map_source or "manual")
    bm = detect_bone_map(arm)
    store_bone_map(context, arm, bm)
    return bm


def target_rig(context, create: bool = True):
    """The chosen target, else the selected armature, else a (new) default character."""
    s = settings(context)
    arm = s.target if s is not None else None
    if arm is None and context.active_object is not None and context.active_object.type == "ARMATURE":
        arm = context.active_object
    if arm is None:
        arm = next((ob for ob in context.scene.objects if ob.get("s2m_role") == "character"), None)
    if arm is None and create:
        arm = character.create_character(context, height=s.height if s is not None else character.DEFAULT_HEIGHT)
    return arm


# -- shared work ----------------------------------------------------------------------------------
def insoles_follow_feet(context, take_root_ob, arm, mapping: dict) -> list:
    """Child Of constraints keeping each insole under its foot bone (offset measured at rest)."""
    done = []
    insoles = [c for c in take_root_ob.children_recursive if c.get("s2m_role") == "insole"]
    if not insoles:
        return done
    pose_position = arm.data.pose_position
    arm.data.pose_position = "REST"
    context.view_layer.update()
    try:
        for ins in insoles:
            side = ins.get("s2m_side")
            foot = mapping.get("LeftFoot" if side == "left" else "RightFoot")
            toe = mapping.get("LeftToeBase" if side == "left" else "RightToeBase")
            if not foot or foot not in arm.pose.bones:
                continue
            for c in [c for c in ins.constraints if c.name == "S2M Follow Foot"]:
                ins.constraints.remove(c)
            bone_world = arm.matrix_world @ arm.pose.bones[foot].matrix
            ankle = np.array(bone_world.translation)
            if toe and toe in arm.pose.bones:
                toe_p = np.array(arm.matrix_world @ arm.pose.bones[toe].head)
            else:
                toe_p = np.array(arm.matrix_world @ arm.pose.bones[foot].tail)
            fwd = toe_p - ankle
            fwd[2] = 0.0
            fwd = fwd / max(np.linalg.norm(fwd), 1e-9)
            # Insole centre: a little ahead of the ankle, on the floor under the foot.
            centre = ankle + fwd * 0.45 * np.linalg.norm((toe_p - ankle)[:2]) + np.array([0, 0, 0.0])
            centre[2] = arm.matrix_world.translation.z + 0.003
            yaw = float(np.arctan2(fwd[1], fwd[0]))
            desired = Matrix.Translation(centre) @ Matrix.Rotation(yaw, 4, "Z")
            con = ins.constraints.new("CHILD_OF")
            con.name = "S2M Follow Foot"
            con.target = arm
            con.subtarget = foot
            con.set_inverse_pending = False
            # Child Of: world = bone_world @ inverse @ own_world; choose inverse so the rest pose gives `desired`.
            own = ins.matrix_world.copy()
            con.inverse_matrix = bone_world.inverted() @ desired @ own.inverted()
            done.append(ins.name)
    finally:
        arm.data.pose_position = pose_position
        context.view_layer.update()
    return done


def prepare_motion(motion, contact=None, foot_lock: bool = True, smooth_sigma: float = 0.0,
                   toe_height: float = 0.02):
    """Post-process a reconstruction/motion with the measured contact; returns (Motion, notes)."""
    m, rep = postprocess.postprocess(motion, contact if foot_lock else None, lock=foot_lock,
                                     ground=True, toe_height=toe_height, smooth_sigma=smooth_sigma)
    return m, rep.notes


_MODEL_CACHE: dict = {}


def load_models(models_dir: str | None = None):
    """(ModelSet, folder): loaded once per folder and session (ONNX sessions take ~0.3 s)."""
    from ..core.inference import ModelSet
    path = find_model_set(models_dir)
    key = str(path.resolve())
    stamp = (path / MODEL_SET_FILE).stat().st_mtime
    hit = _MODEL_CACHE.get(key)
    if hit is None or hit[0] != stamp:
        _MODEL_CACHE.clear()           # one set at a time: they hold a few MB of weights each
        _MODEL_CACHE[key] = hit = (stamp, ModelSet(path))
    return hit[1], path


def release_models() -> None:
    """Drop the cached model sessions (the next reconstruction reloads them, ~0.3 s)."""
    import gc
    _MODEL_CACHE.clear()
    gc.collect()


def reconstruct_take(take, models_dir: str | None, seed: int = 0, samples: int = 1, progress=None,
                     average: bool = True, temperature: float | None = None, mirror: bool | None = None):
    """Run the models on a take: (RunResult, model set folder, model set info). TakeError if none exists.

    After a long take (over ``bake.SAMPLES_ABOVE_S``) the cached model sessions are released:
    onnxruntime keeps ≈ 150 MB of buffers sized for the batches it ran, and freeing them
    before the bake lets Blender's action reuse that memory (10-minute take: bake peak
    850 → 575 MB).
    """
    from ..core.recon_run import run_reconstruction
    models, path = load_models(models_dir)
    result = run_reconstruction(take, models, seed=seed, samples=samples, progress=progress, average=average,
                                temperature=temperature, mirror=mirror)
    info = model_set_info(path, models)
    rec = result.baked
    if rec.frames > bake.SAMPLES_ABOVE_S * rec.rate:
        del models
        release_models()
    return result, path, info


def bake_reconstruction(context, take, result, arm, name: str, take_root_ob=None, foot_lock=True,
                        smooth_sigma=0.0, in_place=False, key_storage: str = "auto") -> bake.BakeResult:
    """Bake the hypotheses' mean (or the first), key the spread, flag estimated pressure, colour the body.

    Used by the operator and the ``reconstruct`` command alike.
    """
    from ..core import recon_run
    from . import confidence
    rec = result.baked
    contact = recon_run.bake_contact(take, rec, result.estimated_sides, result.check.missing_feet,
                                             result.estimated_contact)
    opts = bake.BakeOptions(key_storage=key_storage)
    if len(result.recs) > 1:
        opts.bone_curves = {"s2m_spread": result.spread}
    res = bake_onto_target(context, arm, rec, name, contact, options=opts, foot_lock=foot_lock,
                           smooth_sigma=smooth_sigma, in_place=in_place)
    res.messages = list(result.warnings) + res.messages
    res.contact = contact
    action = res.action
    action["s2m_hypotheses"] = len(result.recs)
    action["s2m_seed"] = int(rec.info.get("seed", 0))
    action["s2m_temperature"] = float(rec.info.get("temperature", 1.0))
    action["s2m_mirror_average"] = bool(rec.info.get("mirror_average", False))
    action["s2m_baked"] = "mean" if result.mean is not None else "first"
    action["s2m_pressure_estimated"] = ",".join(result.estimated_sides)
    if len(result.recs) > 1:
        per_joint = confidence.spread_by_joint(result.spread)
        scale = res.scale
        action["s2m_spread_mean_m"] = float(np.mean(list(per_joint.values())) * scale)
        if confidence.colour_body(res.armature, {j: v * scale for j, v in per_joint.items()}):
            res.messages.append("body coloured by the hypotheses' spread (green ≤ 1 cm, red ≥ 10 cm)")
    if take_root_ob is not None:
        # A plain flag on the take: which insoles' pressures the models had to invent.
        take_root_ob["s2m_pressure_estimated"] = ",".join(result.estimated_sides)
        take_root_ob["s2m_recon_warnings"] = len(result.warnings)
    return res


def rig_toe_height(arm, mapping: dict, scale: float) -> float:
    """Rest height of the rig's toe joints above its origin, in the motion's units (÷ scale)."""
    rest = RigRest.of(arm)
    idx = {n: i for i, n in enumerate(rest.names)}
    toes = [mapping[j] for j in ("LeftToeBase", "RightToeBase") if mapping.get(j) in idx]
    if not toes:
        return 0.03
    z = np.mean([rest.head_world(idx[t])[2] for t in toes]) - rest.world[2, 3]
    return float(max(z, 0.0) / max(scale, 1e-6))


def bake_onto_target(context, arm, motion, name: str, contact=None, options=None, foot_lock=True,
                     smooth_sigma=0.0, in_place=False) -> bake.BakeResult:
    """Detect/read the bone map, post-process with the rig's toe height, bake; BakeError on bad rigs."""
    bm = current_bone_map(context, arm)
    missing = bm.missing_required()
    if missing:
        raise bake.BakeError(f"{arm.name}: no bone found for {', '.join(missing)}; "
                             "map them in the Step2Motion bone list (Retarget panel)")
    from .retarget import hip_height_ratio
    m0 = postprocess.as_motion(motion)
    try:
        scale = hip_height_ratio(RigRest.of(arm), bm.mapping, m0.offsets)
    except ValueError as exc:
        raise bake.BakeError(f"{arm.name}: {exc}") from None
    import time
    t0 = time.perf_counter()
    m, notes = prepare_motion(m0, contact, foot_lock, smooth_sigma, rig_toe_height(arm, bm.mapping, scale))
    opts = options or bake.BakeOptions()
    opts.name = name
    opts.in_place = in_place
    t1 = time.perf_counter()
    # Handed over without a reference kept here: bake_motion drops the post-processed motion
    # once retargeted, before Blender allocates the action (≈ 80 MB for an hour).
    handover = [m]
    del m
    res = bake.bake_motion(context, arm, handover.pop(), bm, opts)
    res.seconds = {"postprocess": t1 - t0, "write_action": time.perf_counter() - t1}
    res.messages = notes + res.messages
    return res


# -- operators --------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, context):
        self.wm = context.window_manager
        self.on = context.window is not None

    def __enter__(self):
        if self.on:
            self.wm.progress_begin(0, 100)
        return self

    def __call__(self, fraction: float):
        if self.on:
            self.wm.progress_update(int(100 * min(max(fraction, 0.0), 1.0)))

    def __exit__(self, *exc):
        if self.on:
            self.wm.progress_end()
        return False


def _report_messages(op, messages):
    for msg in messages:
        warn = any(w in msg for w in ("failed", "cannot", "lack", "estimated", "dead", "absent", "gap",
                                      "saturat", "sensor limit", "shorter", "no IMU", "zero"))
        op.report({"WARNING"} if warn else {"INFO"}, msg)


class STEP2MOTION_OT_reconstruct(bpy.types.Operator):
    """Reconstruct full-body motion from the active insole take with the trained models and bake it"""
    bl_idname = "step2motion.reconstruct"
    bl_label = "Reconstruct Motion"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        root = _active_take_root(context)
        if root is None:
            self.report({"ERROR"}, "No insole take: import a recording first (File > Import > Insole Recording)")
            return {"CANCELLED"}
        path = root.get("s2m_file", "")
        s = settings(context)
        try:
            from ..core.formats import load_take
            take = load_take(path)
            with _Progress(context) as prog:
                result, model_dir, info = reconstruct_take(take, s.models_dir or None, s.seed, s.samples,
                                                           progress=lambda f: prog(0.8 * f),
                                                           average=s.average_samples,
                                                           mirror={"ON": True, "OFF": False}.get(s.mirror))
                arm = target_rig(context)
                res = bake_reconstruction(context, take, result, arm, root.name.removeprefix("S2M "), root,
                                          foot_lock=s.foot_lock, smooth_sigma=s.smooth, in_place=s.in_place,
                                          key_storage=s.key_storage)
                prog(1.0)
        except (TakeError, bake.BakeError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        insoles_follow_feet(context, root, res.armature, current_bone_map(context, res.armature).mapping)
        _report_messages(self, res.messages)
        if info["non_commercial"]:
            self.report({"WARNING"}, f"Model set {info['name']}: {info['use']} ({'; '.join(info['licence'])})")
        extra = (f", {'mean' if result.mean is not None else 'first'} of {len(result.recs)} hypotheses baked, "
                 "their spread keyed as s2m_spread") if len(result.recs) > 1 else ""
        self.report({"INFO"}, f"Reconstructed {res.frames} frames with {model_dir}{extra}")
        return {"FINISHED"}


def _active_take_root(context):
    root = take_root(context.active_object)
    if root is None:
        roots = [ob for ob in context.scene.objects if ob.get("s2m_role") == "take"]
        root = roots[-1] if roots else None
    return root


class STEP2MOTION_OT_bake_bvh(bpy.types.Operator, ImportHelper):
    """Bake a motion capture clip (BVH) onto the target rig through the retargeting and bake path"""
    bl_idname = "step2motion.bake_bvh"
    bl_label = "Bake Motion from BVH"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".bvh"
    filter_glob: bpy.props.StringProperty(default="*.bvh;*.bvh.gz", options={"HIDDEN"})

    def execute(self, context):
        from ..core.motion.bvh import load_bvh
        from ..core.motion.retarget import motion_from_bvh
        s = settings(context)
        try:
            motion = motion_from_bvh(load_bvh(self.filepath))
            arm = target_rig(context)
            name = os.path.basename(self.filepath).split(".")[0]
            res = bake_onto_target(context, arm, motion, name, None, bake.BakeOptions(key_storage=s.key_storage),
                                   foot_lock=False, smooth_sigma=s.smooth, in_place=s.in_place)
        except (TakeError, bake.BakeError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        root = _active_take_root(context)
        if root is not None:
            insoles_follow_feet(context, root, res.armature, current_bone_map(context, res.armature).mapping)
        _report_messages(self, res.messages)
        self.report({"INFO"}, f"Baked {res.frames} frames onto {res.armature.name} as {res.action.name}")
        return {"FINISHED"}


class STEP2MOTION_OT_take_to_keyframes(bpy.types.Operator):
    """Turn the latest take's sampled curves back into editable keyframes (about 4x the memory)"""
    bl_idname = "step2motion.take_to_keyframes"
    bl_label = "Convert Take to Keyframes"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        arm = target_rig(context, create=False)
        action = latest_take_action(arm) if arm is not None else None
        return action is not None and bake.is_sampled(action)

    def execute(self, context):
        action = latest_take_action(target_rig(context, create=False))
        n = bake.samples_to_keyframes(action)
        context.scene.frame_set(context.scene.frame_current)
        self.report({"INFO"}, f"{action.name}: {n} sampled curves converted to keyframes")
        return {"FINISHED"}


class STEP2MOTION_OT_add_character(bpy.types.Operator):
    """Add the default character (canonical skeleton with a simple body) at the chosen height"""
    bl_idname = "step2motion.add_character"
    bl_label = "Add Default Character"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        s = settings(context)
        arm = character.create_character(context, height=s.height)
        s.target = arm
        store_bone_map(context, arm, detect_bone_map(arm))
        return {"FINISHED"}


class STEP2MOTION_OT_detect_bone_map(bpy.types.Operator):
    """Fill the bone list from the target rig's bone names and hierarchy"""
    bl_idname = "step2motion.detect_bone_map"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        arm = target_rig(context, create=False)
        if arm is None:
            self.report({"ERROR"}, "Choose a target armature first")
            return {"CANCELLED"}
        bm = detect_bone_map(arm)
        store_bone_map(context, arm, bm)
        missing = bm.missing_required()
        if missing:
            self.report({"WARNING"}, f"Unmapped required joints: {', '.join(missing)}; pick their bones in the list")
        else:
            self.report({"INFO"}, f"{rigmap.PRESET_LABELS.get(bm.source, bm.source)}: "
                                  f"{len(bm.mapping)} of {len(CANONICAL_JOINTS)} joints mapped")
        return {"FINISHED"}


def bone_map_dir() -> str:
    path = os.path.join(user_data_dir(create=True), "bone_maps")
    os.makedirs(path, exist_ok=True)
    return path


class STEP2MOTION_OT_save_bone_map(bpy.types.Operator, ExportHelper):
    """Save the bone list as JSON (in the extension's user folder by default)"""
    bl_idname = "step2motion.save_bone_map"
    bl_label = "Save Bone Map"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        arm = target_rig(context, create=False)
        self.filepath = os.path.join(bone_map_dir(), bpy.path.clean_name(arm.name if arm else "rig") + ".json")
        return ExportHelper.invoke(self, context, event)

    def execute(self, context):
        s = settings(context)
        bm = rigmap.BoneMap({i.joint: i.bone for i in s.bone_map if i.bone}, s.bone_map_source or "manual")
        try:
            Path(self.filepath).write_text(rigmap.to_json(bm, s.bone_map_rig), encoding="utf-8")
        except OSError as exc:
            self.report({"ERROR"}, f"{self.filepath}: {exc.strerror or exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved {self.filepath}")
        return {"FINISHED"}


class STEP2MOTION_OT_load_bone_map(bpy.types.Operator, ImportHelper):
    """Load a bone list saved as JSON"""
    bl_idname = "step2motion.load_bone_map"
    bl_label = "Load Bone Map"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        self.filepath = bone_map_dir() + os.sep
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        arm = target_rig(context, create=False)
        try:
            bm = rigmap.from_json(Path(self.filepath).read_text(encoding="utf-8"), self.filepath)
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if arm is not None:
            absent = [f"{j}→{b}" for j, b in bm.mapping.items() if b not in arm.data.bones]
            if absent:
                self.report({"WARNING"}, f"{arm.name} lacks bones {', '.join(absent)}")
        store_bone_map(context, arm, bm)
        return {"FINISHED"}


class STEP2MOTION_OT_export_take(bpy.types.Operator, ExportHelper):
    """Export the target rig with its latest Step2Motion take (BVH, FBX or glTF, Blender's exporters)"""
    bl_idname = "step2motion.export_take"
    bl_label = "Export Take"
    filename_ext = ".bvh"
    fmt: bpy.props.EnumProperty(name="Format", items=(("bvh", "BVH", ""), ("fbx", "FBX", ""),
                                                      ("gltf", "glTF (.glb)", "")), default="bvh")

    def check(self, context):
        ext = {"bvh": ".bvh", "fbx": ".fbx", "gltf": ".glb"}[self.fmt]
        new = bpy.path.ensure_ext(os.path.splitext(self.filepath)[0], ext)
        changed = new != self.filepath
        self.filepath = new
        self.filename_ext = ext
        return changed

    def execute(self, context):
        arm = target_rig(context, create=False)
        action = latest_take_action(arm) if arm is not None else None
        if action is None:
            self.report({"ERROR"}, "No baked Step2Motion take on the target rig")
            return {"CANCELLED"}
        self.check(context)
        try:
            path = export.export_take(context, self.fmt, self.filepath, arm, action)
        except export.ExportError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {path}")
        return {"FINISHED"}


def latest_take_action(arm):
    anim = arm.animation_data
    if anim is None:
        return None
    tracks = [t for t in anim.nla_tracks if t.name.startswith(bake.TRACK_PREFIX) and t.strips]
    unmuted = [t for t in tracks if not t.mute]
    pick = (unmuted or tracks)
    return pick[-1].strips[0].action if pick else None


class STEP2MOTION_UL_bone_map(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        arm = target_rig(context, create=False)
        row = layout.row(align=True)
        required = item.joint in rigmap.REQUIRED
        row.label(text=item.joint + (" *" if required else ""),
                  icon="ERROR" if required and not item.bone else "BONE_DATA")
        if arm is not None:
            row.prop_search(item, "bone", arm.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


classes = (STEP2MOTION_BoneMapItem, STEP2MOTION_ReconSettings, STEP2MOTION_UL_bone_map,
           STEP2MOTION_OT_reconstruct, STEP2MOTION_OT_bake_bvh, STEP2MOTION_OT_take_to_keyframes,
           STEP2MOTION_OT_add_character,
           STEP2MOTION_OT_detect_bone_map, STEP2MOTION_OT_save_bone_map, STEP2MOTION_OT_load_bone_map,
           STEP2MOTION_OT_export_take)


def register():
    bpy.types.Scene.step2motion_recon = bpy.props.PointerProperty(type=STEP2MOTION_ReconSettings)


def unregister():
    if hasattr(bpy.types.Scene, "step2motion_recon"):
        del bpy.types.Scene.step2motion_recon
