# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake speed: a 1-hour canonical motion at 30 fps onto the default character (target ≤ 10 s).

Run: ``.venv/bin/python -m bench.bench_bake`` (needs the bpy module). Figures:
retargeting (numpy), writing the keys (bulk F-curves), foot locking of the hour,
peak Python/numpy memory (tracemalloc) and the process's peak RSS. The
reference, measured in the same run, bakes the same channels with per-frame
``keyframe_insert`` over a short span, extrapolated to the hour. The bakes keep
keyframes (``key_storage="keyframes"``); one more bake stores sampled points, what
"auto" picks for an hour (memory per storage: ``bench.bench_reconstruct``).
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np


def _walk(frames: int, fps: float = 30.0):
    from step2motion_addon.blender.character import default_offsets
    from step2motion_addon.core.motion import rotations as rot
    from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion
    t = np.arange(frames) / fps
    ph = 2 * np.pi * 0.9 * t
    rots = np.zeros((frames, 22, 4))
    rots[..., 0] = 1.0
    x = np.broadcast_to([1.0, 0, 0], (frames, 3))
    for s, lag in (("Left", 0.0), ("Right", np.pi)):
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(x, -0.4 * np.sin(ph + lag))
        rots[:, J[s + "Leg"]] = rot.from_axis_angle(x, 0.5 * np.clip(np.sin(ph + lag + 1.2), 0, None))
        rots[:, J[s + "Arm"]] = rot.from_axis_angle(np.broadcast_to([0, 0, 1.0], (frames, 3)), 0.3 * np.sin(ph + lag))
    rots[:, J["Hips"]] = rot.yaw(0.2 * t)                  # slowly turning: a circle every ~30 s
    root = np.stack([np.cos(0.2 * t), np.sin(0.2 * t), 0.93 + 0.02 * np.cos(2 * ph)], axis=1) * [5, 5, 1]
    contact = np.stack([np.sin(ph + 1.2) < -0.1, np.sin(ph + np.pi + 1.2) < -0.1], axis=1)
    return Motion(fps, default_offsets(1.75), rots, root), contact


def _reference_keyframe_insert(arm, frames: int) -> float:
    """Seconds per frame for keyframe_insert of the same channels (measured here)."""
    bones = list(arm.pose.bones)
    t0 = time.perf_counter()
    for f in range(frames):
        for pb in bones:
            pb.rotation_quaternion = (1.0, 0.001 * f, 0.0, 0.0)
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        bones[0].location = (0.0, 0.001 * f, 0.0)
        bones[0].keyframe_insert("location", frame=f + 1)
    return (time.perf_counter() - t0) / frames


def main(duration_s: float = 3600.0, fps: float = 30.0) -> dict:
    import bpy

    from step2motion_addon.blender import bake, character, retarget
    from step2motion_addon.core import postprocess

    frames = int(duration_s * fps)
    motion, contact = _walk(frames, fps)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = int(fps)
    arm = character.create_character(bpy.context)
    bm = retarget.detect_bone_map(arm)

    t0 = time.perf_counter()
    locked, _ = postprocess.postprocess(motion, contact, toe_height=0.02)
    t_post = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = retarget.retarget(locked, arm, bm.mapping)
    t_retarget = time.perf_counter() - t0
    del res
    t0 = time.perf_counter()
    result = bake.bake_motion(bpy.context, arm, locked, bm, bake.BakeOptions(name="hour", key_storage="keyframes"))
    t_bake = time.perf_counter() - t0
    curves = len(bake.action_fcurves(result.action))
    keys = curves * result.frames
    # Memory in a second, traced bake (tracing slows numpy down ~3×, so it is not timed).
    tracemalloc.start()
    bake.bake_motion(bpy.context, arm, locked, bm,
                     bake.BakeOptions(name="hour traced", key_storage="keyframes"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    bake.bake_motion(bpy.context, arm, locked, bm, bake.BakeOptions(name="hour samples", key_storage="samples"))
    t_samples = time.perf_counter() - t0

    ref_frames = 60
    ref_arm = character.create_character(bpy.context, name="Reference", with_mesh=False)
    per_frame = _reference_keyframe_insert(ref_arm, ref_frames)
    ref_hour = per_frame * frames
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    rows = [
        ("motion", f"{duration_s / 60:.0f} min at {fps:g} fps = {frames} frames, {curves} F-curves, {keys / 1e6:.1f} M keys"),
        ("foot locking + ground (numpy)", f"{t_post:.2f} s"),
        ("retarget only (numpy)", f"{t_retarget:.2f} s"),
        ("bake_motion (retarget + bulk keys + NLA)", f"{t_bake:.2f} s  (target ≤ 10 s)"),
        ("bake_motion, stored as samples", f"{t_samples:.2f} s"),
        ("keyframe_insert reference (extrapolated)", f"{ref_hour:.0f} s  ({ref_frames} frames measured)"),
        ("speed-up vs keyframe_insert", f"{ref_hour / t_bake:.0f}×"),
        ("peak traced memory of one bake (numpy/Python)", f"{peak / 2**20:.0f} MiB"),
        ("peak RSS of the process (three hour-long actions)", f"{rss_mb:.0f} MiB"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return {"post_s": t_post, "retarget_s": t_retarget, "bake_s": t_bake, "samples_bake_s": t_samples,
            "reference_s": ref_hour,
            "peak_traced_mib": peak / 2**20, "rss_mib": rss_mb, "keys": keys}


if __name__ == "__main__":
    main()
