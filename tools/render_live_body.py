# SPDX-License-Identifier: GPL-3.0-or-later
"""Render docs/img/live_body.png: the live insoles and the default character following a replay.

    .venv/bin/python tools/render_live_body.py [--models DIR] [--seconds 5.5] [--out docs/img/live_body.png]

The demo take is replayed in real time through the live controller exactly as
the panel does (Replay source + Follow with Character, in place), drained at
60 Hz; then one Workbench frame is rendered. Uses the first model set found
(``--models``, ``$STEP2MOTION_MODELS``, ``models/step2motion-best``, ``runs/smoke/model_set``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="")
    ap.add_argument("--seconds", type=float, default=5.5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "live_body.png"))
    args = ap.parse_args(argv)
    import bpy
    from mathutils import Vector

    from step2motion_addon.blender import live, render_preview
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import ModelSet
    from step2motion_addon.devices.replay import ReplaySource

    dirs = [args.models, os.environ.get("STEP2MOTION_MODELS", ""), ROOT / "models" / "step2motion-best",
            ROOT / "runs" / "smoke" / "model_set"]
    path = next((Path(d) for d in dirs if d and (Path(d) / "model_set.json").is_file()), None)
    if path is None:
        print("no model set found", file=sys.stderr)
        return 1
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    demo = load_take(str(ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"))
    ctl = live.LiveController()
    ctl.start(ReplaySource(demo, rate=1.0), "replay", "replay demo", scene=scene, insole_size=demo.meta.insole_size)
    body = ctl.follow(bpy.context, models=ModelSet(path, intra_op_threads=1), hop=10, in_place=True)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        live.drain_into_scene(scene, ctl, live.MAX_FRAMES)
        time.sleep(1 / 60)
    while body.rec.due():
        time.sleep(0.01)
    live.drain_into_scene(scene, ctl, live.MAX_FRAMES)
    stats = body.stats()
    ctl.stop()
    render_preview.setup_workbench(scene, (960, 720))
    data = bpy.data.cameras.new("S2M Live Camera")
    cam = bpy.data.objects.new("S2M Live Camera", data)
    scene.collection.objects.link(cam)
    data.lens = 40.0
    target = Vector((0.0, 0.0, 0.75))
    cam.location = Vector((2.4, -2.9, 2.3))
    cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    scene.display.shading.color_type = "VERTEX"
    scene.display.shading.light = "STUDIO"          # the body's shape reads better than with flat light
    render_preview.render_png(scene, args.out)
    print(f"wrote {args.out}; model set {path}; {stats['windows']} windows, pose {body.applied_pose.frame}, "
          f"latency p50 {stats['fresh_ms_p50']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
