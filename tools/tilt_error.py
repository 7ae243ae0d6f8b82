# SPDX-License-Identifier: GPL-3.0-or-later
"""How far the orientation filter's tilt is from the truth, per way of finding the gyro's x/y offset.

Every ``--every``-th clip of a shard split is simulated again from its motion with the
parameters its manifest records, keeping the simulator's true "up" in each insole's frame;
the filter (``ahrs.estimate_orientation``) runs on the simulated IMU with each
``tilt_offset`` and the angle between its up and the truth is pooled over all samples.

    .venv/bin/python tools/tilt_error.py --data shards --split test --every 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step2motion_addon.core import ahrs                                 # noqa: E402
from step2motion_addon.core.sim import SimParams, simulate_insoles      # noqa: E402
from training import data                                               # noqa: E402

MODES = ("median", "strides")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="shards")
    ap.add_argument("--split", default="test")
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args(argv)
    errors: dict[str, list[np.ndarray]] = {m: [] for m in MODES}
    feet = 0
    for i, (_, motion, entry) in enumerate(data.iter_clips(Path(args.data), args.split)):
        if i % args.every:
            continue
        params = SimParams(body_mass_kg=entry["body_mass_kg"], insole_size=entry.get("insole_size"),
                           **entry.get("sim", {}))
        truth: dict = {}
        take = simulate_insoles(motion, params, truth=truth)
        for side, foot in take.feet.items():
            feet += 1
            acc, gyro = foot.acc.astype(np.float64), foot.gyro.astype(np.float64)
            for mode in MODES:
                up = ahrs.earth_up(ahrs.estimate_orientation(acc, gyro, params.rate, tilt_offset=mode)[0])
                cos = np.clip((up * truth[side]["up"]).sum(axis=1), -1.0, 1.0)
                errors[mode].append(np.degrees(np.arccos(cos)))
    print(f"{args.split}: {feet} insoles")
    for mode, errs in errors.items():
        e = np.concatenate(errs)
        print(f"tilt_offset={mode:8s} tilt error mean {e.mean():5.2f}°  p95 {np.percentile(e, 95):5.2f}°")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
