# SPDX-License-Identifier: GPL-3.0-or-later
"""Procedural motions on the canonical skeleton for physics tests (no data needed)."""

from __future__ import annotations

import numpy as np

from step2motion_addon.core.motion import rotations as rot
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, JOINT_INDEX as J, Motion

G = 9.80665
THIGH = SHIN = 0.42
ANKLE_HEIGHT = 0.09


def rest_offsets() -> np.ndarray:
    o = {
        "Hips": (0, 0, 0), "LeftUpLeg": (0.09, 0, -0.06), "RightUpLeg": (-0.09, 0, -0.06),
        "LeftLeg": (0, 0, -THIGH), "RightLeg": (0, 0, -THIGH), "LeftFoot": (0, 0, -SHIN), "RightFoot": (0, 0, -SHIN),
        "LeftToeBase": (0, -0.125, -0.06), "RightToeBase": (0, -0.125, -0.06),
        "Spine": (0, 0, 0.1), "Spine1": (0, 0, 0.12), "Spine3": (0, 0, 0.14), "Neck": (0, 0, 0.18), "Head": (0, 0, 0.1),
        "LeftShoulder": (0.04, 0, 0.14), "RightShoulder": (-0.04, 0, 0.14),
        "LeftArm": (0.14, 0, 0), "RightArm": (-0.14, 0, 0), "LeftForeArm": (0.28, 0, 0), "RightForeArm": (-0.28, 0, 0),
        "LeftHand": (0.25, 0, 0), "RightHand": (-0.25, 0, 0),
    }
    return np.array([o[n] for n in CANONICAL_JOINTS], dtype=np.float64)


STAND_HIPS = ANKLE_HEIGHT + 0.06 + THIGH + SHIN     # hips height with straight legs


def from_hip_height(h: np.ndarray, fps: float) -> Motion:
    """Both feet flat under the hips; the knees bend so the feet stay down while h < standing."""
    t_count = len(h)
    rots = np.zeros((t_count, len(CANONICAL_JOINTS), 4))
    rots[..., 0] = 1.0
    reach = np.clip((h - ANKLE_HEIGHT - 0.06) / (THIGH + SHIN), -1.0, 1.0)
    theta = np.arccos(reach)                        # 0 with straight legs
    x = np.array([1.0, 0, 0])
    for side in ("Left", "Right"):
        rots[:, J[side + "UpLeg"]] = rot.from_axis_angle(np.broadcast_to(x, (t_count, 3)), theta)
        rots[:, J[side + "Leg"]] = rot.from_axis_angle(np.broadcast_to(x, (t_count, 3)), -2 * theta)
        rots[:, J[side + "Foot"]] = rot.from_axis_angle(np.broadcast_to(x, (t_count, 3)), theta)
    root = np.zeros((t_count, 3))
    root[:, 2] = h
    return Motion(fps, rest_offsets(), rots, root, {"source": "procedural"})


def standing(seconds: float = 3.0, fps: float = 60.0) -> Motion:
    return from_hip_height(np.full(int(seconds * fps), STAND_HIPS), fps)


def jump(apex: float = 0.3, fps: float = 120.0) -> tuple[Motion, tuple[float, float]]:
    """Stand, crouch, push off at 2 g, fly ballistically ``apex`` metres up, land at 2 g, stand.

    Returns the motion and the (takeoff, landing) times.
    """
    dt = 1.0 / fps
    H, depth = STAND_HIPS, 0.15
    v0 = np.sqrt(2 * G * apex)
    acc = v0 ** 2 / (2 * depth)
    parts = [np.full(int(0.8 / dt), H)]
    tc = np.arange(0, 0.5, dt) / 0.5
    parts.append(H - depth * 0.5 * (1 - np.cos(np.pi * tc)))                 # crouch
    tp = np.arange(0, v0 / acc, dt)
    parts.append(H - depth + 0.5 * acc * tp ** 2)                            # push off
    takeoff = sum(len(p) for p in parts) * dt
    tf = np.arange(0, 2 * v0 / G, dt)
    parts.append(H + v0 * tf - 0.5 * G * tf ** 2)                             # flight
    landing = sum(len(p) for p in parts) * dt
    tl = np.arange(0, v0 / acc, dt)
    parts.append(H - v0 * tl + 0.5 * acc * tl ** 2)                           # landing
    parts.append(H - depth + depth * 0.5 * (1 - np.cos(np.pi * tc)))          # stand up
    parts.append(np.full(int(0.8 / dt), H))
    return from_hip_height(np.concatenate(parts), fps), (takeoff, landing)
