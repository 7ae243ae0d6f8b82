# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks every reader applies, so that all formats follow one documented policy.

Policy (also in docs/formats.md): a non-finite or decreasing timestamp is an
error naming its line; an exactly repeated timestamp is a repair (the later
row is dropped and listed in ``take.report``).
"""

from __future__ import annotations

import numpy as np

from ..errors import TakeError
from ..take import SIDES, FootStream


def describe_lines(lines: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(x)) for x in lines[:limit])
    return shown + (f" … (+{len(lines) - limit} more)" if len(lines) > limit else "")


def order_time(path: str, time: np.ndarray, lines: np.ndarray, report: list, what: str = "rows",
               unit: str = "line") -> np.ndarray:
    """Boolean mask of the samples to keep; raises on bad timestamps.

    ``lines`` gives the line (or block) number of each sample, for messages.
    """
    bad = ~np.isfinite(time)
    if bad.any():
        i = int(np.argmax(bad))
        raise TakeError(f"time is {time[i]!r}", path, int(lines[i]), "a finite time in seconds")
    if time.size < 2:
        return np.ones(time.shape, dtype=bool)
    d = np.diff(time)
    back = d < 0
    if back.any():
        i = int(np.argmax(back)) + 1
        raise TakeError(f"time goes backwards ({time[i - 1]:.6g} then {time[i]:.6g})", path,
                        int(lines[i]), "strictly increasing timestamps")
    keep = np.ones(time.shape, dtype=bool)
    dup = np.flatnonzero(d == 0) + 1
    if dup.size:
        keep[dup] = False
        report.append(f"dropped {dup.size} {what} with a duplicated timestamp at {unit}s "
                      f"{describe_lines(lines[dup])}")
    return keep


def first_bad_value(path: str, values: np.ndarray, lines: np.ndarray, names: list[str]) -> None:
    """Raise for the first ±inf value (NaN is the reader's 'no sample' marker)."""
    bad = np.isinf(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TakeError(f"column '{names[c]}' holds {values[r, c]!r}", path, int(lines[r]),
                        "a finite number")


KINDS = ("pressure", "acc", "gyro", "force", "cop")


def build_feet(path: str, values: np.ndarray, names: list[str], lines: np.ndarray, keep: np.ndarray,
               time_col: int, layout: dict, report: list, first_line: int) -> dict:
    """Foot streams from a parsed table; ``layout[side][kind][index] = column``.

    A row where all of a foot's fields are empty has no sample of that foot; a
    row where only some are empty is an error (we do not guess which are real).
    """
    feet = {}
    for side in SIDES:
        if side not in layout:
            continue
        foot = layout[side]
        cols = [foot[k][i] for k in KINDS for i in sorted(foot.get(k, {}))]
        count = np.zeros(values.shape[0], dtype=np.int32)
        for c in cols:
            count += np.isnan(values[:, c])
        partial = (count > 0) & (count < len(cols)) & keep
        if partial.any():
            r = int(np.argmax(partial))
            c = next(c for c in cols if np.isnan(values[r, c]))
            raise TakeError(f"{side} foot row is partly empty (column '{names[c]}' is empty)", path,
                            int(lines[r]), f"all {side} fields or none")
        idx = np.flatnonzero(keep & (count == 0))
        if not idx.size:
            report.append(f"{side} foot has columns but no samples: left out")
            continue

        def pick(kind, flat=False):
            if not foot.get(kind):
                return None
            v = values[idx[:, None], np.array([foot[kind][i] for i in sorted(foot[kind])])[None, :]]
            return v[:, 0] if flat else v
        pressure = pick("pressure")
        feet[side] = FootStream(side, values[idx, time_col], pressure if pressure is not None
                                else np.zeros((idx.size, 0)), pick("acc"), pick("gyro"), pick("force", True),
                                pick("cop"))
    if not feet:
        raise TakeError("neither foot has a sample", path, first_line, "rows with left or right values")
    return feet

