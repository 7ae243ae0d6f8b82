# SPDX-License-Identifier: GPL-3.0-or-later
"""A small, vectorised BVH reader (plain or gzip-compressed).

Only the hierarchy is parsed token by token; the motion block is converted in
one numpy call, so long clips load fast. Any channel count and order per joint
is accepted. Joints with position channels take those values as their local
translation (they replace the OFFSET, as BVH exporters write them).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError
from . import rotations as rot

_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


@dataclass
class BvhClip:
    path: str
    names: list            # joint names, parents before children
    parents: np.ndarray    # (J,) int, -1 for the root
    offsets: np.ndarray    # (J, 3) rest offsets from the parent, file units
    channels: list         # per joint: tuple of channel names
    motion: np.ndarray     # (T, C) float64 channel values
    frame_time: float      # seconds

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    def index(self, name: str) -> int:
        return self.names.index(name)

    def needed(self, joints) -> list:
        """The given joints and all their ancestors, parents first."""
        keep = set()
        for j in joints:
            while j >= 0 and j not in keep:
                keep.add(j)
                j = int(self.parents[j])
        return sorted(keep)

    def local_transforms(self, joints=None) -> tuple[np.ndarray, np.ndarray]:
        """Local translations (T, J, 3) and rotations (T, J, 4); only ``joints`` filled if given."""
        t_count, j_count = self.frames, len(self.names)
        wanted = set(range(j_count)) if joints is None else set(joints)
        trans = np.broadcast_to(self.offsets, (t_count, j_count, 3)).copy()
        quats = np.zeros((t_count, j_count, 4))
        quats[..., 0] = 1.0
        col = 0
        for j, chans in enumerate(self.channels):
            cols = np.arange(col, col + len(chans))
            col += len(chans)
            if j not in wanted:
                continue
            for c, name in zip(cols, chans):
                if name in _POS:
                    trans[:, j, _POS[name]] = self.motion[:, c]
            rcols = [c for c, name in zip(cols, chans) if name in _ROT]
            if rcols:
                order = "".join(_ROT[name] for name in chans if name in _ROT)
                quats[:, j] = rot.from_euler(self.motion[:, rcols], order)
        return trans, quats

    def fk(self, joints=None, local=None) -> tuple[np.ndarray, np.ndarray]:
        """Global positions (T, J, 3) and rotations (T, J, 4), file units and axes.

        With ``joints``, only those and their ancestors are computed (others stay 0).
        """
        order = self.needed(joints) if joints is not None else list(range(len(self.names)))
        trans, quats = local if local is not None else self.local_transforms(order)
        gpos = np.zeros_like(trans)
        grot = np.zeros_like(quats)
        for j in order:
            p = int(self.parents[j])
            if p < 0:
                gpos[:, j] = trans[:, j]
                grot[:, j] = quats[:, j]
            else:
                gpos[:, j] = gpos[:, p] + rot.rotate(grot[:, p], trans[:, j])
                grot[:, j] = rot.mul(grot[:, p], quats[:, j])
        return gpos, grot


def _parse_floats(body: str) -> np.ndarray:
    """All whitespace-separated numbers of the motion block; ValueError on any bad token."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)   # numpy signals a bad token this way
        try:
            values = np.fromstring(body, dtype=np.float64, sep=" ")
        except DeprecationWarning:
            raise ValueError("bad token") from None
    return values


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise FormatError(f"cannot read BVH data: {exc}", str(path), None, "a BVH text file, optionally gzip-compressed") from exc


