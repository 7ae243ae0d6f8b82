# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the wearer faces: the root model's turn rate fused with the insoles' own heading.

The root model predicts the heading change per frame from a few seconds of
IMU; summed over a take its small errors become a heading drift, which turns
every later step in the wrong direction (the main source of root drift). Each
insole's orientation filter gives an absolute heading relative to the start
(read in stance, see ``core.ahrs.flat_heading``) whose error grows only with
the gyro's residual bias. A complementary filter takes the slow part from the
feet and the fast part (turns within a stride) from the model.
"""

from __future__ import annotations

import numpy as np

HEADING_SOURCES = ("model", "feet", "fused")


def feet_heading(foot_yaw: np.ndarray, available: np.ndarray) -> np.ndarray | None:
    """(T,) heading (rad) from the insoles with an IMU: the mean of their headings.

    ``foot_yaw`` (T, 2) left/right headings from the start; ``available`` (2,) bool.
    Averaging both feet cancels most of each foot's in-stride yaw swing.
    """
    cols = [k for k in range(2) if available[k]]
    if not cols:
        return None
    return np.asarray(foot_yaw, dtype=np.float64)[:, cols].mean(axis=1)


def fuse_heading(model_dpsi: np.ndarray, feet_psi: np.ndarray, rate: float, tau_s: float = 2.0) -> np.ndarray:
    """Complementary filter: ψₜ = a·(ψₜ₋₁ + Δψ̂ₜ) + (1 − a)·ψ_feetₜ with a = τ / (τ + Δt)."""
    dpsi = np.asarray(model_dpsi, dtype=np.float64)
    feet = np.asarray(feet_psi, dtype=np.float64)
    dt = 1.0 / rate
    a = tau_s / (tau_s + dt)
    out = np.empty_like(feet)
    psi = float(feet[0])
    for t in range(feet.shape[0]):     # one multiply-add per frame: ≈50 ms for an hour at 30 Hz
        psi = a * (psi + float(dpsi[t])) + (1.0 - a) * float(feet[t])
        out[t] = psi
    return out


def heading_changes(source: str, model_dpsi: np.ndarray, foot_yaw: np.ndarray, available: np.ndarray,
                    rate: float, tau_s: float = 2.0) -> np.ndarray:
    """Per-frame heading change (rad) for the root integration from the chosen ``source``.

    Falls back to the model when no insole has an IMU heading.
    """
    if source not in HEADING_SOURCES:
        raise ValueError(f"heading source must be one of {HEADING_SOURCES}, not {source!r}")
    feet = feet_heading(foot_yaw, available) if source != "model" else None
    if feet is None:
        return np.asarray(model_dpsi, dtype=np.float64)
    psi = feet if source == "feet" else fuse_heading(model_dpsi, feet, rate, tau_s)
    out = np.zeros_like(psi)
    out[1:] = np.diff(psi)
    return out
