# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene build speed: a 1-hour two-foot take at 30 fps, against per-frame keyframe_insert.

Run: ``.venv/bin/python -m bench.bench_scene`` (needs the bpy module). The
reference writes the same kind of keys (custom properties on one object) with
``keyframe_insert`` for a short span in the same run, extrapolated to the
hour's key count.
"""

from __future__ import annotations

import time


def _reference_keyframe_insert(frames: int, props: int) -> float:
    """Seconds per key for keyframe_insert on custom properties (measured here)."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ob = bpy.data.objects.new("ref", None)
    bpy.context.scene.collection.objects.link(ob)
    names = [f"p{k:02d}" for k in range(props)]
    for name in names:
        ob[name] = 0.0
    t0 = time.perf_counter()
    for f in range(frames):
        for k, name in enumerate(names):
            ob[name] = float((f * 7 + k) % 13)
            ob.keyframe_insert(f'["{name}"]', frame=f + 1)
    return (time.perf_counter() - t0) / (frames * props)


def main(duration_s: float = 3600.0, fps: float = 30.0) -> dict:
    import bpy

    from step2motion_addon.blender import insole_scene
    from step2motion_addon.core.synthetic import synthetic_walk

    t0 = time.perf_counter()
    take = synthetic_walk(duration=duration_s, rate=100.0, seed=0)
    t_take = time.perf_counter() - t0

    bpy.ops.wm.read_factory_settings(use_empty=True)
    t0 = time.perf_counter()
    created = insole_scene.build_take_scene(bpy.context, take, insole_scene.SceneOptions(fps=fps))
    t_build = time.perf_counter() - t0
    scene = bpy.context.scene
    frames = scene.frame_end - scene.frame_start + 1
    curves = keys = 0
    for side in take.sides:
        ob = created[f"insole_{side}"]
        action = ob.animation_data.action
        bags = ([action] if not hasattr(action, "layers") or not len(action.layers)
                else [s.channelbag(ob.animation_data.action_slot) for l in action.layers for s in l.strips])
        for bag in bags:
            for fc in bag.fcurves:
                curves += 1
                keys += len(fc.keyframe_points)
    t0 = time.perf_counter()
    for f in (scene.frame_start, frames // 3, frames // 2, scene.frame_end):
        scene.frame_set(int(f))
    t_frame = (time.perf_counter() - t0) / 4

    per_key_ref = _reference_keyframe_insert(frames=150, props=20)
    t_ref = per_key_ref * keys
    rows = [
        ("take", f"{duration_s / 3600:.2f} h two feet at 100 Hz (synthetic_walk: {t_take:.2f} s)"),
        ("scene", f"{frames} frames at {fps:g} fps, {curves} F-curves, {keys / 1e6:.2f} M keys"),
        ("build_take_scene", f"{t_build:.2f} s  (budget 10 s)"),
        ("frame change", f"{t_frame * 1000:.1f} ms (drivers + heatmap + trace)"),
        ("keyframe_insert reference", f"{per_key_ref * 1e6:.1f} µs/key → {t_ref:.0f} s for the same keys (extrapolated)"),
        ("speed-up", f"{t_ref / t_build:.0f}×"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return {"build_s": t_build, "keys": keys, "reference_s": t_ref, "frame_s": t_frame}


if __name__ == "__main__":
    main()
