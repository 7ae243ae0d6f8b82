# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for reconstruction post-processing and bone-map tests: a known canonical motion."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core.motion import rotations as rot
from step2motion_addon.core.motion.skeleton import JOINT_INDEX as J, Motion

def _offsets() -> np.ndarray:
    o = np.zeros((22, 3))
    o[J["LeftUpLeg"]] = (0.09, 0, -0.05)
    o[J["RightUpLeg"]] = (-0.09, 0, -0.05)
    for s in ("Left", "Right"):
        o[J[s + "Leg"]] = (0, 0, -0.43)
        o[J[s + "Foot"]] = (0, 0, -0.43)
        o[J[s + "ToeBase"]] = (0, -0.13, -0.045)
    o[J["Spine"]] = (0, 0, 0.1)
    o[J["Spine1"]] = (0, 0, 0.1)
    o[J["Spine3"]] = (0, 0, 0.12)
    o[J["Neck"]] = (0, 0, 0.2)
    o[J["Head"]] = (0, 0, 0.1)
    for s, x in (("Left", 1), ("Right", -1)):
        o[J[s + "Shoulder"]] = (0.03 * x, 0, 0.16)
        o[J[s + "Arm"]] = (0.15 * x, 0, 0)
        o[J[s + "ForeArm"]] = (0.3 * x, 0, 0)
        o[J[s + "Hand"]] = (0.25 * x, 0, 0)
    return o

def walk(seconds: float = 4.0, fps: float = 30.0, speed: float = 1.2, cadence_hz: float = 0.9) -> Motion:
    """Procedural walk along −Y: hip flexion ±25°, knee flexion in swing, arm counter-swing."""
    t = np.arange(int(seconds * fps)) / fps
    ph = 2 * np.pi * cadence_hz * t
    rots = np.zeros((len(t), 22, 4))
    rots[..., 0] = 1.0
    x = np.array([1.0, 0, 0])
    for s, sign in (("Left", 1.0), ("Right", -1.0)):
        hip = np.radians(25) * np.sin(ph + (0 if sign > 0 else np.pi))
        knee = np.radians(30) * np.clip(np.sin(ph + (0 if sign > 0 else np.pi) + 1.2), 0, None)
        # Rotation about +X swings the leg: negative angle → foot forward (−Y).
        rots[:, J[s + "UpLeg"]] = rot.from_axis_angle(np.broadcast_to(x, (len(t), 3)), -hip)
        rots[:, J[s + "Leg"]] = rot.from_axis_angle(np.broadcast_to(x, (len(t), 3)), knee)
        rots[:, J[s + "Arm"]] = rot.from_axis_angle(np.broadcast_to([0, 0, 1.0], (len(t), 3)),
                                                    sign * 0.3 * np.sin(ph))
    root = np.zeros((len(t), 3))
    root[:, 2] = 0.98 + 0.02 * np.cos(2 * ph)
    m = Motion(fps, _offsets(), rots, root, {"source": "procedural walk"})
    # Advance the body so the planted (lower) foot stays put: a walk without skating.
    pos = m.fk()
    feet = pos[:, [J["LeftFoot"], J["RightFoot"]]]
    low = np.argmin(feet[:, :, 2], axis=1)
    dy = np.diff(feet[np.arange(len(t)), low, 1])
    same = low[1:] == low[:-1]
    root[1:, 1] = np.cumsum(np.where(same, -dy, -speed / fps))
    return Motion(fps, m.offsets, rots, root, m.meta)


def skating(m: Motion, amplitude: float = 0.05, hz: float = 1.5) -> Motion:
    """The same motion with a smooth horizontal wobble of the whole body: every planted foot slides."""
    t = np.arange(m.frames) / m.fps
    root = m.root_pos.copy()
    root[:, 0] += amplitude * np.sin(2 * np.pi * hz * t)
    root[:, 1] += amplitude * np.cos(2 * np.pi * hz * t * 0.7)
    return Motion(m.fps, m.offsets, m.rotations, root, dict(m.meta))

@pytest.fixture
def known_walk():
    return walk


@pytest.fixture
def skate():
    return skating


def stance(motion: Motion) -> np.ndarray:
    """(T, 2) contact of the procedural walk: the lower foot is planted (one frame kept off each switch)."""
    pos = motion.fk()
    low = np.argmin(pos[:, [J["LeftFoot"], J["RightFoot"]], 2], axis=1)
    c = np.stack([low == 0, low == 1], axis=1)
    return c & np.roll(c, 1, axis=0) & np.roll(c, -1, axis=0)


@pytest.fixture
def walk_contact():
    return stance
