# SPDX-License-Identifier: GPL-3.0-or-later
"""Moticon OpenGo text export (``.txt``): reader and writer.

The file is a block of ``# Key: value`` header lines, a last ``#`` line of
tab-separated column names, then one tab-separated row per time step shared by
both feet. Columns are mapped by name (never by position); a foot without a
sample in a row has empty fields there. Step columns (``left steps[]``,
``right steps[]``) hold Moticon's codes 11/15 (left heel strike/toe off) and
21/25 (right); event columns come in pairs ``<group> label[]`` (text) and
``<group>[]`` (value). Unknown header fields are kept in ``meta.extra``;
unknown columns are listed in ``take.report``.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np

from ..errors import FormatError, TakeError
from ..take import EVENT_CODES, EVENT_FROM_CODE, SIDES, Event, FootStream, Take, TakeMeta
from .checks import build_feet, describe_lines, order_time
from .textparse import odd_field_error, parse_body, read_bytes

DEVICE = "Moticon OpenGo"
P_UNIT = "N/cm²"
COP_UNIT = "-0.5...+0.5"
_COL = re.compile(r"^(left|right) (pressure (\d+)|acceleration ([XYZ])|angular ([XYZ])|total force|"
                  r"center of pressure ([XY])|steps)\[(.*)\]$")
_UNITS = {"pressure": {P_UNIT, "N/cm2"}, "acc": {"g"}, "gyro": {"dps"}, "force": {"N"}, "cop": {COP_UNIT},
          "steps": {""}}
_XYZ = {"X": 0, "Y": 1, "Z": 2}
KNOWN_HEADER = ("Start timestamp", "Start time", "Duration", "Sensor insoles", "Size", "Recording type",
                "Name", "Notes", "Tag")


def sniff(head: bytes) -> bool:
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head.startswith(b"#"):
        return False
    return (b"# Start time:" in head or b"# Sensor insoles:" in head or b"# Start timestamp:" in head
            or head.startswith(b"# time\t") or b"\n# time\t" in head)


# -- header ----------------------------------------------------------------------

def _parse_header(path: str, lines: list[bytes]) -> tuple[TakeMeta, list[str], int]:
    """Meta, column names and the line number of the column line."""
    meta = TakeMeta(device=DEVICE, source_format="moticon", source_path=path)
    fields = []
    for i, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise TakeError("header line is not UTF-8 text", path, i, "a '# Key: value' line") from None
        fields.append(text[1:].lstrip(" ") if text.startswith("#") else text)
    if not fields or not fields[-1].startswith("time"):
        raise TakeError("no column line", path, len(lines) or 1,
                        "a last header line '# time<TAB>left pressure 1[N/cm²]…'")
    names = fields[-1].split("\t")
    for i, text in enumerate(fields[:-1], start=1):
        key, sep, value = text.partition(":")
        if not sep:
            meta.extra[f"header line {i}"] = text
            continue
        key, value = key.strip(), value.strip()
        if key == "Start timestamp":
            if not value.isdigit():
                raise TakeError(f"Start timestamp {value!r}", path, i, "epoch milliseconds")
            meta.start_timestamp_ms = int(value)
        elif key == "Start time":
            try:
                meta.start_time = datetime.strptime(value, "%d.%m.%Y %H:%M:%S.%f").isoformat(timespec="milliseconds")
            except ValueError:
                raise TakeError(f"Start time {value!r}", path, i, "dd.mm.YYYY HH:MM:SS.fff") from None
        elif key == "Duration":
            meta.extra["Duration"] = value
        elif key == "Sensor insoles":
            for part in value.split(","):
                words = part.split()
                if len(words) == 2 and words[0].lower() in SIDES:
                    meta.serials[words[0].lower()] = words[1]
                elif part.strip():
                    meta.extra.setdefault("Sensor insoles", value)
        elif key == "Size":
            if not value.isdigit():
                raise TakeError(f"Size {value!r}", path, i, "an insole size number")
            meta.insole_size = int(value)
        elif key == "Recording type":
            meta.recording_type = value
        elif key == "Name":
            meta.name = value
        elif key == "Notes":
            meta.notes = value
        elif key == "Tag":
            meta.tag = value
        else:
            meta.extra[key] = value
    return meta, names, len(lines)


class _Layout:
    """Where each channel of each foot lives among the columns."""

    def __init__(self, path: str, names: list[str], line: int):
        self.time = None
        self.feet: dict[str, dict] = {}
        self.steps: list[int] = []
        self.event_pairs: list[tuple[int, int, str]] = []   # (label col, value col, group)
        self.unknown: list[int] = []
        seen = {}
        for c, name in enumerate(names):
            if name in seen:
                raise TakeError(f"column '{name}' appears twice (columns {seen[name] + 1} and {c + 1})", path,
                                line, "unique column names")
            seen[name] = c
        label_cols = set()
        for c, name in enumerate(names):
            if name.endswith(" label[]") and c + 1 < len(names) and names[c + 1] == name[:-len(" label[]")] + "[]":
                self.event_pairs.append((c, c + 1, name[:-len(" label[]")]))
                label_cols.update((c, c + 1))
        for c, name in enumerate(names):
            if c in label_cols:
                continue
            if name == "time" or name.startswith("time["):
                self.time = c
                continue
            m = _COL.match(name)
            if not m:
                self.unknown.append(c)
                continue
            side, what, unit = m.group(1), m.group(2), m.group(7)
            foot = self.feet.setdefault(side, {"pressure": {}, "acc": {}, "gyro": {}, "force": {}, "cop": {}})
            if what.startswith("pressure"):
                kind, idx = "pressure", int(m.group(3)) - 1
            elif what.startswith("acceleration"):
                kind, idx = "acc", _XYZ[m.group(4)]
            elif what.startswith("angular"):
                kind, idx = "gyro", _XYZ[m.group(5)]
            elif what == "total force":
                kind, idx = "force", 0
            elif what == "steps":
                kind, idx = "steps", 0
            else:
                kind, idx = "cop", _XYZ[m.group(6)]
            if unit not in _UNITS[kind]:
                raise TakeError(f"column '{name}' has unit [{unit}]", path, line,
                                f"[{'] or ['.join(sorted(_UNITS[kind]))}]")
            if kind == "steps":
                self.steps.append(c)
            else:
                foot[kind][idx] = c
        if self.time is None:
            raise TakeError("no 'time' column", path, line, "a first column named 'time'")
        for side, foot in list(self.feet.items()):
            cells = sorted(foot["pressure"])
            if cells and cells != list(range(len(cells))):
                missing = sorted(set(range(max(cells) + 1)) - set(cells))
                raise TakeError(f"{side} pressure column {missing[0] + 1} is missing", path, line,
                                f"{side} pressure 1…{max(cells) + 1}")
            for kind, width in (("acc", 3), ("gyro", 3), ("cop", 2)):
                if foot[kind] and len(foot[kind]) != width:
                    axis = "XYZ"[min(set(range(width)) - set(foot[kind]))]
                    raise TakeError(f"{side} {kind} axis {axis} is missing", path, line,
                                    f"all {width} axes of {side} {kind}")
            if not cells and not foot["acc"] and not foot["gyro"] and not foot["force"]:
                del self.feet[side]

    def core_columns(self, side: str) -> list[int]:
        foot = self.feet[side]
        cols = []
        for kind in ("pressure", "acc", "gyro", "force", "cop"):
            cols += [foot[kind][i] for i in sorted(foot[kind])]
        return cols


# -- reading ---------------------------------------------------------------------

def read_moticon(path) -> Take:
    path = str(path)
    data = read_bytes(path)
    # Header: the leading lines starting with '#'.
    pos, header = 0, []
    while data.startswith(b"#", pos):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise TakeError("file ends inside the header", path, len(header) + 1, "data rows after the header")
        header.append(data[pos:nl])
        pos = nl + 1
        if len(header) > 1000:
            raise FormatError("more than 1000 header lines", path, len(header), "a Moticon header of ~10 lines")
    if not header:
        raise FormatError("no '#' header", path, 1, "a Moticon OpenGo text export")
    meta, names, col_line = _parse_header(path, header)
    layout = _Layout(path, names, col_line)
    if not layout.feet:
        raise TakeError("no column of either foot", path, col_line, "columns such as 'left pressure 1[N/cm²]'")
    report: list[str] = []
    if layout.unknown:
        ignored = [names[c] for c in layout.unknown]
        meta.extra["ignored_columns"] = ignored
        report.append(f"ignored unknown columns: {', '.join(ignored)}")

    first_line = col_line + 1
    values, odd = parse_body(data, pos, first_line, names, 9, path, report)
    del data
    label_cols = {p[0] for p in layout.event_pairs}
    labels: dict[tuple[int, int], str] = {}
    for r, c, text in odd:
        if c in label_cols:
            labels[(r, c)] = text
        else:
            raise odd_field_error(path, first_line + r, names[c], text)
    lines = first_line + np.arange(values.shape[0])
    time = values[:, layout.time]
    if np.isnan(time).any():
        r = int(np.argmax(np.isnan(time)))
        raise TakeError("empty time field", path, int(lines[r]), "a time in seconds")
    keep = order_time(path, time, lines, report)

    feet = build_feet(path, values, names, lines, keep, layout.time, layout.feet, report, first_line)

    events = []
    bad_codes = []
    for c in layout.steps:
        col = values[:, c]
        for r in np.flatnonzero(~np.isnan(col) & keep):
            key = EVENT_FROM_CODE.get(int(col[r])) if float(col[r]).is_integer() else None
            if key is None:
                bad_codes.append(int(lines[r]))
                continue
            events.append(Event(float(time[r]), key[0], key[1]))
    if bad_codes:
        report.append(f"ignored unknown step codes at lines {describe_lines(np.array(bad_codes))}")
    for lc, vc, group in layout.event_pairs:
        side = group.split()[0].lower() if group.split() and group.split()[0].lower() in SIDES else ""
        for (r, c), text in sorted(labels.items()):
            if c != lc or not keep[r]:
                continue
            value = values[r, vc]
            events.append(Event(float(time[r]), side, text, group, None if np.isnan(value) else float(value)))
    events.sort(key=lambda e: e.time)
    return Take(feet, meta, events, report)


# -- writing ---------------------------------------------------------------------

def _fmt_duration(seconds: float) -> str:
    minutes, sec = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes):02d}:{sec:06.3f}"


def _fmt_start(meta: TakeMeta) -> str:
    when = None
    if meta.start_time:
        try:
            when = datetime.fromisoformat(meta.start_time)
        except ValueError:
            when = None
    if when is None and meta.start_timestamp_ms is not None:
        when = datetime.fromtimestamp(meta.start_timestamp_ms / 1000.0)
    if when is None:
        when = datetime(2000, 1, 1)
    return when.strftime("%d.%m.%Y %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def _clean(text) -> str:
    return " ".join(str(text).split())


def write_moticon(take: Take, path) -> None:
    path = str(path)
    sides = take.sides
    if not sides:
        raise TakeError("the take has no foot to write", path)
    meta = take.meta
    # Common time axis: every time at which either foot has a valid sample.
    stamps = {s: np.round(take.feet[s].time[take.feet[s].valid], 9) for s in sides}
    t = np.unique(np.concatenate(list(stamps.values())))
    dec = 2 if np.allclose(np.round(t * 100) / 100, t, atol=1e-9, rtol=0) else 6

    names = ["time"]
    fmts = []
    parts = {}
    for s in sides:
        f = take.feet[s]
        cols, fm = [], []
        names += [f"{s} pressure {i + 1}[{P_UNIT}]" for i in range(f.cells)]
        cols.append(f.pressure)
        fm += ["%.2f"] * f.cells
        if f.acc is not None:
            names += [f"{s} acceleration {a}[g]" for a in "XYZ"]
            cols.append(f.acc)
            fm += ["%.6f"] * 3
        if f.gyro is not None:
            names += [f"{s} angular {a}[dps]" for a in "XYZ"]
            cols.append(f.gyro)
            fm += ["%.6f"] * 3
        if f.force is not None:
            names.append(f"{s} total force[N]")
            cols.append(f.force[:, None])
            fm.append("%.2f")
        if f.cop is not None:
            names += [f"{s} center of pressure {a}[{COP_UNIT}]" for a in "XY"]
            cols.append(f.cop)
            fm += ["%.6f"] * 2
        block = np.concatenate([c.astype(np.float64) for c in cols], axis=1)[f.valid]
        fmt = "\t".join(fm)
        rows = [fmt % tuple(r) for r in block.tolist()] if fm else [""] * len(block)
        empty = "\t" * (len(fm) - 1)
        seg = np.full(len(t), empty, dtype=object)
        seg[np.searchsorted(t, stamps[s])] = rows
        parts[s] = seg
        fmts.append(len(fm))

    # Events: steps as Moticon codes, the rest as label/value column pairs.
    step_cols = {}
    groups: dict[str, list[Event]] = {}
    for e in take.events:
        if e.code is not None and not getattr(e, "group", ""):
            step_cols.setdefault(e.side, []).append(e)
        else:
            groups.setdefault(getattr(e, "group", "") or "Events", []).append(e)
    extra_cols = []
    for side in ("right", "left"):
        if step_cols:
            names.append(f"{side} steps[]")
            col = np.full(len(t), "", dtype=object)
            for e in step_cols.get(side, []):
                col[min(np.searchsorted(t, e.time - 1e-9), len(t) - 1)] = str(e.code)
            extra_cols.append(col)
    for group, evs in groups.items():
        names += [f"{group} label[]", f"{group}[]"]
        lab = np.full(len(t), "", dtype=object)
        val = np.full(len(t), "", dtype=object)
        for e in evs:
            r = min(np.searchsorted(t, e.time - 1e-9), len(t) - 1)
            lab[r] = _clean(e.kind).replace("\t", " ")
            v = getattr(e, "value", None)
            val[r] = "" if v is None else f"{v:.2f}"
        extra_cols += [lab, val]

    times = [f"%.{dec}f" % x for x in t.tolist()]
    columns = [times] + [parts[s] for s in sides] + extra_cols
    body = "\n".join("\t".join(row) for row in zip(*columns))

    header = []
    if meta.start_timestamp_ms is not None:
        header.append(f"Start timestamp: {int(meta.start_timestamp_ms)}")
    header.append(f"Start time: {_fmt_start(meta)}")
    header.append(f"Duration: {_fmt_duration(float(t[-1] - t[0]) if len(t) else 0.0)}")
    serials = [f"{s.capitalize()} {_clean(meta.serials.get(s, 'unknown')) or 'unknown'}" for s in SIDES
               if s in meta.serials or s in sides]
    header.append(f"Sensor insoles: {', '.join(serials)}")
    if meta.insole_size is not None:
        header.append(f"Size: {int(meta.insole_size)}")
    header.append(f"Recording type: {_clean(meta.recording_type) or 'normal'}")
    header.append(f"Name: {_clean(meta.name)}")
    header.append(f"Notes: {_clean(meta.notes)}")
    header.append(f"Tag: {_clean(meta.tag)}")
    for key, value in (meta.extra or {}).items():
        if (isinstance(value, str) and key not in KNOWN_HEADER and ":" not in key
                and not key.startswith("header line") and _clean(key) == key):
            header.append(f"{key}: {_clean(value)}")
    header.append("\t".join(names))
    text = "".join(f"# {h}\n" for h in header) + body + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


__all__ = ["read_moticon", "write_moticon", "sniff", "EVENT_CODES"]
