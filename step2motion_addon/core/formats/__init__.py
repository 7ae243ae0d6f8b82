# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and writing takes: Moticon OpenGo text exports, generic CSV, native ``.s2m``.

``load_take`` decides the format from the file's first bytes (the extension
only breaks ties and a mismatch is noted in ``take.report``), so a 2 GB file
of garbage is rejected after reading 4 KB. Every problem is one
:class:`~..errors.TakeError` naming the file, the line and what was expected;
every repair is listed in ``take.report`` (policy in docs/formats.md).
"""

from __future__ import annotations

import os

from ..errors import FormatError, TakeError
from ..take import Take

SNIFF_BYTES = 4096
EXTENSIONS = {"moticon": ".txt", "csv": ".csv", "native": ".s2m"}
_NAMES = {"moticon": "Moticon OpenGo text export", "csv": "generic CSV", "native": "native .s2m take"}


def _read_head(path: str) -> bytes:
    if not os.path.exists(path):
        raise TakeError("file not found", path)
    if os.path.isdir(path):
        raise TakeError("is a folder", path, None, "a recording file")
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise TakeError(f"cannot be read ({exc.strerror or exc})", path) from None


def detect(path) -> str:
    """'moticon', 'csv' or 'native' from the file's content; raises FormatError otherwise."""
    from . import generic_csv, moticon, native
    path = str(path)
    head = _read_head(path)
    if not head:
        raise TakeError("the file is empty", path, 1, "a Moticon .txt, a generic .csv or a .s2m take")
    if native.is_native(head):
        return "native"
    if b"\x00" in head:        # text recordings never hold NUL bytes: refuse before reading the rest
        raise FormatError("binary content (NUL bytes) in the first 4 KB", path, head[:head.index(b"\x00")].count(b"\n") + 1,
                          "a Moticon .txt export or a CSV text file, or a .s2m take")
    if moticon.sniff(head):
        return "moticon"
    if generic_csv.sniff(head):
        return "csv"
    if b"\x00" in head:
        what = "binary content"
    else:
        first = head.split(b"\n", 1)[0][:60].decode("utf-8", "replace").strip()
        what = f"first line {first!r}"
    raise FormatError(f"not a recording this add-on reads ({what})", path, 1,
                      "a Moticon OpenGo .txt export ('# Start time: …' header), a CSV with a 'time[s]' "
                      "column, or a .s2m take")


def load_take(path) -> Take:
    """Read any supported recording into a :class:`Take` (raises TakeError only)."""
    from . import generic_csv, moticon, native
    path = str(path)
    kind = detect(path)
    reader = {"moticon": moticon.read_moticon, "csv": generic_csv.read_csv, "native": native.read_native}[kind]
    try:
        take = reader(path)
    except TakeError:
        raise
    except MemoryError:
        raise TakeError("too large to load into memory", path) from None
    except (OSError, UnicodeError, ValueError) as exc:      # a reader bug must still name the file
        raise TakeError(f"unreadable ({type(exc).__name__}: {exc})", path) from None
    ext = os.path.splitext(path)[1].lower()
    if ext != EXTENSIONS[kind]:
        take.note(f"the extension '{ext or '(none)'}' does not match the content; read as {_NAMES[kind]}")
    return take


def save_take(take: Take, path) -> None:
    """Write a take; the format follows the extension (.txt Moticon, .csv generic, .s2m native)."""
    from . import generic_csv, moticon, native
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    writers = {".txt": moticon.write_moticon, ".csv": generic_csv.write_csv, ".s2m": native.write_native}
    if ext not in writers:
        raise TakeError(f"unknown extension '{ext}'", path, None, "one of .txt, .csv, .s2m")
    writers[ext](take, path)


__all__ = ["load_take", "save_take", "detect", "TakeError", "FormatError"]
