# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulator throughput: seconds of compute per hour of mocap, against a reference.

    .venv/bin/python -m bench.bench_sim

Reference measured in the same run: reading and retargeting the same clips
(what any consumer of the mocap pays anyway). Target: simulate 1 h of mocap in
≤ 2 min on the 2-core dev machine (one process).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from step2motion_addon.core.motion.bvh import load_bvh  # noqa: E402
from step2motion_addon.core.motion.retarget import motion_from_bvh  # noqa: E402
from step2motion_addon.core.sim import SimParams, simulate_insoles  # noqa: E402

CLIPS = ("bandai/dataset-2_walk_normal_001", "bandai/dataset-2_run_active_001", "bandai/dataset-2_wave-both-hands_normal_001",
         "cmu/007_01", "cmu/005_05", "cmu/002_03", "cmu/001_01")


def main() -> int:
    mocap = ROOT.parent / "shared" / "data" / "mocap"
    paths = [mocap / (c + ".bvh.gz") for c in CLIPS if (mocap / (c + ".bvh.gz")).exists()]
    if not paths:
        print("shared mocap absent: nothing to measure")
        return 1
    t0 = time.perf_counter()
    motions = [motion_from_bvh(load_bvh(p)) for p in paths]
    t_load = time.perf_counter() - t0
    seconds = sum(m.duration for m in motions)
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        for m in motions:
            simulate_insoles(m, SimParams(seed=1))
    t_sim = (time.perf_counter() - t0) / reps
    per_hour_sim = t_sim * 3600 / seconds
    per_hour_load = t_load * 3600 / seconds
    print(f"{'what':<36}{'s per mocap hour':>18}{'x real time':>14}")
    print(f"{'read + retarget BVH (reference)':<36}{per_hour_load:>18.1f}{3600 / per_hour_load:>14.0f}")
    print(f"{'simulate insoles (100 Hz)':<36}{per_hour_sim:>18.1f}{3600 / per_hour_sim:>14.0f}")
    print(f"{'total':<36}{per_hour_sim + per_hour_load:>18.1f}{3600 / (per_hour_sim + per_hour_load):>14.0f}")
    print(f"ratio simulate / reference: {per_hour_sim / per_hour_load:.2f}; clips: {len(paths)}, "
          f"{seconds:.0f} s of mocap; target ≤ 120 s per hour: {'met' if per_hour_sim + per_hour_load <= 120 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
