# SPDX-License-Identifier: GPL-3.0-or-later
"""How far the insoles' heading ends from the body's, per motion category (a root-drift diagnostic).

For every clip of a shard split: the mean of the two feet's heading (what the
runtime integrates with ``root_heading: "feet"``) against the true heading of
the hips, both from the start of the clip; prints the mean absolute final
error of runs (run, dash), walks (walk*) and the rest. Features as training makes
them (``training.data.FEATURES``), or with ``--tilt-offset`` the other way.

    .venv/bin/python tools/heading_error.py --data shards --split test [--tilt-offset median]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step2motion_addon.core.features import extract_features          # noqa: E402
from step2motion_addon.core.inference.pose import heading              # noqa: E402
from step2motion_addon.core.motion import rotations as rot             # noqa: E402
from training import data                                              # noqa: E402


def group(category: str) -> str:
    return "run" if category in ("run", "dash") else "walk" if category.startswith("walk") else "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="shards")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--tilt-offset", choices=("median", "strides"), default=data.FEATURES["tilt_offset"])
    args = ap.parse_args(argv)
    options = dict(data.FEATURES, tilt_offset=args.tilt_offset)
    errors: dict[str, list[float]] = {}
    for take, motion, entry in data.iter_clips(Path(args.data), args.split, args.limit):
        feats = extract_features(take, rate=30.0, **options)
        truth = motion.resampled(30.0)
        n = min(feats.frames, truth.frames)
        psi = np.unwrap(heading(rot.normalize(truth.rotations[:n, 0])))
        feet = feats.foot_yaw[:n].mean(axis=1)
        final = np.degrees((feet[-1] - feet[0]) - (psi[-1] - psi[0]))
        errors.setdefault(group(entry.get("category", "")), []).append(abs(float(final)))
    for name, errs in sorted(errors.items()):
        print(f"{name:6s} {len(errs):4d} clips  mean |final heading error| {np.mean(errs):5.2f}°")
    print(f"all    {sum(map(len, errors.values())):4d} clips  {np.mean(sum(errors.values(), [])):5.2f}°")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
