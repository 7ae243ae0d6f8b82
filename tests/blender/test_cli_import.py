# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m step2motion_addon import FILE --blend --png`` as a user runs it: a fresh process, real files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "step2motion_addon", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_import_writes_a_blend_with_the_animated_insoles_and_a_preview(tmp_path, empty_scene):
    from step2motion_addon.core.formats import load_take
    blend, png = tmp_path / "out" / "demo.blend", tmp_path / "out" / "demo.png"
    r = _cli("import", DEMO, "--blend", blend, "--png", png, "--resolution", "320x180")
    assert r.returncode == 0, r.stderr
    assert blend.is_file() and png.is_file()
    take = load_take(DEMO)

    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(30.0)
    frames = scene.frame_end - scene.frame_start + 1
    assert abs(frames - take.duration * 30.0) <= 2
    sides = sorted(ob["s2m_side"] for ob in bpy.data.objects if ob.get("s2m_role") == "insole")
    assert sides == ["left", "right"]
    assert sum(ob.get("s2m_role") == "cop" for ob in bpy.data.objects) == 2

    img = bpy.data.images.load(str(png))
    assert tuple(img.size) == (320, 180)
    px = np.array(img.pixels[:]).reshape(-1, 4)[:, :3]
    assert px.std(axis=0).max() > 0.05            # a picture, not a blank frame


def test_import_of_a_bad_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "broken.txt"
    bad.write_text("this is not a recording\n")
    r = _cli("import", bad, "--blend", tmp_path / "x.blend")
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "broken.txt" in err[0]
    assert not (tmp_path / "x.blend").exists()
