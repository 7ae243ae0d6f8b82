# SPDX-License-Identifier: GPL-3.0-or-later
"""``import``: build the animated insole scene of a recording headlessly, save a .blend and a PNG."""

from __future__ import annotations

import os
import sys

HELP = "import a recording into a new .blend (animated insoles) and render a preview PNG"


def add_arguments(parser) -> None:
    parser.add_argument("file", help="recording: Moticon .txt, generic .csv or native .s2m")
    parser.add_argument("--blend", required=True, help="output .blend file")
    parser.add_argument("--png", help="also render a Workbench preview to this PNG")
    parser.add_argument("--frame", type=int, help="frame to render (default: the frame of peak total force)")
    parser.add_argument("--fps", type=float, default=30.0,
                        help="scene frame rate (default 30; 0 keeps the take's sample rate)")
    parser.add_argument("--color-max", type=float, default=0.0,
                        help="pressure at the top of the colour map in N/cm² (default: automatic)")
    parser.add_argument("--resolution", default="960x540", help="preview size WxH (default 960x540)")


def run(args) -> int:
    from ..core.formats import load_take   # raises TakeError: the dispatcher prints it, exit code 2

    take = load_take(args.file)
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        print(f"error: --resolution must look like 960x540, got {args.resolution!r}", file=sys.stderr)
        return 2

    import bpy   # Blender as a module; only this command needs it

    from ..blender import insole_scene, render_preview

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    options = insole_scene.SceneOptions(fps=args.fps or None, color_max=args.color_max)
    created = insole_scene.build_take_scene(bpy.context, take, options)
    root = created["root"]
    frame = args.frame if args.frame is not None else int(root["s2m_peak_frame"])
    frame = min(max(frame, scene.frame_start), scene.frame_end)
    render_preview.setup_workbench(scene, (width, height))
    render_preview.frame_camera(scene, created)
    scene.frame_set(frame)
    blend = os.path.abspath(args.blend)
    os.makedirs(os.path.dirname(blend) or ".", exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=blend, check_existing=False)
    print(f"saved {blend}: {take.duration:.1f} s, {scene.frame_end - scene.frame_start + 1} frames "
          f"at {scene.render.fps / scene.render.fps_base:g} fps")
    if args.png:
        png = os.path.abspath(args.png)
        os.makedirs(os.path.dirname(png) or ".", exist_ok=True)
        render_preview.render_png(scene, png, frame)
        print(f"rendered {png} (frame {frame})")
    for line in take.report:
        print(f"note: {line}")
    return 0
