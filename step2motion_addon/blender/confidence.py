# SPDX-License-Identifier: GPL-3.0-or-later
"""Show how much the sampled hypotheses disagree: colours on the default character's body.

The spread of a joint (RMS distance of the hypotheses' joint positions from
their mean, see :func:`core.recon_run.hypothesis_spread`) is averaged over the
take and painted on the body part of that bone, through the mesh's
``s2m_color`` attribute that Workbench shows: green = the hypotheses agree
(≤ 1 cm), yellow ≈ 5 cm, red ≥ 10 cm. An absolute scale, so two takes compare.
Per-frame values are keyed on the pose bones as ``s2m_spread`` by the bake.
"""

from __future__ import annotations

import numpy as np

from ..core.motion.skeleton import CANONICAL_JOINTS
from . import meshes

SPREAD_GREEN_M = 0.01
SPREAD_RED_M = 0.10
_STOPS = np.array([[0.05, 0.55, 0.08], [0.85, 0.75, 0.05], [0.80, 0.06, 0.04]])   # scene-linear


def spread_colour(spread_m) -> np.ndarray:
    """(…, 3) linear RGB for spreads in metres: green → yellow → red over 1 … 10 cm."""
    x = np.clip((np.asarray(spread_m, dtype=np.float64) - SPREAD_GREEN_M) / (SPREAD_RED_M - SPREAD_GREEN_M), 0, 1)
    seg = np.minimum((x * 2).astype(int), 1)
    f = (x * 2 - seg)[..., None]
    return _STOPS[seg] * (1 - f) + _STOPS[seg + 1] * f


def character_body(arm):
    return next((c for c in arm.children if c.get("s2m_role") == "character_body"), None)


def colour_body(arm, spread_per_joint: dict) -> bool:
    """Paint each body part by its bone's take-level spread (m); False when ``arm`` has no such body."""
    body = character_body(arm)
    if body is None:
        return False
    me = body.data
    # The body is rigid: every vertex belongs to exactly one bone's group.
    vgroup = np.full(len(me.vertices), -1)
    for v in me.vertices:
        if v.groups:
            vgroup[v.index] = v.groups[0].group
    names = [g.name for g in body.vertex_groups]
    value = np.array([float(spread_per_joint.get(n, 0.0)) for n in names] + [0.0])
    first = np.empty(len(me.polygons), dtype=np.int32)
    me.polygons.foreach_get("loop_start", first)
    corner_vert = np.empty(len(me.loops), dtype=np.int32)
    me.loops.foreach_get("vertex_index", corner_vert)
    per_face = spread_colour(value[vgroup[corner_vert[first]]])
    meshes.set_colour(me, None, per_face=per_face)
    body["s2m_coloured_by"] = "hypothesis spread (green ≤ 1 cm, red ≥ 10 cm)"
    return True


def spread_by_joint(spread: np.ndarray) -> dict:
    """Take-level spread per canonical joint (mean over frames, m)."""
    return {j: float(spread[:, i].mean()) for i, j in enumerate(CANONICAL_JOINTS)}
