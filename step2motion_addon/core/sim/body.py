# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole-body vertical ground reaction from the centre-of-mass acceleration.

Segment mass fractions follow the usual anthropometric tables (de Leva 1996,
rounded): the COM is the mass-weighted mean of segment centres, each segment
centre a fixed fraction along its bone.
"""

from __future__ import annotations

import numpy as np

from ..motion.skeleton import JOINT_INDEX as J

G = 9.80665

# (proximal joint, distal joint, fraction of the way, mass fraction)
_SEGMENTS = (
    ("Hips", "Spine", 0.5, 0.142), ("Spine", "Spine1", 0.5, 0.163), ("Spine1", "Spine3", 0.5, 0.192),
    ("Neck", "Head", 0.6, 0.081),
    ("LeftArm", "LeftForeArm", 0.58, 0.028), ("RightArm", "RightForeArm", 0.58, 0.028),
    ("LeftForeArm", "LeftHand", 0.46, 0.016), ("RightForeArm", "RightHand", 0.46, 0.016),
    ("LeftHand", "LeftHand", 0.0, 0.006), ("RightHand", "RightHand", 0.0, 0.006),
    ("LeftUpLeg", "LeftLeg", 0.41, 0.100), ("RightUpLeg", "RightLeg", 0.41, 0.100),
    ("LeftLeg", "LeftFoot", 0.44, 0.0465), ("RightLeg", "RightFoot", 0.44, 0.0465),
    ("LeftFoot", "LeftToeBase", 0.5, 0.0145), ("RightFoot", "RightToeBase", 0.5, 0.0145),
)
_MASS = np.array([s[3] for s in _SEGMENTS])
_MASS = _MASS / _MASS.sum()


def centre_of_mass(pos: np.ndarray) -> np.ndarray:
    """(T, 3) centre of mass from canonical joint positions (T, 22, 3)."""
    com = np.zeros(pos.shape[:1] + (3,))
    for (a, b, f, _), m in zip(_SEGMENTS, _MASS):
        com += m * (pos[:, J[a]] * (1 - f) + pos[:, J[b]] * f)
    return com


def vertical_force(com_acc_z: np.ndarray, body_mass_kg: float) -> np.ndarray:
    """Total vertical ground reaction (N): m (g + a_z), never pulling."""
    return np.maximum(body_mass_kg * (G + com_acc_z), 0.0)

