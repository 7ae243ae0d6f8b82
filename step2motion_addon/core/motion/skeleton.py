# SPDX-License-Identifier: GPL-3.0-or-later
"""The canonical 22-joint skeleton and the :class:`Motion` every consumer reads.

World frame: Z up, metres; at rest the character faces −Y and its left side is
on +X (Blender's convention). Rotations are local quaternions (w, x, y, z)
relative to the parent; the rest pose is all-identity with the per-clip
``offsets``, so global rotations say how each bone turned from the rest pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rotations as rot

CANONICAL_JOINTS = (
    "Hips",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
    "Spine", "Spine1", "Spine3", "Neck", "Head",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand",
)
_PARENT_NAMES = {
    "Hips": None,
    "LeftUpLeg": "Hips", "LeftLeg": "LeftUpLeg", "LeftFoot": "LeftLeg", "LeftToeBase": "LeftFoot",
    "RightUpLeg": "Hips", "RightLeg": "RightUpLeg", "RightFoot": "RightLeg", "RightToeBase": "RightFoot",
    "Spine": "Hips", "Spine1": "Spine", "Spine3": "Spine1", "Neck": "Spine3", "Head": "Neck",
    "LeftShoulder": "Spine3", "LeftArm": "LeftShoulder", "LeftForeArm": "LeftArm", "LeftHand": "LeftForeArm",
    "RightShoulder": "Spine3", "RightArm": "RightShoulder", "RightForeArm": "RightArm", "RightHand": "RightForeArm",
}
CANONICAL_PARENTS = tuple(-1 if _PARENT_NAMES[n] is None else CANONICAL_JOINTS.index(_PARENT_NAMES[n])
                          for n in CANONICAL_JOINTS)
JOINT_INDEX = {n: i for i, n in enumerate(CANONICAL_JOINTS)}
# Left ↔ right partner of every joint (itself for the centre line), for mirroring.
MIRROR_INDEX = tuple(JOINT_INDEX[n.replace("Left", "#").replace("Right", "Left").replace("#", "Right")]
                     for n in CANONICAL_JOINTS)


def mirror_offsets(offsets: np.ndarray) -> np.ndarray:
    """(22, 3) rest offsets of the mirror-image skeleton: left and right swapped, x negated."""
    offsets = np.asarray(offsets)
    return offsets[list(MIRROR_INDEX)] * np.array([-1.0, 1.0, 1.0], dtype=offsets.dtype)


@dataclass
class Motion:
    fps: float
    offsets: np.ndarray        # (22, 3) metres, rest offset from the parent (root: 0)
    rotations: np.ndarray      # (T, 22, 4) local quaternions w, x, y, z
    root_pos: np.ndarray       # (T, 3) metres, world position of Hips
    meta: dict = field(default_factory=dict)   # source, licence, subject, category, …

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(len(CANONICAL_JOINTS), 3)
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        self.root_pos = np.asarray(self.root_pos, dtype=np.float64)
        if self.rotations.ndim != 3 or self.rotations.shape[1:] != (len(CANONICAL_JOINTS), 4):
            raise ValueError(f"rotations must be (T, 22, 4), got {self.rotations.shape}")
        if self.root_pos.shape != (self.rotations.shape[0], 3):
            raise ValueError(f"root_pos must be (T, 3), got {self.root_pos.shape}")

    @property
    def frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def duration(self) -> float:
        return (self.frames - 1) / self.fps if self.frames > 1 else 0.0

    def global_rotations(self) -> np.ndarray:
        """(T, 22, 4) world rotations of every joint."""
        g = np.empty_like(self.rotations)
        for j, p in enumerate(CANONICAL_PARENTS):
            g[:, j] = self.rotations[:, j] if p < 0 else rot.mul(g[:, p], self.rotations[:, j])
        return g

    def fk(self, with_rotations: bool = False):
        """(T, 22, 3) global joint positions (and global rotations if asked)."""
        g = self.global_rotations()
        pos = np.empty(self.rotations.shape[:2] + (3,))
        for j, p in enumerate(CANONICAL_PARENTS):
            pos[:, j] = self.root_pos if p < 0 else pos[:, p] + rot.rotate(g[:, p], self.offsets[j])
        return (pos, g) if with_rotations else pos

    def mirrored(self) -> "Motion":
        """The motion reflected through the world YZ plane (x → −x), left and right swapped."""
        m = np.array(MIRROR_INDEX)
        offsets = mirror_offsets(self.offsets)
        # Reflecting a rotation through x → −x keeps w and x and negates y, z.
        rots = self.rotations[:, m] * np.array([1.0, 1.0, -1.0, -1.0])
        root = self.root_pos * np.array([-1.0, 1.0, 1.0])
        meta = dict(self.meta, mirrored=True)
        return Motion(self.fps, offsets, rots, root, meta)

    def resampled(self, fps: float) -> "Motion":
        """Linearly resampled (nlerp for rotations) to ``fps``; keeps the duration."""
        if self.frames < 2 or abs(fps - self.fps) < 1e-9:
            return Motion(fps, self.offsets.copy(), self.rotations.copy(), self.root_pos.copy(), dict(self.meta))
        t_new = np.arange(0.0, self.duration + 1e-9, 1.0 / fps) * self.fps
        i0 = np.minimum(np.floor(t_new).astype(int), self.frames - 2)
        w = t_new - i0
        q = rot.make_continuous(self.rotations, axis=0)
        rots = rot.nlerp(q[i0], q[i0 + 1], np.broadcast_to(w[:, None], (len(w), q.shape[1])))
        root = self.root_pos[i0] * (1 - w[:, None]) + self.root_pos[i0 + 1] * w[:, None]
        return Motion(fps, self.offsets.copy(), rots, root, dict(self.meta))
