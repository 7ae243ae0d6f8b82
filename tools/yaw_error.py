# SPDX-License-Identifier: GPL-3.0-or-later
"""How far each insole's heading drifts from its true heading in the first seconds of a take.

Every ``--every``-th walk or run of a shard split is simulated again from its
motion with the parameters its manifest records, keeping the simulator's true
IMU orientation (``simulate_insoles(..., truth=)``); the heading the runtime
integrates (``Features.foot_yaw``, from the start) is compared with the true
insole's, read the same way (``ahrs.flat_heading``). ``--z-offset true`` swaps
the gyro's estimated z offset for the simulator's own (the same take simulated
with ideal sensors gives it), ``zero`` for none: what a perfect z offset would
be worth (docs/models.md, "The gyro's z offset").

    .venv/bin/python tools/yaw_error.py --data shards --split val --every 2 [--z-offset true] [--noise 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step2motion_addon.core import ahrs                                 # noqa: E402
from step2motion_addon.core.features import extract_features            # noqa: E402
from step2motion_addon.core.sim import SimParams, simulate_insoles      # noqa: E402
from training import data                                               # noqa: E402

SECONDS = (0.5, 1.0, 2.0, 3.0, 4.0)


def group(category: str) -> str | None:
    return "run" if category in ("run", "dash") else "walk" if category.startswith("walk") else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="shards")
    ap.add_argument("--split", default="val")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--z-offset", choices=("estimated", "true", "zero"), default="estimated")
    ap.add_argument("--noise", type=float, help="simulate with this sensor noise scale instead (0: ideal)")
    args = ap.parse_args(argv)
    true_z: list[float] = []
    estimate = ahrs.gyro_bias

    def gyro_bias(*a, **k):                  # the feature code calls it once per foot, left first
        b = np.array(estimate(*a, **k), dtype=np.float64)
        if args.z_offset != "estimated":
            b[2] = true_z.pop(0) if args.z_offset == "true" else 0.0
        return b

    ahrs.gyro_bias = gyro_bias
    errors: dict[str, list] = {"walk": [], "run": []}
    frames = [int(s * 30) for s in SECONDS]
    for i, (_, motion, entry) in enumerate(data.iter_clips(Path(args.data), args.split)):
        g = group(entry.get("category", ""))
        if i % args.every or g is None:
            continue
        sim = dict(entry.get("sim", {}), **({} if args.noise is None else {"noise": args.noise}))
        params = SimParams(body_mass_kg=entry["body_mass_kg"], insole_size=entry.get("insole_size"), **sim)
        truth: dict = {}
        take = simulate_insoles(motion, params, truth=truth)
        ideal = simulate_insoles(motion, SimParams(**{**params.__dict__, "noise": 0.0}))
        true_z[:] = [float(np.median(take.feet[s].gyro[:, 2].astype(np.float64)
                                     - ideal.feet[s].gyro[:, 2].astype(np.float64))) for s in ("left", "right")]
        feats = extract_features(take, rate=30.0, **data.FEATURES)
        if feats.frames <= frames[-1]:
            continue
        per_foot = []
        for k, side in enumerate(("left", "right")):
            yaw = ahrs.flat_heading(truth[side]["q"])
            yaw = np.interp(np.arange(feats.frames) / 30.0, np.arange(len(yaw)) / params.rate, yaw)
            per_foot.append(np.degrees((feats.foot_yaw[:, k] - feats.foot_yaw[0, k]) - (yaw - yaw[0]))[frames])
        errors[g].append(np.array(per_foot))
    print(f"{args.split}, z offset {args.z_offset}" + ("" if args.noise is None else f", noise {args.noise}"))
    for g, errs in errors.items():
        if not errs:
            continue
        e = np.stack(errs)                                   # (clips, 2 feet, seconds)
        print(f"{g}: {len(e)} clips; after {', '.join(f'{s:g}' for s in SECONDS)} s")
        print("  |one insole's heading error| mean (deg) ", np.round(np.abs(e).mean(axis=(0, 1)), 2))
        print("  the two insoles' mean heading error, spread", np.round(e.mean(axis=1).std(axis=0), 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
