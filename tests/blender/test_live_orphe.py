# SPDX-License-Identifier: GPL-3.0-or-later
"""ORPHE insoles (6 cells, no force/COP in the packets) in the live view.

ORPHE type-56 notifications (built like the emulated ORPHE insole builds them)
go through the ORPHE decoder into a real LiveSession, as OrpheBleSource's
notification callback does, and ``drain_into_scene`` is called directly.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from step2motion_addon.blender import colormap, live  # noqa: E402
from step2motion_addon.core import insole  # noqa: E402
from step2motion_addon.devices import orphe  # noqa: E402
from step2motion_addon.devices.emulator_orphe_ble import encode_100hz  # noqa: E402

TOE_MEDIAL, MID_MEDIAL, TOE_LATERAL, CENTRE, MID_LATERAL, HEEL = range(6)
SCALE = 0.01                # counts of 0.01 N/cm², like the emulated insole
SIZE = 5
ACC = (0.0, 0.0, 1.0)
GYRO = (0.0, 0.0, 0.0)
HEEL_CELLS = (0, 1, 2, 3)           # Moticon heel cells
TOE_CELLS = (13, 14, 15)            # hallux, toes 2-3, toes 4-5


def _cells(**loaded) -> tuple:
    """Six ORPHE counts: the named cells loaded, the others 0."""
    c = [0] * 6
    for name, counts in loaded.items():
        c[globals()[name.upper()]] = counts
    return tuple(c)


def _packets(first: int, n: int, samples) -> list[bytes]:
    """``n`` type-56 packets; ``samples(k)`` gives packet k's two cell tuples, oldest first."""
    out = []
    for k in range(n):
        pair = samples(first + k)
        out.append(encode_100hz(first + k, 36000.0 + 0.02 * (first + k), [(ACC, GYRO, c) for c in pair]))
    return out


class OrpheNotifications:
    """Two batches of packets per foot; the second waits for ``go``. The callback's work, no Bluetooth."""

    def __init__(self, batches: dict):
        self.batches = batches          # side -> (first batch, second batch)
        self.go = threading.Event()
        self.last = {}                  # side -> newest decoded frame sent

    async def run(self, session):
        for b in range(2):
            if b:
                while not self.go.is_set():
                    await asyncio.sleep(0.005)
            for i in range(max(len(batches[b]) for batches in self.batches.values())):
                for side, batches in self.batches.items():     # the feet's packets interleave
                    if i < len(batches[b]):
                        data = batches[b][i]
                        cfg = orphe.OrpheConfig(side=side, pressure_scale=SCALE)
                        frames = orphe.decode(data, cfg, time.monotonic_ns())
                        session.good_packet("orphe")
                        session.ingest(frames, data, "orphe")
                        self.last[side] = frames[-1]
                await asyncio.sleep(0)


@pytest.fixture
def ctl():
    c = live.LiveController()
    yield c
    c.shutdown()


def _received(ctl) -> int:
    return sum(f["received"] for f in ctl.session.stats()["feet"].values())


def _drain_all(scene, ctl, want: int, max_frames: int = 16) -> None:
    """Ticks of at most ``max_frames`` until ``want`` frames were taken (older ones dropped from display)."""
    end = time.monotonic() + 30.0           # only against a hang; nothing here is timed
    while ctl.frames_drained + ctl.display_dropped < want and time.monotonic() < end:
        if not live.drain_into_scene(scene, ctl, max_frames):
            time.sleep(0.005)
    assert ctl.frames_drained + ctl.display_dropped == want


def _props(ob) -> np.ndarray:
    return np.array([ob[f"pressure_{c:02d}"] for c in range(1, 17)])


def _child(ob, role):
    return next(c for c in ob.children if c.get("s2m_role") == role)


