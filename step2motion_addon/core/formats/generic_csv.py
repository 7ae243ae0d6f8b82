# SPDX-License-Identifier: GPL-3.0-or-later
"""Generic CSV takes: one row per timestamp, named columns with units (docs/formats.md).

Optional ``# key: value`` lines before the header carry metadata
(``device``, ``insole_size``, ``body_mass_kg``, ``start_time``, ``name``,
``notes``, ``tag``, ``serial_left``, ``serial_right``) and events
(``# event: <time> <side> <kind>``). The header names columns such as
``time[s]``, ``left_pressure_01[N/cm2]``, ``left_acc_x[g]``,
``left_gyro_x[dps]``, ``left_force[N]``, ``left_cop_x[-]`` in any order;
channels may be missing (IMU-only, pressure-only). An empty field means "no
sample of that foot in this row".
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..errors import FormatError, TakeError
from ..take import SIDES, Event, Take, TakeMeta
from .checks import build_feet, order_time
from .textparse import odd_field_error, parse_body, read_bytes

_COL = re.compile(r"^(left|right)_(pressure_(\d+)|acc_([xyz])|gyro_([xyz])|force|cop_([xy]))\[(.*)\]$")
_UNITS = {"pressure": {"N/cm2", "N/cm²"}, "acc": {"g"}, "gyro": {"dps"}, "force": {"N"}, "cop": {"-"}}
_XYZ = {"x": 0, "y": 1, "z": 2}
_META_STR = ("device", "start_time", "name", "notes", "tag", "recording_type")


def sniff(head: bytes) -> bool:
    head = head.removeprefix(b"\xef\xbb\xbf")
    for line in head.split(b"\n"):
        if line.startswith(b"#"):
            continue
        return b"," in line and (line.startswith(b"time") or b"time[s]" in line.split(b","))
    return False


def _header(path: str, lines: list[bytes]) -> tuple[TakeMeta, list[Event], list[str], int]:
    meta = TakeMeta(source_format="csv", source_path=path)
    events = []
    for i, raw in enumerate(lines[:-1], start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r")[1:].strip()
        except UnicodeDecodeError:
            raise TakeError("comment line is not UTF-8 text", path, i, "'# key: value'") from None
        key, sep, value = text.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        try:
            if key in _META_STR:
                setattr(meta, key, value)
            elif key == "insole_size":
                meta.insole_size = int(value)
            elif key == "body_mass_kg":
                meta.body_mass_kg = float(value)
                if not math.isfinite(meta.body_mass_kg) or meta.body_mass_kg <= 0:
                    raise ValueError
            elif key.startswith("serial_") and key[7:] in SIDES:
                meta.serials[key[7:]] = value
            elif key == "event":
                t, side, kind = value.split(None, 2)
                if not math.isfinite(float(t)):
                    raise ValueError
                events.append(Event(float(t), side if side in SIDES else "", kind))
            else:
                meta.extra[key] = value
        except ValueError:
            raise TakeError(f"bad '{key}' value {value!r}", path, i,
                            "'# event: <time> <side> <kind>'" if key == "event" else f"a valid {key}") from None
    try:
        names = [n.strip() for n in lines[-1].decode("utf-8").rstrip("\r").split(",")]
    except UnicodeDecodeError:
        raise TakeError("header is not UTF-8 text", path, len(lines), "column names") from None
    return meta, events, names, len(lines)


def _layout(path: str, names: list[str], line: int) -> tuple[int, dict, list[int]]:
    seen, feet, unknown, time_col = {}, {}, [], None
    for c, name in enumerate(names):
        if name in seen:
            raise TakeError(f"column '{name}' appears twice", path, line, "unique column names")
        seen[name] = c
        if name in ("time[s]", "time"):
            time_col = c
            continue
        m = _COL.match(name)
        if not m:
            unknown.append(c)
            continue
        side, what, unit = m.group(1), m.group(2), m.group(7)
        if what.startswith("pressure"):
            kind, idx = "pressure", int(m.group(3)) - 1
        elif what.startswith("acc"):
            kind, idx = "acc", _XYZ[m.group(4)]
        elif what.startswith("gyro"):
            kind, idx = "gyro", _XYZ[m.group(5)]
        elif what == "force":
            kind, idx = "force", 0
        else:
            kind, idx = "cop", _XYZ[m.group(6)]
        if unit not in _UNITS[kind]:
            raise TakeError(f"column '{name}' has unit [{unit}]", path, line, f"[{sorted(_UNITS[kind])[0]}]")
        feet.setdefault(side, {}).setdefault(kind, {})[idx] = c
    if time_col is None:
        raise TakeError("no 'time[s]' column", path, line, "a column named time[s]")
    for side, foot in feet.items():
        cells = sorted(foot.get("pressure", {}))
        if cells and cells != list(range(len(cells))):
            missing = min(set(range(max(cells) + 1)) - set(cells)) + 1
            raise TakeError(f"{side}_pressure_{missing:02d} is missing", path, line,
                            f"{side}_pressure_01…{max(cells) + 1:02d}")
        for kind, width in (("acc", 3), ("gyro", 3), ("cop", 2)):
            got = foot.get(kind, {})
            if got and len(got) != width:
                axis = "xyz"[min(set(range(width)) - set(got))]
                raise TakeError(f"{side}_{kind}_{axis} is missing", path, line, f"all {width} axes of {side}_{kind}")
    if not feet:
        raise TakeError("no column of either foot", path, line, "columns such as left_pressure_01[N/cm2]")
    return time_col, feet, unknown


def read_csv(path) -> Take:
    path = str(path)
    data = read_bytes(path)
    pos, header = 0, []
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise TakeError("file ends inside the header", path, len(header) + 1, "data rows after the header")
        header.append(data[pos:nl])
        pos = nl + 1
        if not header[-1].startswith(b"#"):
            break
        if len(header) > 10000:
            raise FormatError("too many comment lines", path, len(header), "a CSV header")
    meta, events, names, col_line = _header(path, header)
    time_col, layout, unknown = _layout(path, names, col_line)
    report: list[str] = []
    if unknown:
        meta.extra["ignored_columns"] = [names[c] for c in unknown]
        report.append(f"ignored unknown columns: {', '.join(names[c] for c in unknown)}")
    first_line = col_line + 1
    values, odd = parse_body(data, pos, first_line, names, 44, path, report)
    del data
    for r, c, text in odd:
        if c not in unknown:
            raise odd_field_error(path, first_line + r, names[c], text)
    lines = first_line + np.arange(values.shape[0])
    time = values[:, time_col]
    if np.isnan(time).any():
        r = int(np.argmax(np.isnan(time)))
        raise TakeError("empty time field", path, int(lines[r]), "a time in seconds")
    keep = order_time(path, time, lines, report)
    feet = build_feet(path, values, names, lines, keep, time_col, layout, report, first_line)
    events.sort(key=lambda e: e.time)
    return Take(feet, meta, events, report)


def write_csv(take: Take, path) -> None:
    path = str(path)
    sides = take.sides
    if not sides:
        raise TakeError("the take has no foot to write", path)
    stamps = {s: np.round(take.feet[s].time[take.feet[s].valid], 9) for s in sides}
    t = np.unique(np.concatenate(list(stamps.values())))
    names, segs = ["time[s]"], []
    for s in sides:
        f = take.feet[s]
        cols, fm = [], []
        names += [f"{s}_pressure_{i + 1:02d}[N/cm2]" for i in range(f.cells)]
        cols.append(f.pressure)
        fm += ["%.2f"] * f.cells
        for kind, axes, unit, fmt in (("acc", "xyz", "g", "%.6f"), ("gyro", "xyz", "dps", "%.6f"),
                                      ("force", "", "N", "%.2f"), ("cop", "xy", "-", "%.6f")):
            v = getattr(f, kind)
            if v is None:
                continue
            names += [f"{s}_{kind}_{a}[{unit}]" for a in axes] if axes else [f"{s}_{kind}[{unit}]"]
            cols.append(v.reshape(len(f), -1))
            fm += [fmt] * max(1, len(axes))
        block = np.concatenate([c.astype(np.float64) for c in cols], axis=1)[f.valid]
        fmt = ",".join(fm)
        seg = np.full(len(t), "," * (len(fm) - 1), dtype=object)
        seg[np.searchsorted(t, stamps[s])] = [fmt % tuple(r) for r in block.tolist()]
        segs.append(seg)
    dec = 2 if np.allclose(np.round(t * 100) / 100, t, atol=1e-9, rtol=0) else 6
    times = [f"%.{dec}f" % x for x in t.tolist()]
    meta = take.meta
    head = []
    for key in _META_STR:
        if getattr(meta, key):
            head.append(f"{key}: {' '.join(str(getattr(meta, key)).split())}")
    if meta.insole_size is not None:
        head.append(f"insole_size: {int(meta.insole_size)}")
    if meta.body_mass_kg is not None:
        head.append(f"body_mass_kg: {meta.body_mass_kg:g}")
    for side, serial in meta.serials.items():
        head.append(f"serial_{side}: {' '.join(str(serial).split())}")
    for e in take.events:
        head.append(f"event: {e.time:.6f} {e.side or '-'} {' '.join(e.kind.split())}")
    text = "".join(f"# {h}\n" for h in head) + ",".join(names) + "\n"
    text += "\n".join(",".join(row) for row in zip(times, *segs)) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
