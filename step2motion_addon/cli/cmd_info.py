# SPDX-License-Identifier: GPL-3.0-or-later
"""``info FILE``: what a recording holds (format, duration, rate, feet, gaps, forces)."""

from __future__ import annotations

import json

import numpy as np

HELP = "Summarise a recording (.txt Moticon export, .csv, .s2m)."


def add_arguments(parser) -> None:
    parser.add_argument("file", help="recording to describe")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of text")


def summarise(take) -> dict:
    from ..core.processing import find_gaps
    feet = {}
    for side, f in take.feet.items():
        gaps = find_gaps(f)
        force = f.force[f.valid] if f.force is not None else None
        feet[side] = {
            "samples": len(f), "valid": int(f.valid.sum()), "rate_hz": round(f.rate, 3),
            "cells": f.cells, "imu": f.has_imu,
            "gaps": len(gaps), "gap_s": round(sum(b - a for a, b in gaps), 4),
            "mean_force_n": None if force is None or not force.size else round(float(np.mean(force)), 2),
            "peak_force_n": None if force is None or not force.size else round(float(np.max(force)), 2),
        }
    m = take.meta
    return {"format": m.source_format, "device": m.device, "duration_s": round(take.duration, 4),
            "rate_hz": round(take.rate, 3), "insole_size": m.insole_size, "start_time": m.start_time,
            "name": m.name, "events": len(take.events), "feet": feet, "report": list(take.report)}


def run(args) -> int:
    from ..core.formats import load_take
    info = summarise(load_take(args.file))
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.file}: {info['format']} ({info['device']}), {info['duration_s']:.2f} s at "
          f"{info['rate_hz']:g} Hz, insole size {info['insole_size']}, {info['events']} events")
    for side, f in info["feet"].items():
        force = ("no force" if f["mean_force_n"] is None else
                 f"force mean {f['mean_force_n']:.0f} N, peak {f['peak_force_n']:.0f} N")
        print(f"  {side:5s}: {f['samples']} samples ({f['valid']} valid), {f['cells']} cells"
              f"{', IMU' if f['imu'] else ''}, {f['gaps']} gaps ({f['gap_s']:.2f} s), {force}")
    for line in info["report"]:
        print(f"  note: {line}")
    return 0
