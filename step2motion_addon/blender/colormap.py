# SPDX-License-Identifier: GPL-3.0-or-later
"""The pressure colour map, shared by the heatmap node tree and the legend.

Blue (unloaded) → teal → green → yellow → red (high end). Stops are given in
sRGB for readability and converted to scene-linear, which is what Blender's
colour ramp interpolates and what the Standard view transform shows back as
these sRGB values.
"""

from __future__ import annotations

import numpy as np

STOPS_SRGB = (
    (0.00, (0.11, 0.18, 0.44)),
    (0.20, (0.16, 0.48, 0.82)),
    (0.42, (0.15, 0.76, 0.63)),
    (0.62, (0.56, 0.84, 0.27)),
    (0.80, (0.98, 0.83, 0.14)),
    (1.00, (0.84, 0.10, 0.11)),
)


def srgb_to_linear(c):
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def stops_linear() -> list[tuple[float, tuple[float, float, float]]]:
    return [(pos, tuple(float(v) for v in srgb_to_linear(rgb))) for pos, rgb in STOPS_SRGB]


def colour_linear(values) -> np.ndarray:
    """Scene-linear RGB for values in 0…1 (clamped), interpolated like a colour ramp."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    pos = np.array([p for p, _ in STOPS_SRGB])
    lin = np.array([rgb for _, rgb in stops_linear()])
    return np.stack([np.interp(v, pos, lin[:, k]) for k in range(3)], axis=-1)


def colour_srgb(values) -> np.ndarray:
    """sRGB (0…1) as a rendered pixel with the Standard view transform should show it."""
    return linear_to_srgb(colour_linear(values))
