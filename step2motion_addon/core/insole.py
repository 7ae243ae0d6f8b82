"""Insole geometry: cell layout, effective areas, the device's force/COP model, a mesh.

The 16-cell Moticon layout was fitted on real OpenGo exports (R² = 1.000):
total force = Σ aᵢ·pᵢ and COP = Σ aᵢ·pᵢ·cᵢ / force, with the cell points cᵢ in
normalised insole coordinates (X heel→toe −0.5…+0.5, +Y medial), identical for
both feet. The left foot is the mirror image of the right in the world, not in
these coordinates.
"""

from __future__ import annotations

import numpy as np

# Effective cell areas (cm²) of insole size 7; other sizes scale with length².
AREAS_SIZE7 = np.array([12.37, 11.05, 13.36, 13.12, 13.12, 13.02, 17.96, 18.23,
                        15.67, 12.42, 12.50, 12.66, 10.23, 10.13, 12.49, 6.49], dtype=np.float64)
CELL_X = np.array([-.404, -.416, -.266, -.288, -.125, -.152, .080, -.012,
                   .256, .241, .226, .207, .170, .413, .408, .358], dtype=np.float64)
CELL_Y = np.array([.109, -.166, .089, -.225, .061, -.273, .242, -.392,
                   .274, .064, -.116, -.294, -.462, .178, -.082, -.313], dtype=np.float64)
CELL_NAMES = ("heel medial front", "heel lateral front", "heel medial", "heel lateral",
              "rear midfoot medial", "rear midfoot lateral", "medial arch", "lateral midfoot",
              "metatarsal 1", "metatarsal 2", "metatarsal 3", "metatarsal 4", "metatarsal 5",
              "hallux", "toes 2-3", "toes 4-5")
HEEL_CELLS = tuple(range(0, 8))     # cells 1–8: heel and midfoot (the "heel" sensor stream)
TOE_CELLS = tuple(range(8, 16))     # cells 9–16: metatarsals and toes
PRESSURE_STEP = 0.25                # N/cm², quantisation of the device
PRESSURE_MAX = 50.0                 # N/cm², sensor saturation used by the simulator

# Insole length (m) is linear in the Moticon size; areas scale with its square so
# that size 3 has 0.70× the size-7 areas, as measured on real files.
_LENGTH_PER_SIZE = 0.01143
_LENGTH_OFFSET = 0.200
WIDTH_RATIO = 0.42                  # metres per normalised Y unit / insole length
SIZES = tuple(range(1, 11))
DEFAULT_SIZE = 5

LAYOUTS = {"moticon16": 16, "orphe6": 6}   # layout name -> cell count

# ORPHE INSOLE's 6 cells (in the order its packets carry them) drawn on the 16-cell insole:
# each one colours the Moticon cells of its foot region, so force and COP follow from the
# same device model (each value × its region's area, COP at the regions' centres).
ORPHE6_CELLS = ("toe medial", "mid medial", "toe lateral", "centre", "mid lateral", "heel")
ORPHE6_REGIONS = {
    "toe medial": (8, 13),              # metatarsal 1, hallux
    "mid medial": (4, 6),               # rear midfoot medial, medial arch
    "toe lateral": (11, 12, 14, 15),    # metatarsals 4-5, toes 2-3 and 4-5
    "centre": (9, 10),                  # metatarsals 2-3
    "mid lateral": (5, 7),              # rear midfoot lateral, lateral midfoot
    "heel": (0, 1, 2, 3),               # the four heel cells
}
_ORPHE_CELL_OF = np.empty(16, dtype=np.intp)
for _k, _name in enumerate(ORPHE6_CELLS):
    _ORPHE_CELL_OF[list(ORPHE6_REGIONS[_name])] = _k


def as_moticon16(pressure: np.ndarray) -> np.ndarray | None:
    """(..., 16) pressures on the 16-cell layout for a 16- or 6-cell (ORPHE) layout; None for others."""
    p = np.asarray(pressure)
    if p.shape[-1] == 16:
        return p
    if p.shape[-1] == LAYOUTS["orphe6"]:
        return p[..., _ORPHE_CELL_OF]
    return None


def insole_length(size: int | None) -> float:
    """Insole length in metres for a Moticon size (None → default size)."""
    s = DEFAULT_SIZE if size is None else size
    return _LENGTH_OFFSET + _LENGTH_PER_SIZE * s


def size_for_foot_length(foot_length_m: float) -> int:
    """Smallest insole size whose length covers a foot (heel to toe tip)."""
    for s in SIZES:
        if insole_length(s) >= foot_length_m:
            return s
    return SIZES[-1]


def cell_areas(size: int | None) -> np.ndarray:
    """Effective cell areas (cm²) for an insole size."""
    scale = (insole_length(size) / insole_length(7)) ** 2
    return AREAS_SIZE7 * scale