def load_bvh(path) -> BvhClip:
    """Read a ``.bvh`` or ``.bvh.gz`` file. Raises :class:`FormatError` naming file and line."""
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    where = str(path)

    def fail(msg: str, line: int, expected: str):
        raise FormatError(msg, where, line, expected)

    if not lines or lines[0].strip() != "HIERARCHY":
        fail("file does not start with HIERARCHY", 1, "a BVH file")
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    pending = None          # index of the joint whose '{' we expect
    in_end = False
    end_depth = 0
    motion_line = None
    for ln, raw in enumerate(lines[1:], start=2):
        tok = raw.split()
        if not tok:
            continue
        key = tok[0]
        if key in ("ROOT", "JOINT"):
            if len(tok) < 2:
                fail("joint without a name", ln, "ROOT|JOINT <name>")
            if key == "ROOT" and (stack or names):
                fail("second ROOT", ln, "one skeleton per file")
            names.append(" ".join(tok[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(())
            pending = len(names) - 1
        elif key == "End":
            in_end = True
            end_depth = 0
        elif key == "{":
            if in_end:
                end_depth += 1
            elif pending is not None:
                stack.append(pending)
                pending = None
            else:
                fail("unexpected '{'", ln, "a joint declaration before '{'")
        elif key == "}":
            if in_end:
                end_depth -= 1
                if end_depth == 0:
                    in_end = False
            elif stack:
                stack.pop()
            else:
                fail("unbalanced '}'", ln, "matching braces")
        elif key == "OFFSET":
            if in_end:
                continue
            if not stack or len(tok) != 4:
                fail("bad OFFSET", ln, "OFFSET x y z inside a joint")
            try:
                offsets[stack[-1]] = [float(v) for v in tok[1:]]
            except ValueError:
                fail("non-numeric OFFSET", ln, "three numbers")
        elif key == "CHANNELS":
            if not stack:
                fail("CHANNELS outside a joint", ln, "CHANNELS inside a joint")
            try:
                n = int(tok[1])
            except (ValueError, IndexError):
                fail("bad channel count", ln, "CHANNELS <n> <names>")
            names_c = tuple(tok[2:])
            if len(names_c) != n or any(c not in _POS and c not in _ROT for c in names_c):
                fail(f"bad channel list {' '.join(names_c)!r}", ln, "n names among X/Y/Zposition, X/Y/Zrotation")
            channels[stack[-1]] = names_c
        elif key == "MOTION":
            motion_line = ln
            break
        else:
            fail(f"unknown keyword {key!r}", ln, "ROOT, JOINT, End Site, OFFSET, CHANNELS, braces or MOTION")
    if motion_line is None:
        fail("no MOTION section", len(lines), "MOTION after the hierarchy")
    if stack or in_end:
        fail("hierarchy braces not closed", motion_line, "balanced braces")
    if not names:
        fail("no joints", motion_line, "a ROOT joint")
    for j, off in enumerate(offsets):
        if off is None:
            fail(f"joint {names[j]!r} has no OFFSET", motion_line, "an OFFSET per joint")
    header = lines[motion_line:motion_line + 2]
    try:
        frames = int(header[0].split(":")[1])
        frame_time = float(header[1].split(":")[1])
    except (IndexError, ValueError):
        fail("bad Frames/Frame Time header", motion_line + 1, "'Frames: n' and 'Frame Time: s'")
    if not frame_time > 0:
        fail(f"frame time {frame_time} is not positive", motion_line + 2, "a positive Frame Time")
    n_chan = sum(len(c) for c in channels)
    body = "\n".join(lines[motion_line + 2:])
    try:
        values = _parse_floats(body)
    except ValueError:
        # Locate the first bad line for the message.
        for k, row in enumerate(lines[motion_line + 2:], start=motion_line + 3):
            try:
                [float(v) for v in row.split()]
            except ValueError:
                fail("non-numeric motion value", k, f"{n_chan} numbers per frame")
        raise
    if n_chan == 0:
        fail("no channels in the hierarchy", motion_line, "CHANNELS on the root")
    got = values.size // n_chan
    if values.size % n_chan:
        # Find the first row with a wrong count for a precise message.
        for k, row in enumerate(lines[motion_line + 2:], start=motion_line + 3):
            if row.strip() and len(row.split()) != n_chan:
                fail(f"frame has {len(row.split())} values", k, f"{n_chan} values per frame")
    if got < frames:
        fail(f"only {got} of {frames} frames present", len(lines), f"{frames} frames of {n_chan} values")
    if got == 0:
        fail("no motion frames", motion_line + 1, "at least one frame")
    motion = values[: frames * n_chan].reshape(frames, n_chan)
    if not np.all(np.isfinite(motion)):
        fail("non-finite motion value", motion_line + 3, "finite numbers")
    return BvhClip(str(path), names, np.array(parents, dtype=np.int64),
                   np.array(offsets, dtype=np.float64), channels, motion, frame_time)
