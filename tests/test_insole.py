# SPDX-License-Identifier: GPL-3.0-or-later
"""Insole geometry: the device's own force/COP model and the procedural mesh."""

import numpy as np
import pytest

from step2motion_addon.core import insole


def _real_rows(path):
    """Rows of a Moticon export where the right foot has a full sample (numpy only)."""
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    rows = []
    for line in lines:
        f = line.split("\t")
        right = f[26:51]
        if all(x != "" for x in right):
            rows.append([float(x) for x in right])
    return np.array(rows)


def test_size3_areas_are_070_of_size7():
    assert np.allclose(insole.cell_areas(3) / insole.cell_areas(7), 0.70, atol=1e-3)
    assert np.allclose(insole.cell_areas(7), insole.AREAS_SIZE7)


def test_force_and_cop_reproduce_real_device(moticon_files):
    # The shared recordings hold the device's own force and COP next to the cells.
    path = next(p for p in moticon_files if p.name.startswith("230927_102114"))
    rows = _real_rows(path)
    pressure, force, cop = rows[:, :16], rows[:, 22], rows[:, 23:25]
    ours_force, ours_cop = insole.force_and_cop(pressure, size=7)
    loaded = force > 50
    assert np.corrcoef(ours_force, force)[0, 1] > 0.999
    assert np.median(np.abs(ours_force[loaded] - force[loaded]) / force[loaded]) < 0.02
    assert np.median(np.abs(ours_cop[loaded] - cop[loaded])) < 0.01


def test_unloaded_foot_has_zero_cop():
    force, cop = insole.force_and_cop(np.zeros((3, 16)), size=5)
    assert np.all(force == 0) and np.all(cop == 0)


def test_outline_contains_every_cell_point():
    pts = np.stack([insole.CELL_X, insole.CELL_Y], axis=1)
    assert insole._inside(pts, insole.outline()).all()


def test_grid_mesh_gives_every_cell_a_patch():
    verts, quads, face_cell = insole.grid_mesh(40)
    assert quads.max() < len(verts)
    assert set(face_cell.tolist()) == set(range(16))
    # every face sits closest to its own cell point (Voronoi assignment)
    centres = verts[quads].mean(axis=1)
    d = (centres[:, None, 0] - insole.CELL_X) ** 2 + (centres[:, None, 1] - insole.CELL_Y) ** 2
    assert np.array_equal(d.argmin(axis=1), face_cell)


def test_left_foot_is_mirror_of_right():
    p = np.array([[0.3, 0.2], [-0.4, -0.1]])
    r = insole.to_metres(p, "right", 7)
    l = insole.to_metres(p, "left", 7)
    assert np.allclose(r[:, 0], l[:, 0]) and np.allclose(r[:, 1], -l[:, 1])
    # medial (+Y normalised) is towards the body's midline: left for the right foot
    assert r[0, 1] > 0 and l[0, 1] < 0


@pytest.mark.parametrize("length,size", [(0.20, 1), (0.26, 6), (0.40, 10)])
def test_size_for_foot_length_covers_the_foot(length, size):
    s = insole.size_for_foot_length(length)
    assert s == size or insole.insole_length(s) >= length


def test_cop_gate_zeroes_lightly_loaded_feet_only():
    """With the device's 50 N gate the COP of a foot under 50 N reads (0, 0); above it is unchanged."""
    size = 7
    p = np.zeros((2, 16))
    p[:, 0] = [20.0 / insole.cell_areas(size)[0], 80.0 / insole.cell_areas(size)[0]]   # 20 N, 80 N on one heel cell
    force, free = insole.force_and_cop(p, size)
    _, gated = insole.force_and_cop(p, size, min_force=insole.COP_MIN_FORCE_N)
    assert np.allclose(force, [20.0, 80.0])
    assert np.all(free[0] != 0) and np.all(gated[0] == 0)
    assert np.array_equal(free[1], gated[1]) and gated[1, 0] < -0.3