# The OpenGo writes the COP only while a foot carries at least this (all 6 feet of
# the 3 real walks in the shared data: COP 0 at ≤ 49 N, set at ≥ 50 N).
COP_MIN_FORCE_N = 50.0


def force_and_cop(pressure: np.ndarray, size: int | None,
                  min_force: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Total force (N) and COP (−0.5…0.5) from cell pressures, as the device computes them.

    ``pressure`` is (..., 16) in N/cm². Where the force is zero the COP is 0, 0
    (what the device writes for an unloaded foot); ``min_force=COP_MIN_FORCE_N``
    also zeroes it below the OpenGo's 50 N gate, as its exports do (the live
    views keep showing a lightly loaded foot's COP).
    """
    p = np.asarray(pressure, dtype=np.float64)
    a = cell_areas(size)
    weighted = p * a
    force = weighted.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (weighted * CELL_X).sum(axis=-1) / force
        cy = (weighted * CELL_Y).sum(axis=-1) / force
    unloaded = ~(force > 0) | (force < min_force)
    cx = np.where(unloaded, 0.0, cx)
    cy = np.where(unloaded, 0.0, cy)
    return force, np.stack([cx, cy], axis=-1)


# Control polygon of the insole outline (normalised coordinates, x, y), drawn
# around the measured cell points with a margin; medial (+Y) first from heel to toe,
# then lateral back. Chaikin smoothing rounds it.
_OUTLINE_CONTROL = np.array([
    (-0.50, -0.05), (-0.47, 0.12), (-0.36, 0.19), (-0.20, 0.17), (-0.02, 0.28),
    (0.16, 0.34), (0.30, 0.33), (0.42, 0.27), (0.50, 0.12), (0.50, -0.05),
    (0.45, -0.25), (0.38, -0.37), (0.26, -0.46), (0.16, -0.53), (0.00, -0.47),
    (-0.20, -0.36), (-0.36, -0.29), (-0.47, -0.22),
])


def outline(iterations: int = 3) -> np.ndarray:
    """Insole outline in normalised coordinates, closed polygon (n, 2), smooth.

    Medial is +Y. Every cell point lies inside it (tested).
    """
    poly = _OUTLINE_CONTROL.copy()
    for _ in range(iterations):            # Chaikin corner cutting
        nxt = np.roll(poly, -1, axis=0)
        poly = np.stack([0.75 * poly + 0.25 * nxt, 0.25 * poly + 0.75 * nxt], axis=1).reshape(-1, 2)
    return poly


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0][None, :], poly[:, 1][None, :]
    x1, y1 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = ((y0 > y) != (y1 > y))
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < xint)).sum(axis=1) % 2 == 1


def grid_mesh(resolution: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A quad mesh of the insole in normalised coordinates.

    Returns ``(verts (V, 2), quads (F, 4) vertex indices, face_cell (F,))``:
    the insole is covered by a regular grid clipped to :func:`outline`, and each
    quad belongs to the cell whose point is nearest to its centre (a Voronoi
    partition, so every cell is a contiguous patch around its sensor).
    """
    nx = resolution
    ny = max(4, int(round(resolution * WIDTH_RATIO)))  # square-ish quads in metres
    xs = np.linspace(-0.5, 0.5, nx + 1)
    ys = np.linspace(-0.5, 0.5, ny + 1)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    centres = np.stack([(gx[:-1, :-1] + gx[1:, 1:]) / 2, (gy[:-1, :-1] + gy[1:, 1:]) / 2], -1).reshape(-1, 2)
    keep = _inside(centres, outline())
    ii, jj = np.divmod(np.nonzero(keep)[0], ny)
    corners = np.stack([ii * (ny + 1) + jj, (ii + 1) * (ny + 1) + jj,
                        (ii + 1) * (ny + 1) + jj + 1, ii * (ny + 1) + jj + 1], axis=1)
    used, inverse = np.unique(corners, return_inverse=True)
    quads = inverse.reshape(-1, 4)
    verts = np.stack([gx.ravel()[used], gy.ravel()[used]], axis=-1)
    c = centres[keep]
    d2 = (c[:, None, 0] - CELL_X[None]) ** 2 + (c[:, None, 1] - CELL_Y[None]) ** 2
    face_cell = d2.argmin(axis=1)
    return verts, quads, face_cell


def to_metres(points: np.ndarray, side: str, size: int | None) -> np.ndarray:
    """Normalised insole coordinates → metres in the foot frame (X toe-ward, Y left).

    The frame is the same for both feet (X forward, Y to the wearer's left);
    medial (+Y normalised) points to the left on the right foot and to the right
    on the left foot, hence the mirror.
    """
    length = insole_length(size)
    p = np.asarray(points, dtype=np.float64)
    out = np.empty(p.shape, dtype=np.float64)
    out[..., 0] = p[..., 0] * length
    mirror = -1.0 if side == "left" else 1.0
    out[..., 1] = mirror * p[..., 1] * length * WIDTH_RATIO
    return out
