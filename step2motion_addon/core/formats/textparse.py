# SPDX-License-Identifier: GPL-3.0-or-later
"""Fast, strict parsing of delimited decimal tables with numpy (no per-row Python loop).

Numbers in recordings are plain decimals (``-0.189453``, ``509.00``, ``11``).
Instead of calling ``strtod`` per field, the bytes are classified at once,
fields are located from the delimiters, and each column's digits are gathered
at fixed offsets from its decimal point and summed with integer weights, so
the result is exactly the correctly-rounded value. Anything else in a field
(letters, ``nan``, ``1e5``, a second ``.``) is located and handed to the caller
by (row, column, text), so labels can be kept and garbage named precisely.
Empty fields become NaN ("no sample").
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import TakeError

_ALLOWED = np.zeros(256, dtype=bool)
_ALLOWED[48:58] = True          # digits
_ALLOWED[[45, 46]] = True       # '-' '.'
MAX_DIGITS = 15                 # float64 holds 15 significant decimal digits exactly
F32_MAX = float(np.finfo(np.float32).max)
MAX_ODD_FIELDS = 10_000         # more non-numeric fields than this: not a table of numbers


def _field_bounds(a: np.ndarray, sep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ends = np.flatnonzero((a == sep) | (a == 10))
    starts = np.empty_like(ends)
    if ends.size:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    line_end = np.flatnonzero(a[ends] == 10)
    return starts, ends, line_end


def parse_table(buf: bytes, ncols: int, sep: int, path: str, first_line: int,
                names: list[str]) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Parse complete lines (each ending in ``\\n``) of ``ncols`` fields.

    Returns ``(values (rows, ncols) float64, odd)`` where ``odd`` lists the
    fields that are not plain decimals as ``(row, column, text)``; those values
    are NaN. Raises TakeError for a line with the wrong number of fields.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    starts, ends, line_end = _field_bounds(a, sep)
    nrows = line_end.size
    if ends.size != nrows * ncols or not np.array_equal(line_end, np.arange(1, nrows + 1) * ncols - 1):
        counts = np.diff(np.r_[-1, line_end])
        r = int(np.argmax(counts != ncols)) if np.any(counts != ncols) else nrows
        got = int(counts[r]) if r < nrows else 0
        raise TakeError(f"{got} fields", path, first_line + r, f"{ncols} fields separated by {chr(sep)!r}")
    if nrows == 0:
        return np.zeros((0, ncols)), []

    odd_tok: set[int] = set()
    bad_bytes = np.flatnonzero(~_ALLOWED[a] & (a != sep) & (a != 10))
    if bad_bytes.size:
        odd_tok.update(np.unique(np.searchsorted(ends, bad_bytes)).tolist()[:MAX_ODD_FIELDS + 1])

    ntok = ends.size
    dot_at = ends.copy()                      # no '.': the decimal point is at the end
    dots = np.flatnonzero(a == 46)
    if dots.size:
        dtok = np.searchsorted(ends, dots)
        twice = dtok[1:][dtok[1:] == dtok[:-1]]
        odd_tok.update(twice.tolist()[:MAX_ODD_FIELDS + 1])
        dot_at[dtok] = dots
    neg = np.zeros(ntok, dtype=bool)
    minus = np.flatnonzero(a == 45)
    if minus.size:
        mtok = np.searchsorted(ends, minus)
        misplaced = minus != starts[mtok]
        odd_tok.update(mtok[misplaced].tolist()[:MAX_ODD_FIELDS + 1])
        neg[mtok] = True
    intlen = dot_at - starts - neg
    declen = np.maximum(ends - dot_at - 1, 0)
    empty = ends == starts
    nodigit = (intlen + declen == 0) & ~empty
    if nodigit.any():
        odd_tok.update(np.flatnonzero(nodigit).tolist()[:MAX_ODD_FIELDS + 1])
    if len(odd_tok) > MAX_ODD_FIELDS:
        tok = min(odd_tok)
        raise TakeError(f"field '{_text(buf, starts[tok], ends[tok])}' is not a number", path,
                        first_line + tok // ncols, f"a number in column '{names[tok % ncols]}'")

    I, D = int(intlen.max()), int(declen.max())
    if I + D <= MAX_DIGITS:
        # Digits gathered at fixed offsets around each field's decimal point, masked to the field,
        # and summed with powers of ten in one matrix product: exact integers, one division.
        offs = np.r_[-np.arange(I, 0, -1), np.arange(1, D + 1)]
        weights = 10.0 ** np.r_[np.arange(D + I - 1, D - 1, -1), np.arange(D - 1, -1, -1)]
        digits = np.take(a, dot_at[:, None] + offs[None, :], mode="clip") - np.uint8(48)
        keep = np.concatenate([offs[None, :I] >= -intlen[:, None], offs[None, I:] <= declen[:, None]], axis=1)
        digits *= keep
        v = digits.astype(np.float64) @ weights      # float64 @ float64 runs in BLAS
        v /= 10.0 ** D
    else:
        # Very long numbers are rare: exact but slow path.
        v = np.array([_float_or_nan(buf[s:e]) for s, e in zip(starts, ends)])
        # Takes store float32: a number beyond its range would load as ±inf (≤ 15 digits never is).
        odd_tok.update(np.flatnonzero(np.abs(v) > F32_MAX).tolist())
    v[neg] *= -1.0
    v[empty] = np.nan
    values = v.reshape(nrows, ncols)

    odd = []
    for tok in sorted(odd_tok):
        r, c = divmod(tok, ncols)
        text = _text(buf, starts[tok], ends[tok])
        try:                                  # e.g. '1e-05' or '+3' from other tools
            v = float(text)
        except ValueError:
            v = np.nan
        ok = np.isfinite(v) and abs(v) <= F32_MAX      # '1e39' is a float64 but not a float32
        values[r, c] = v if ok else np.nan
        if not ok:
            odd.append((r, c, text))
    return values, odd


def _float_or_nan(b: bytes) -> float:
    try:
        v = float(b) if b else np.nan
    except ValueError:
        return np.nan
    return v if np.isfinite(v) else np.nan


def _text(buf: bytes, s: int, e: int) -> str:
    return bytes(buf[int(s):int(e)]).decode("utf-8", "replace").strip()


def odd_field_error(path: str, line: int, column: str, text: str) -> TakeError:
    low = text.strip().lower().lstrip("+-")
    if low in ("nan", "inf", "infinity"):
        return TakeError(f"column '{column}' holds {text!r}", path, line, "a finite number (empty = no sample)")
    shown = text if len(text) <= 40 else text[:40] + "…"
    try:
        big = abs(float(text)) > F32_MAX
    except ValueError:
        big = False
    if big:
        return TakeError(f"column '{column}' holds {shown!r}, beyond the 32-bit range a take stores", path, line,
                         "a number within ±3.4e38")
    return TakeError(f"field {shown!r} in column '{column}' is not a number", path, line, "a plain decimal number")


CHUNK_BYTES = 1 << 20
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))


def parse_table_chunked(data: bytes, start: int, end: int, ncols: int, sep: int, path: str, first_line: int,
                        names: list[str]) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """:func:`parse_table` of ``data[start:end]`` (whole lines) in ~1 MB slices.

    Temporaries stay bounded, so peak memory is about the file plus the result.
    """
    view = memoryview(data)
    cuts = [start]
    while cuts[-1] < end:
        cut = end if end - cuts[-1] <= CHUNK_BYTES else data.find(b"\n", cuts[-1] + CHUNK_BYTES, end) + 1
        cuts.append(end if cut <= 0 else cut)
    counts = [int(np.count_nonzero(np.frombuffer(view[a:b], dtype=np.uint8) == 10))
              for a, b in zip(cuts[:-1], cuts[1:])]
    values = np.empty((sum(counts), ncols), dtype=np.float64)
    firsts = np.r_[0, np.cumsum(counts)[:-1]].tolist()

    def parse(job):
        a, b, row = job
        return parse_table(view[a:b], ncols, sep, path, first_line + row, names)

    # numpy releases the GIL in the heavy steps, so slices parse in parallel threads;
    # map() yields in order, so the first bad line is still the one reported.
    jobs = list(zip(cuts[:-1], cuts[1:], firsts))
    odd: list[tuple[int, int, str]] = []
    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        for (a, b, row), n, (part, more) in zip(jobs, counts, pool.map(parse, jobs)):
            values[row:row + n] = part
            odd += [(r + row, c, text) for r, c, text in more]
    return values, odd


def parse_body(data: bytes, pos: int, first_line: int, names: list[str], sep: int, path: str,
               report: list[str]) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Parse the data rows of a delimited export, from byte ``pos`` (just after the header).

    Trailing blank lines are harmless; a truncated last line (a recording cut off while
    writing) is dropped and reported; no complete row at all is an error.
    """
    kind = {9: "tab", 44: "comma"}.get(sep, repr(chr(sep)))
    ended = data.endswith(b"\n")
    end = len(data)
    while end > pos and data[end - 1] == 10:
        end -= 1
    if end <= pos:
        raise TakeError("no data rows", path, first_line, f"{kind}-separated rows after the header")
    last_start = max(data.rfind(b"\n", pos, end) + 1, pos)
    fields = data.count(bytes([sep]), last_start, end) + 1
    if fields != len(names) and not ended:
        line = first_line + data.count(b"\n", pos, last_start)
        report.append(f"dropped the truncated last line {line} ({fields} of {len(names)} fields)")
        end = last_start - 1
        if end <= pos:
            raise TakeError("no complete data row", path, first_line, f"{len(names)} fields per row")
    if data[end:end + 1] == b"\n":
        body, start, stop = data, pos, end + 1
    else:
        body, start, stop = data[pos:end] + b"\n", 0, end - pos + 1
    return parse_table_chunked(body, start, stop, len(names), sep, path, first_line, names)


def read_bytes(path: str) -> bytes:
    """A text export's bytes with a UTF-8 byte-order mark dropped and CRLF line ends made LF."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    return data
