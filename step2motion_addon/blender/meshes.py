# SPDX-License-Identifier: GPL-3.0-or-later
"""Procedural meshes built in bulk from numpy arrays (no operators, no borrowed assets).

Every mesh carries a corner colour attribute ``s2m_color`` (active and used for
rendering): Workbench in "Attribute" colour mode shows it, and the shared
material reads it in Cycles/EEVEE, so one material and one shading mode serve
every object of the scene.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import insole

COLOR_ATTR = "s2m_color"


def mesh_from_polygons(name: str, verts: np.ndarray, corner_verts: np.ndarray,
                       sizes: np.ndarray) -> bpy.types.Mesh:
    """A mesh from flat corner vertex indices and per-polygon sizes."""
    verts = np.asarray(verts, dtype=np.float32).reshape(-1, 3)
    corner_verts = np.asarray(corner_verts, dtype=np.int32).ravel()
    sizes = np.asarray(sizes, dtype=np.int32).ravel()
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.ravel())
    me.loops.add(len(corner_verts))
    me.loops.foreach_set("vertex_index", corner_verts)
    me.polygons.add(len(sizes))
    starts = np.zeros(len(sizes), dtype=np.int32)
    np.cumsum(sizes[:-1], out=starts[1:])
    me.polygons.foreach_set("loop_start", starts)
    try:        # derived from loop_start since 3.6; kept for builds that still store it
        me.polygons.foreach_set("loop_total", sizes)
    except (TypeError, AttributeError, RuntimeError):
        pass
    me.update(calc_edges=True)
    return me


def set_colour(me: bpy.types.Mesh, rgb_linear, per_face: np.ndarray | None = None) -> None:
    """Create the ``s2m_color`` corner attribute: one colour, or one per face (F, 3)."""
    attr = me.color_attributes.get(COLOR_ATTR) or me.color_attributes.new(COLOR_ATTR, "FLOAT_COLOR", "CORNER")
    n = len(me.loops)
    rgba = np.ones((n, 4), dtype=np.float32)
    if per_face is not None:
        sizes = np.empty(len(me.polygons), dtype=np.int32)
        me.polygons.foreach_get("loop_total", sizes)
        rgba[:, :3] = np.repeat(np.asarray(per_face, dtype=np.float32), sizes, axis=0)
    else:
        rgba[:, :3] = np.asarray(rgb_linear, dtype=np.float32)
    attr.data.foreach_set("color", rgba.ravel())
    me.color_attributes.active_color = attr
    me.color_attributes.render_color_index = me.color_attributes.find(COLOR_ATTR)


def _snap_to_outline(verts: np.ndarray, quads: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Move the grid's boundary vertices onto the outline (metric space) to hide the staircase."""
    edges = np.stack([quads, np.roll(quads, -1, axis=1)], axis=-1).reshape(-1, 2)
    key = np.sort(edges, axis=1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    boundary = np.unique(uniq[counts == 1])
    a = poly
    b = np.roll(poly, -1, axis=0)
    p = verts[boundary]
    ab = b - a
    t = ((p[:, None, :] - a[None]) * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)[None]
    t = np.clip(t, 0.0, 1.0)
    proj = a[None] + t[..., None] * ab[None]
    d2 = ((proj - p[:, None, :]) ** 2).sum(-1)
    out = verts.copy()
    out[boundary] = proj[np.arange(len(p)), d2.argmin(axis=1)]
    return out


def insole_mesh(name: str, side: str, size: int | None, resolution: int = 72) -> bpy.types.Mesh:
    """The insole surface in the foot frame (metres, X toe-ward, Y left), with a ``cell`` face attribute."""
    verts2, quads, face_cell = insole.grid_mesh(resolution)
    # Snap in metric units so "nearest" means nearest on the real insole.
    scale = np.array([1.0, insole.WIDTH_RATIO])
    snapped = _snap_to_outline(verts2 * scale, quads, insole.outline() * scale) / scale
    xy = insole.to_metres(snapped, side, size)
    verts = np.zeros((len(xy), 3))
    verts[:, :2] = xy
    if side == "left":                      # mirroring flips the winding: keep normals up
        quads = quads[:, ::-1]
    me = mesh_from_polygons(name, verts, quads, np.full(len(quads), 4))
    attr = me.attributes.new("cell", "INT", "FACE")
    attr.data.foreach_set("value", face_cell.astype(np.int32))
    set_colour(me, (0.2, 0.2, 0.2))
    return me


def outline_slab_mesh(name: str, side: str, size: int | None, margin: float = 0.003,
                      depth: float = 0.005) -> bpy.types.Mesh:
    """A thin slab slightly larger than the insole: its rim frames the heatmap."""
    poly = insole.to_metres(insole.outline(4), side, size)
    centre = poly.mean(axis=0)
    d = poly - centre
    poly = poly + d / np.linalg.norm(d, axis=1, keepdims=True) * margin
    if side == "right":                     # counter-clockwise seen from above
        poly = poly[::-1]
    n = len(poly)
    top = np.column_stack([poly, np.full(n, -0.0008)])
    bottom = np.column_stack([poly, np.full(n, -0.0008 - depth)])
    verts = np.vstack([top, bottom])
    i = np.arange(n)
    j = (i + 1) % n
    sides = np.stack([j, i, i + n, j + n], axis=1)
    corners = np.concatenate([i, sides.ravel(), (n + i)[::-1]])
    sizes = np.concatenate([[n], np.full(n, 4), [n]])
    me = mesh_from_polygons(name, verts, corners, sizes)
    set_colour(me, (0.035, 0.037, 0.042))
    return me


def uv_sphere_mesh(name: str, radius: float, rings: int = 10, segments: int = 20,
                   rgb=(1.0, 1.0, 1.0)) -> bpy.types.Mesh:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    body = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    verts = np.vstack([[0, 0, 1], body, [0, 0, -1]]) * radius
    top, bottom = 0, len(verts) - 1
    idx = (np.arange((rings - 1) * segments).reshape(rings - 1, segments) + 1)
    nxt = np.roll(idx, -1, axis=1)
    caps_top = np.stack([np.full(segments, top), idx[0], nxt[0]], 1)
    caps_bot = np.stack([np.full(segments, bottom), nxt[-1], idx[-1]], 1)
    quads = np.stack([idx[:-1], idx[1:], nxt[1:], nxt[:-1]], -1).reshape(-1, 4)
    corners = np.concatenate([caps_top.ravel(), quads.ravel(), caps_bot.ravel()])
    sizes = np.concatenate([np.full(segments, 3), np.full(len(quads), 4), np.full(segments, 3)])
    me = mesh_from_polygons(name, verts, corners, sizes)
    me.shade_smooth()
    set_colour(me, rgb)
    return me


def arrow_mesh(name: str, shaft_radius: float = 0.004, head_radius: float = 0.011,
               head_fraction: float = 0.16, segments: int = 16, rgb=(0.9, 0.9, 0.9)) -> bpy.types.Mesh:
    """An arrow of length 1 along +Z from the origin; the object's Z scale sets its length."""
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([np.cos(a), np.sin(a)], 1)
    z_head = 1.0 - head_fraction
    rings = [(shaft_radius, 0.0), (shaft_radius, z_head), (head_radius, z_head)]
    verts = [np.column_stack([ring * r, np.full(segments, z)]) for r, z in rings]
    verts = np.vstack(verts + [[[0, 0, 1.0]], [[0, 0, 0.0]]])
    tip, base = len(verts) - 2, len(verts) - 1
    i = np.arange(segments)
    j = (i + 1) % segments
    faces = []
    for k in range(2):                       # shaft wall, head underside
        o, p = k * segments, (k + 1) * segments
        faces.append(np.stack([o + i, o + j, p + j, p + i], 1))
    quads = np.vstack(faces)
    cone = np.stack([2 * segments + i, 2 * segments + j, np.full(segments, tip)], 1)
    cap = np.stack([j, i, np.full(segments, base)], 1)
    corners = np.concatenate([quads.ravel(), cone.ravel(), cap.ravel()])
    sizes = np.concatenate([np.full(len(quads), 4), np.full(segments, 3), np.full(segments, 3)])
    me = mesh_from_polygons(name, verts, corners, sizes)
    set_colour(me, rgb)
    return me


def trace_mesh(name: str, points: np.ndarray, frames: np.ndarray, keep: np.ndarray,
               width: float = 0.0025, z: float = 0.0012, rgb=(0.95, 0.95, 0.95)) -> bpy.types.Mesh:
    """A ribbon through COP points (foot frame, metres): one quad per pair of loaded frames.

    Each quad's face attribute ``frame`` is the later frame; the trace modifier
    keeps only the quads of the last N frames.
    """
    ok = keep[:-1] & keep[1:]
    p0, p1 = points[:-1][ok], points[1:][ok]
    fr = frames[1:][ok]
    d = p1 - p0
    length = np.linalg.norm(d, axis=1, keepdims=True)
    d = np.where(length > 1e-9, d / np.maximum(length, 1e-9), [1.0, 0.0])
    # Extend each segment a little so consecutive quads overlap at the joints.
    p0 = p0 - d * width * 0.5
    p1 = p1 + d * width * 0.5
    nrm = np.stack([-d[:, 1], d[:, 0]], 1) * (width * 0.5)
    q = np.stack([p0 - nrm, p1 - nrm, p1 + nrm, p0 + nrm], 1)   # (F, 4, 2)
    f = len(q)
    verts = np.zeros((f * 4, 3), dtype=np.float32)
    verts[:, :2] = q.reshape(-1, 2)
    verts[:, 2] = z
    me = mesh_from_polygons(name, verts, np.arange(f * 4), np.full(f, 4))
    attr = me.attributes.new("frame", "INT", "FACE")
    if f:
        attr.data.foreach_set("value", fr.astype(np.int32))
    set_colour(me, rgb)
    return me


def legend_bar_mesh(name: str, colour_fn, width: float, height: float, steps: int = 64) -> bpy.types.Mesh:
    """A vertical bar of ``steps`` flat quads from value 0 (bottom) to 1 (top)."""
    ys = np.linspace(0.0, height, steps + 1)
    left = np.column_stack([np.zeros(steps + 1), ys, np.zeros(steps + 1)])
    right = np.column_stack([np.full(steps + 1, width), ys, np.zeros(steps + 1)])
    verts = np.vstack([left, right])
    i = np.arange(steps)
    quads = np.stack([i, steps + 1 + i, steps + 2 + i, i + 1], 1)
    me = mesh_from_polygons(name, verts, quads, np.full(steps, 4))
    set_colour(me, None, per_face=colour_fn((i + 0.5) / steps))
    return me


def ground_mesh(name: str, half: float, rgb) -> bpy.types.Mesh:
    verts = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]], dtype=np.float32)
    me = mesh_from_polygons(name, verts, np.arange(4), [4])
    set_colour(me, rgb)
    return me
