# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks every reader applies, so that all formats follow one documented policy.

Policy (also in docs/formats.md): a non-finite or decreasing timestamp is an
error naming its line; an exactly repeated timestamp is a repair (the later
row is dropped and listed in ``take.report``).
"""

from __future__ import annotations

import numpy as np

from ..errors import TakeError


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
