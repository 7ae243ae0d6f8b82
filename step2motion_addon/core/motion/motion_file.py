# SPDX-License-Identifier: GPL-3.0-or-later
"""A canonical :class:`Motion` in a small .npz file (float32, no pickled objects).

Keys: ``fps`` (), ``offsets`` (22, 3) m, ``rotations`` (T, 22, 4) local w,x,y,z,
``root_pos`` (T, 3) m, ``joints`` (22,) names, plus optional text fields
(``source``, ``licence``, ``notes``). Loading never unpickles (allow_pickle=False).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatError
from .skeleton import CANONICAL_JOINTS, Motion

TEXT_FIELDS = ("source", "licence", "notes")


def save_motion(path, motion: Motion) -> None:
    """Write ``motion`` (float32) with its text metadata to ``path``."""
    arrays = dict(fps=np.float32(motion.fps), offsets=motion.offsets.astype(np.float32),
                  rotations=motion.rotations.astype(np.float32), root_pos=motion.root_pos.astype(np.float32),
                  joints=np.array(CANONICAL_JOINTS))
    for key in TEXT_FIELDS:
        if motion.meta.get(key):
            arrays[key] = np.array(str(motion.meta[key]))
    with open(path, "wb") as fh:           # a file object: numpy adds no extra suffix
        np.savez_compressed(fh, **arrays)


def load_motion(path) -> Motion:
    """Read a file written by :func:`save_motion`; FormatError names what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a motion .npz ({exc})", str(path), None, "a file written by save_motion") from None
    missing = [k for k in ("fps", "offsets", "rotations", "root_pos", "joints") if k not in data]
    if missing:
        raise FormatError(f"missing arrays {missing}", str(path), None, "fps, offsets, rotations, root_pos, joints")
    if tuple(str(j) for j in data["joints"]) != CANONICAL_JOINTS:
        raise FormatError("joints differ from the canonical skeleton", str(path), None, "the 22 canonical joints")
    meta = {k: str(data[k]) for k in TEXT_FIELDS if k in data}
    meta.setdefault("source", str(path))
    return Motion(float(data["fps"]), data["offsets"].astype(np.float64), data["rotations"].astype(np.float64),
                  data["root_pos"].astype(np.float64), meta)
