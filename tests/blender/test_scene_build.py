# SPDX-License-Identifier: GPL-3.0-or-later
"""The take scene holds the recorded values: keyed props, drivers, heatmap colours, geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from mathutils import Vector  # noqa: E402

from step2motion_addon.blender import colormap, insole_scene, node_groups  # noqa: E402
from step2motion_addon.blender.insole_scene import SceneOptions  # noqa: E402
from step2motion_addon.core import insole  # noqa: E402
from step2motion_addon.core.synthetic import synthetic_walk  # noqa: E402


@pytest.fixture(scope="module")
def walk():
    return synthetic_walk(duration=6.0, rate=100.0, seed=3)


def _expected(stream, t, values):
    ok = stream.valid
    v = np.asarray(values)
    return np.array([np.interp(t, stream.time[ok], v[ok][:, k]) for k in range(v.shape[1])]) \
        if v.ndim == 2 else float(np.interp(t, stream.time[ok], v[ok]))


def _face_centres(ob, depsgraph=None):
    """World-space centres and cells of the (evaluated) insole faces."""
    me = ob.data
    n = len(me.polygons)
    centres = np.empty(n * 3)
    me.polygons.foreach_get("center", centres)
    cells = np.empty(n, dtype=np.int32)
    me.attributes["cell"].data.foreach_get("value", cells)
    mw = np.array(ob.matrix_world)
    pts = np.c_[centres.reshape(-1, 3), np.ones(n)] @ mw.T
    return pts[:, :3], cells


def test_keyed_values_equal_resampled_recording(empty_scene, walk):
    created = insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=30.0))
    scene = empty_scene
    assert (scene.render.fps, scene.render.fps_base) == (30, 1.0)
    assert scene.frame_start == 1
    assert scene.frame_end == 1 + math.floor(walk.duration * 30 + 1e-6)
    for side in ("left", "right"):
        ob = created[f"insole_{side}"]
        assert ob["s2m_role"] == "insole" and ob["s2m_side"] == side
        stream = walk.feet[side]
        for frame in (1, 40, 77, 121, scene.frame_end):
            scene.frame_set(frame)
            t = walk.start + (frame - 1) / 30.0
            want_p = _expected(stream, t, stream.pressure)
            got_p = np.array([ob[f"pressure_{c:02d}"] for c in range(1, 17)])
            np.testing.assert_allclose(got_p, want_p, atol=1e-4)
            assert ob["total_force"] == pytest.approx(_expected(stream, t, stream.force), abs=1e-2)
            np.testing.assert_allclose([ob["cop_x"], ob["cop_y"]], _expected(stream, t, stream.cop), atol=1e-5)


def test_keep_take_rate_and_fractional_fps(empty_scene, walk):
    insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=None))
    assert empty_scene.render.fps == 100
    assert empty_scene.frame_end == 1 + round(walk.duration * 100)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=29.97))
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(29.97)


def test_left_is_mirror_of_right(empty_scene, heel_take):
    created = insole_scene.build_take_scene(bpy.context, heel_take(), SceneOptions())
    hallux = insole.CELL_NAMES.index("hallux")
    little = insole.CELL_NAMES.index("toes 4-5")
    xs = {}
    for side in ("left", "right"):
        ob = created[f"insole_{side}"]
        pts, cells = _face_centres(ob)
        xs[side] = (pts[cells == hallux, 0].mean(), pts[cells == little, 0].mean(), ob.location.x)
        # Toes point forward (+Y) on both feet.
        assert pts[cells == hallux, 1].mean() > pts[cells == 0, 1].mean() + 0.1
    # Feet side by side, left at -X; the big toe is on the inner side of each foot.
    assert xs["left"][2] < 0 < xs["right"][2]
    assert xs["right"][0] < xs["right"][1]
    assert xs["left"][0] > xs["left"][1]
    assert xs["right"][0] - xs["right"][2] == pytest.approx(-(xs["left"][0] - xs["left"][2]), abs=1e-6)


def test_arrow_and_marker_follow_force_and_cop(empty_scene, walk):
    opts = SceneOptions(fps=30.0, arrow_scale=0.3)
    created = insole_scene.build_take_scene(bpy.context, walk, opts)
    scene = empty_scene
    ins, arrow, cop = created["insole_right"], created["arrow_right"], created["cop_right"]
    size = walk.meta.insole_size
    ratios, unloaded = [], 0
    for frame in range(1, scene.frame_end, 7):
        scene.frame_set(frame)
        length = arrow.matrix_world.to_scale().z
        if ins["contact"]:
            ratios.append(length / ins["total_force"])
            local = insole.to_metres(np.array([ins["cop_x"], ins["cop_y"]]), "right", size)
            # 0.1 mm: Blender 5.0.1 writes scripted-driver results below 1e-4 as 0.
            assert tuple(cop.location)[:2] == pytest.approx(tuple(local), abs=1e-4)
            assert cop.matrix_world.to_scale().x == pytest.approx(1.0)
        else:
            unloaded += 1
            assert length == 0.0 and cop.matrix_world.to_scale().x == 0.0
    assert unloaded > 0 and len(ratios) > 10
    np.testing.assert_allclose(ratios, 0.3 / 1000.0, rtol=1e-5)
    # The option is live: halving it halves the arrows without re-keying.
    insole_scene.set_option(created["root"], "s2m_arrow_scale", 0.15)
    scene.frame_set(int(created["root"]["s2m_peak_frame"]))
    assert arrow.matrix_world.to_scale().z == pytest.approx(ins["total_force"] * 0.15 / 1000.0, rel=1e-5)
    insole_scene.set_option(created["root"], "s2m_show_arrows", False)
    scene.frame_set(scene.frame_current)
    assert arrow.matrix_world.to_scale().z == 0.0


def test_heatmap_colours_follow_pressure_and_range(empty_scene, walk, face_rgb):
    created = insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=30.0, color_max=20.0))
    scene = empty_scene
    ob = created["insole_left"]
    for frame, top in ((int(created["root"]["s2m_peak_frame"]), 20.0), (60, 40.0)):
        insole_scene.set_option(created["root"], "s2m_color_max", top)
        scene.frame_set(frame)
        cells, rgb = face_rgb(ob, bpy.context.evaluated_depsgraph_get())
        pressures = np.array([ob[f"pressure_{c:02d}"] for c in range(1, 17)])
        assert pressures.max() > 1.0
        want = colormap.colour_linear(pressures[cells] / top)
        np.testing.assert_allclose(rgb, want, atol=2e-3)
    assert created["legend_label_100"].data.body == "40"
    assert created["legend_label_50"].data.body == "20"


def test_trace_keeps_last_frames(empty_scene, walk):
    created = insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=30.0, trace_length=10))
    scene = empty_scene
    trace, ins = created["trace_right"], created["insole_right"]
    frames = np.empty(len(trace.data.polygons), dtype=np.int32)
    trace.data.attributes["frame"].data.foreach_get("value", frames)
    scene.frame_set(int(frames[len(frames) // 2]))     # mid-stance of the right foot
    dg = bpy.context.evaluated_depsgraph_get()
    shown = len(trace.evaluated_get(dg).data.polygons)
    now = scene.frame_current
    assert shown == np.count_nonzero((frames <= now) & (frames > now - 10)) > 0
    insole_scene.set_option(created["root"], "s2m_show_trace", False)
    scene.frame_set(now)
    assert len(trace.evaluated_get(bpy.context.evaluated_depsgraph_get()).data.polygons) == 0


def test_step_events_are_markers_and_keyed(empty_scene, walk):
    created = insole_scene.build_take_scene(bpy.context, walk, SceneOptions(fps=30.0))
    scene = empty_scene
    names = [m.name for m in scene.timeline_markers]
    assert "L HS" in names and "R TO" in names
    marker = next(m for m in scene.timeline_markers if m.name == "R HS")
    scene.frame_set(marker.frame)
    assert created["insole_right"]["step_event"] == 21
    scene.frame_set(marker.frame + 1)
    assert created["insole_right"]["step_event"] in (0, 25)


def test_geometry_is_procedural_and_heatmap_node_group_shared(empty_scene, heel_take):
    created = insole_scene.build_take_scene(bpy.context, heel_take(), SceneOptions())
    for side in ("left", "right"):
        me = created[f"insole_{side}"].data
        cells = np.empty(len(me.polygons), dtype=np.int32)
        me.attributes["cell"].data.foreach_get("value", cells)
        assert set(cells.tolist()) == set(range(16))
        # Boundary snapped onto the outline: the mesh spans the insole's full length.
        xs = np.array([v.co.x for v in me.vertices])
        length = insole.insole_length(5)
        assert xs.min() == pytest.approx(-length / 2, abs=0.004)
        assert xs.max() == pytest.approx(length / 2, abs=0.004)
        assert created[f"insole_{side}"].modifiers[0].node_group.name == node_groups.HEATMAP_GROUP
        assert Vector(created[f"insole_{side}"].data.polygons[0].normal).z > 0.99


def test_a_recorded_six_cell_orphe_take_shows_on_its_foot_regions(empty_scene, tmp_path):
    """An ORPHE take (6 cells, no force/COP channels) imports with a heatmap, force and COP."""
    from step2motion_addon.core.formats import load_take, save_take
    from step2motion_addon.core.take import FootStream, Take, TakeMeta
    t = np.arange(200) / 100.0
    p = np.zeros((200, 6), np.float32)
    p[:100, insole.ORPHE6_CELLS.index("heel")] = 20.0        # first second on the heel,
    p[100:, insole.ORPHE6_CELLS.index("toe medial")] = 20.0  # then on the big toe
    feet = {s: FootStream(s, t, p.copy(), layout="orphe6") for s in ("left", "right")}
    path = tmp_path / "orphe.s2m"
    save_take(Take(feet, TakeMeta(device="ORPHE INSOLE", insole_size=5)), str(path))
    take = load_take(path)
    assert take.feet["left"].cells == 6
    created = insole_scene.build_take_scene(bpy.context, take, SceneOptions(fps=10.0))
    ob = created["insole_right"]
    heel = [c + 1 for c in insole.ORPHE6_REGIONS["heel"]]
    big_toe = [c + 1 for c in insole.ORPHE6_REGIONS["toe medial"]]
    empty_scene.frame_set(4)                                   # 0.3 s: heel loaded
    assert all(ob[f"pressure_{c:02d}"] == pytest.approx(20.0) for c in heel)
    assert all(ob[f"pressure_{c:02d}"] == 0.0 for c in big_toe)
    areas = insole.cell_areas(5)
    assert ob["total_force"] == pytest.approx(20.0 * sum(areas[c - 1] for c in heel), rel=1e-4)
    heel_x = ob["cop_x"]
    empty_scene.frame_set(16)                                  # 1.5 s: big toe loaded
    assert all(ob[f"pressure_{c:02d}"] == pytest.approx(20.0) for c in big_toe)
    assert ob["cop_x"] > heel_x + 0.4 and ob["cop_y"] > 0.05   # forward, and medial (+Y)
