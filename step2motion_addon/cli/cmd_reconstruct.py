# SPDX-License-Identifier: GPL-3.0-or-later
"""``reconstruct``: an insole take → full-body motion baked on the default character (.blend, BVH, FBX, PNG)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HELP = "reconstruct full-body motion from an insole take and bake it onto the default character"


def add_arguments(parser) -> None:
    parser.add_argument("take", help="recording: Moticon .txt, generic .csv or native .s2m")
    parser.add_argument("--out", required=True, help="output .blend file")
    parser.add_argument("--bvh", help="also export the motion as BVH")
    parser.add_argument("--fbx", help="also export character and motion as FBX")
    parser.add_argument("--png", help="also render a Workbench preview (character with insoles)")
    parser.add_argument("--json", help="write a report: timings, model set, per-foot contact, warnings")
    parser.add_argument("--samples", type=int, default=1,
                        help="hypotheses to sample (seeds --seed, --seed+1, ...): their mean is baked (smoother, "
                             "closer to the truth), their per-joint spread goes to the report, the bones "
                             "(s2m_spread) and the body colours")
    parser.add_argument("--first-sample", action="store_true",
                        help="with --samples N, bake the first hypothesis (--seed) instead of the mean")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the first sample (default 0)")
    parser.add_argument("--temperature", type=float,
                        help="sampler noise, 0..2: 0 = one deterministic estimate (the seed does not matter), "
                             "1 = a sample of the trained distribution (default: the model set's; with "
                             "--samples N > 1 and a set at 0, 1)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                        help="average each pose with the take's mirror image's (up to twice the pose model's time; "
                             "default: the model set's)")
    parser.add_argument("--models", help="folder with a trained model set (default: search models/ folders)")
    parser.add_argument("--height", type=float, default=1.75, help="default character height in m (default 1.75)")
    parser.add_argument("--fps", type=float, default=30.0, help="scene frame rate (default 30)")
    parser.add_argument("--in-place", action="store_true", help="drop the horizontal root motion")
    parser.add_argument("--no-foot-lock", action="store_true", help="do not pin loaded feet")
    parser.add_argument("--key-storage", choices=("auto", "keyframes", "samples"), default="auto",
                        help="F-curve storage of the baked action: keyframes (editable), samples (about 4x "
                             "less memory, converted back to keys in Blender when needed) or auto (samples "
                             "for takes over 10 minutes; default)")
    # Developer option: bake a known motion instead of running the models (exercises bake/export today).
    parser.add_argument("--ground-truth", metavar="MOTION.bvh", help=argparse.SUPPRESS)


def run(args) -> int:
    from ..core import postprocess
    from ..core.formats import load_take

    report = {"take": os.path.abspath(args.take), "warnings": [], "seconds": {}}
    t0 = time.perf_counter()
    take = load_take(args.take)            # TakeError → exit 2 through the dispatcher
    report["seconds"]["load"] = time.perf_counter() - t0

    import bpy

    from ..blender import bake, character, export, insole_scene, reconstruct_op, render_preview

    t0 = time.perf_counter()
    result = None
    if args.ground_truth:
        from ..core.motion.bvh import load_bvh
        from ..core.motion.retarget import motion_from_bvh
        motion = motion_from_bvh(load_bvh(args.ground_truth))
        report["model_set"] = None
        report["ground_truth"] = os.path.abspath(args.ground_truth)
        if args.samples > 1:
            report["warnings"].append("--samples ignored with --ground-truth")
    else:
        try:
            result, model_dir, info = reconstruct_op.reconstruct_take(take, args.models, args.seed,
                                                                      max(1, args.samples),
                                                                      average=not args.first_sample,
                                                                      temperature=args.temperature,
                                                                      mirror=args.mirror)
        except Exception as exc:          # noqa: BLE001 - shown as one line, never a traceback
            from ..core.errors import TakeError
            if not isinstance(exc, (TakeError, OSError, ValueError)):
                raise
            print(f"error: {exc}", file=sys.stderr)
            if args.json:
                report["error"] = str(exc)
                _write_json(args.json, report)
            return 2
        rec = result.baked
        report["model_set"] = info
        report["reconstruction"] = {k: v for k, v in rec.info.items() if isinstance(v, (int, float, str))}
        report["reconstruction"]["seconds"] = dict(rec.info.get("seconds", {}))
        report["pressure_estimated"] = result.estimated_sides
        report["samples"] = len(result.recs)
        report["baked"] = "mean" if result.mean is not None else "first"
        if len(result.recs) > 1:
            from ..core.recon_run import spread_summary
            report["spread_m"] = spread_summary(result.spread)
    report["seconds"]["inference"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    scene = context.scene
    created = insole_scene.build_take_scene(context, take, insole_scene.SceneOptions(fps=args.fps or None))
    arm = character.create_character(context, height=args.height)
    stem = os.path.splitext(os.path.basename(args.take))[0]
    try:
        if result is not None:
            res = reconstruct_op.bake_reconstruction(context, take, result, arm, stem, created["root"],
                                                     foot_lock=not args.no_foot_lock, in_place=args.in_place,
                                                     key_storage=args.key_storage)
            contact = res.contact
        else:
            m = postprocess.as_motion(motion)
            contact = postprocess.contact_from_take(take, m.fps, m.frames)
            res = reconstruct_op.bake_onto_target(context, arm, m, stem, contact,
                                                  bake.BakeOptions(key_storage=args.key_storage),
                                                  foot_lock=not args.no_foot_lock, in_place=args.in_place)
    except bake.BakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["warnings"] += res.messages
    report["contact_percent"] = {side: float(100.0 * contact[:, i].mean())
                                 for i, side in enumerate(("left", "right"))}
    report["frames"] = res.frames
    report["fps"] = bake.scene_fps(scene)
    report["scale"] = res.scale
    report["action"] = res.action.name
    report["key_storage"] = res.key_storage
    followed = reconstruct_op.insoles_follow_feet(context, created["root"], arm,
                                                  reconstruct_op.current_bone_map(context, arm).mapping)
    report["insoles_following_feet"] = followed
    scene.frame_start = res.frame_start
    scene.frame_end = res.frame_start + res.frames - 1
    report["seconds"]["bake"] = time.perf_counter() - t0
    report["bake_seconds"] = dict(res.seconds)     # post-processing vs writing the action

    t0 = time.perf_counter()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    for kind, path in (("bvh", args.bvh), ("fbx", args.fbx)):
        if path:
            export.export_take(context, kind, path, arm, res.action)
            report[kind] = os.path.abspath(path)
    if args.png:
        frame = scene.frame_start + (scene.frame_end - scene.frame_start) // 2
        scene.frame_set(frame)
        render_preview.setup_workbench(scene, (960, 540))
        frame_character(scene, arm)
        render_preview.render_png(scene, os.path.abspath(args.png), frame)
        report["png"] = os.path.abspath(args.png)
    bpy.ops.wm.save_as_mainfile(filepath=out, check_existing=False)
    report["blend"] = out
    report["seconds"]["export"] = time.perf_counter() - t0
    print(f"saved {out}: {res.frames} frames at {bake.scene_fps(scene):g} fps on {arm.name}")
    if result is not None:
        info = report["model_set"]
        print(f"model set {info['name']} ({info['path']}), use: {info['use']}; trained on: "
              f"{'; '.join(info['licence']) or 'unknown'}")
        sec = report["seconds"]
        print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in sec.items()))
    print("contact: " + ", ".join(f"{k} {v:.0f} %" for k, v in report["contact_percent"].items()))
    if "spread_m" in report:
        worst = sorted(report["spread_m"].items(), key=lambda kv: -kv[1]["mean"])[:3]
        print(f"spread of {report['samples']} hypotheses (mean, m): "
              + ", ".join(f"{j} {v['mean']:.3f}" for j, v in worst))
    for w in report["warnings"]:
        print(f"warning: {w}")
    if args.json:
        _write_json(args.json, report)
    return 0


def frame_character(scene, arm, tilt_deg: float = 16.0):
    """A camera looking at the character from the front-left, framing its whole path at this frame."""
    import math

    import bpy
    from mathutils import Vector
    cam = bpy.data.objects.get("S2M Preview Camera")
    if cam is None:
        cam = bpy.data.objects.new("S2M Preview Camera", bpy.data.cameras.new("S2M Preview Camera"))
        scene.collection.objects.link(cam)
    scene.camera = cam
    cam.data.lens = 50.0
    hips = arm.matrix_world @ arm.pose.bones[0].head
    height = float(arm.get("s2m_height", 1.75))
    target = Vector((hips.x, hips.y, height * 0.5))
    dist = height * 2.9
    direction = Vector((0.55, -1.0, math.tan(math.radians(tilt_deg)))).normalized()
    cam.location = target + direction * dist
    cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
    # Studio light shows the body's shape (flat light would make it a silhouette).
    scene.display.shading.light = "STUDIO"
    scene.display.shading.show_cavity = True
    if "S2M Ground" not in bpy.data.objects:
        from ..blender import meshes
        ground = bpy.data.objects.new("S2M Ground", meshes.ground_mesh("S2M Ground", 30.0, (0.05, 0.055, 0.06)))
        scene.collection.objects.link(ground)
    return cam


def _write_json(path, report) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1)