def test_regions_cover_the_16_cell_mesh_once():
    cells = sorted(c for region in insole.ORPHE6_REGIONS.values() for c in region)
    assert cells == list(range(16))
    assert set(insole.ORPHE6_REGIONS) == set(orphe.CELL_NAMES)
    p = insole.as_moticon16(np.arange(1.0, 7.0))
    for k, name in enumerate(orphe.CELL_NAMES):
        assert (p[list(insole.ORPHE6_REGIONS[name])] == k + 1).all()
    # Geometry: the area-weighted region centres are where the names say (X toe-ward, +Y medial).
    for k, name in enumerate(orphe.CELL_NAMES):
        one = np.zeros(6)
        one[k] = 1.0
        _, (cx, cy) = insole.force_and_cop(insole.as_moticon16(one), SIZE)
        if "toe" in name:
            assert cx > 0.25, name
        if name == "heel":
            assert cx < -0.3
        if "medial" in name:
            assert cy > 0.1, name
        if "lateral" in name:
            assert cy < -0.2, name


def test_orphe_frames_drive_heatmap_cop_and_arrow(empty_scene, ctl, face_rgb):
    scene = empty_scene
    n = 25              # packets per foot and batch: 50 frames
    # Left: toes first, then the heel. Right: heel first, then the big toe (toe medial).
    # In each foot's very last packet the older sample still has the first load: only the
    # newest frame may show.
    left_toes = _cells(toe_medial=1500, toe_lateral=1200)
    left_heel = _cells(heel=2500)
    right_heel = _cells(heel=2000, mid_lateral=300)
    right_toe = _cells(toe_medial=1800)
    src = OrpheNotifications({
        "left": (_packets(0, n, lambda k: (left_toes, left_toes)),
                 _packets(n, n, lambda k: (left_toes if k == 2 * n - 1 else left_heel, left_heel))),
        "right": (_packets(0, n, lambda k: (right_heel, right_heel)),
                  _packets(n, n, lambda k: (right_heel if k == 2 * n - 1 else right_toe, right_toe))),
    })
    ctl.start(src, "ble", "ORPHE (emulated notifications)", scene=scene, insole_size=SIZE)
    views = ctl.view_objects()
    root = ctl.view_root()
    area = insole.cell_areas(SIZE)

    # First batch: the left foot on its toes, the right on its heel.
    end = time.monotonic() + 30.0
    while _received(ctl) < 4 * n and time.monotonic() < end:
        time.sleep(0.005)
    _drain_all(scene, ctl, 4 * n)
    first = {s: (views[s]["cop_x"], views[s]["cop_y"]) for s in views}
    assert first["left"][0] > 0.25 and first["right"][0] < -0.25
    assert (_props(views["left"])[list(HEEL_CELLS)] == 0).all()

    src.go.set()
    assert ctl.session.wait(30.0)
    assert not ctl.session.errors
    _drain_all(scene, ctl, 8 * n)
    scene.frame_set(scene.frame_current + 1)        # the timeline moving changes nothing

    # Exactly the newest frame of each foot, on its regions.
    for side in ("left", "right"):
        np.testing.assert_array_equal(ctl.latest[side].pressure, src.last[side].pressure)
        assert ctl.latest[side].layout == "orphe6" and ctl.latest[side].force is None
    left, right = _props(views["left"]), _props(views["right"])
    assert left[list(HEEL_CELLS)] == pytest.approx([25.0] * 4)      # the loaded heel
    assert (left[list(TOE_CELLS)] == 0).all() and (left[8:] == 0).all()   # the unloaded toes
    assert right[13] == pytest.approx(18.0) and right[8] == pytest.approx(18.0)   # hallux, metatarsal 1
    assert (right[list(HEEL_CELLS)] == 0).all() and right[15] == 0

    # Force and COP from the 6 cells: value x region area, COP towards the loaded cells.
    lf, (lx, ly) = views["left"]["total_force"], (views["left"]["cop_x"], views["left"]["cop_y"])
    rf, (rx, ry) = views["right"]["total_force"], (views["right"]["cop_x"], views["right"]["cop_y"])
    assert lf == pytest.approx(25.0 * area[list(HEEL_CELLS)].sum(), rel=1e-5)
    assert rf == pytest.approx(18.0 * (area[8] + area[13]), rel=1e-5)
    heel_x = (area[:4] * insole.CELL_X[:4]).sum() / area[:4].sum()
    assert lx == pytest.approx(heel_x, abs=1e-6) and lx < -0.3 < 0.25 < first["left"][0]
    assert rx > 0.3 > -0.25 > first["right"][0] and ry > 0.15          # big toe: forward and medial
    assert views["left"]["contact"] == 1.0 and views["right"]["contact"] == 1.0

    # What the drivers make of it: the marker and the arrow sit on the COP, the arrow's length is
    # the force, the heel faces are coloured and the toe faces are not.
    dg = bpy.context.evaluated_depsgraph_get()
    length = insole.insole_length(SIZE)
    top = float(root["s2m_color_max"])
    k = float(root["s2m_arrow_scale"])
    face_colours = {}
    for side, f, (cx, cy) in (("left", lf, (lx, ly)), ("right", rf, (rx, ry))):
        ob = views[side]
        sign = 1.0 if side == "right" else -1.0
        marker = _child(ob, "cop").evaluated_get(dg)
        arrow = _child(ob, "force_arrow").evaluated_get(dg)
        assert marker.location.x == pytest.approx(cx * length, abs=1e-5)
        assert marker.location.y == pytest.approx(sign * cy * length * insole.WIDTH_RATIO, abs=1e-5)
        assert tuple(arrow.location)[:2] == pytest.approx(tuple(marker.location)[:2], abs=1e-6)
        assert arrow.scale.z == pytest.approx(f * k / 1000.0, rel=1e-4) and arrow.scale.z > 0.05
        cells, rgb = face_rgb(ob, dg)
        p = _props(ob)
        np.testing.assert_allclose(rgb, colormap.colour_linear(p[cells] / top), atol=2e-3)
        face_colours[side] = (cells, rgb)
    cells, rgb_left = face_colours["left"]
    heel_rgb = rgb_left[np.isin(cells, HEEL_CELLS)]
    toe_rgb = rgb_left[np.isin(cells, TOE_CELLS)]
    assert not np.allclose(heel_rgb.mean(axis=0), toe_rgb.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(toe_rgb, np.broadcast_to(colormap.colour_linear(np.zeros(1)), toe_rgb.shape),
                               atol=2e-3)


def test_zeroed_orphe_foot_recomputes_force_from_the_cells(empty_scene, ctl):
    """A baseline on a 6-cell foot is subtracted and force/COP follow the corrected cells."""
    scene = empty_scene
    offset, heel = _cells(heel=100, toe_medial=100), _cells(heel=2100, toe_medial=100)
    src = OrpheNotifications({"left": (_packets(0, 30, lambda k: (offset, offset)),
                                       _packets(30, 5, lambda k: (heel, heel)))})
    ctl.start(src, "ble", "ORPHE (emulated notifications)", scene=scene, insole_size=SIZE)
    end = time.monotonic() + 30.0
    while _received(ctl) < 60 and time.monotonic() < end:
        time.sleep(0.005)
    _drain_all(scene, ctl, 60)
    base = ctl.zero(("left",))["left"]
    assert base.shape == (6,) and base[HEEL] == pytest.approx(1.0) and base[TOE_MEDIAL] == pytest.approx(1.0)
    src.go.set()
    assert ctl.session.wait(30.0)
    _drain_all(scene, ctl, 70)
    ob = ctl.view_objects()["left"]
    p = _props(ob)
    assert p[list(HEEL_CELLS)] == pytest.approx([20.0] * 4, abs=1e-4) and p[13] == pytest.approx(0.0, abs=1e-4)
    area = insole.cell_areas(SIZE)
    assert ob["total_force"] == pytest.approx(20.0 * area[:4].sum(), rel=1e-4)
    assert ob["cop_x"] < -0.3
