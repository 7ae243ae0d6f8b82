# SPDX-License-Identifier: GPL-3.0-or-later
"""Training data: simulated insole takes paired with canonical motion, in compact .npz shards.

    python -m training.dataset build --out shards/ [--mocap ../shared/data/mocap] [--workers 1]

Per clip: the simulated take at 100 Hz (pressures as uint8 in 0.25 N/cm² steps,
IMU float16; force and COP are recomputed from the cells) and the canonical motion at 30 Hz (float16 local
quaternions, float32 root position, float32 offsets). Shards hold no objects
(``np.load(..., allow_pickle=False)`` works); ``manifest.json`` lists every clip
with its source, licence, performer, category, split and simulation parameters,
and every rejected clip with the reason.

Split rule (by performer or whole styles, never inside a clip): the Bandai
files do not name their actors (all share one retargeted skeleton), so whole
styles are held out: style ``elderly``/``old`` → test, ``youthful``/``childish``
→ val, the rest → train; CMU subject 07 → test, subject 02 → val, subjects 01
and 05 → train.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.motion.bvh import load_bvh
from step2motion_addon.core.motion.cleanup import drop_reference_frames, level_floor, root_jumps
from step2motion_addon.core.motion.retarget import motion_from_bvh
from step2motion_addon.core.sim import SimParams, simulate_insoles

MOTION_FPS = 30.0
SHARD_BYTES = 24 * 2**20
SPLIT_RULE = ("Bandai (actors unnamed, one shared skeleton): whole styles held out: elderly/old -> test, "
              "youthful/childish -> val, others -> train. CMU by subject: 07 -> test, 02 -> val, 01 and 05 -> train. "
              "No clip is ever divided between splits.")
BANDAI_LICENCE = "CC BY-NC 4.0 (Bandai Namco Research Inc.), non-commercial"
CMU_LICENCE = "CMU Graphics Lab Motion Capture Database (free for all uses; acknowledge mocap.cs.cmu.edu, NSF EIA-0196217)"
# Contents whose feet stay on flat ground: the simulator models them (kicks included: one foot down).
BANDAI_USABLE = {"walk", "walk-back", "walk-left", "walk-right", "walk-turn-left", "walk-turn-right", "run",
                 "dash", "raise-up-both-hands", "wave-both-hands", "dance-short", "kick"}
CMU_CATEGORY = {"001": "jump", "002": "mixed (walk, run, jump, punch, swordplay, washing)",
                "005": "dance", "007": "walk"}


def describe(path: Path) -> dict:
    """Source facts and split of a clip from its path."""
    name = path.name.split(".")[0]
    if path.parent.name == "cmu":
        subject = name.split("_")[0]
        category = "walk" if name == "005_01" else CMU_CATEGORY.get(subject, "unknown")
        split = {"007": "test", "002": "val"}.get(subject, "train")
        return dict(clip=name, source=f"cmu/{path.name}", dataset="cmu", licence=CMU_LICENCE,
                    performer=f"cmu-subject-{subject}", category=category, style="", split=split)
    parts = name.split("_")
    content = parts[1] if len(parts) > 1 else "unknown"
    style = parts[2] if len(parts) > 2 else ""
    split = "test" if style in ("elderly", "old") else "val" if style in ("youthful", "childish") else "train"
    return dict(clip=name, source=f"bandai/{path.name}", dataset="bandai", licence=BANDAI_LICENCE,
                performer=f"bandai-{parts[0]}-unnamed", category=content, style=style, split=split)


def process(path_str: str, seed: int) -> tuple[dict, dict | None]:
    """Simulate one clip: (manifest entry, arrays) or (entry with 'rejected', None)."""
    path = Path(path_str)
    info = describe(path)
    if info["dataset"] == "bandai" and info["category"] not in BANDAI_USABLE:
        return dict(info, rejected=f"content {info['category']!r} is not flat-ground locomotion/dance/standing"), None
    try:
        # A reference pose before the take (CMU subject 07) would teach the models a 150 m/s step.
        motion = drop_reference_frames(motion_from_bvh(load_bvh(path), meta=dict(info)))
        motion = level_floor(motion)                    # some conversions tilt the floor
    except TakeError as exc:
        return dict(info, rejected=f"unreadable: {exc}"), None
    jumps = root_jumps(motion)
    if jumps.size:
        cut = f"root jumps between frames {jumps[0]} and {jumps[0] + 1} (a cut in the capture)"
        return dict(info, rejected=cut), None
    if motion.duration < 1.0:
        return dict(info, rejected=f"too short ({motion.duration:.2f} s)"), None
    rng = np.random.default_rng(seed)
    params = SimParams.randomised(rng)
    take = simulate_insoles(motion, params)
    force = take.feet["left"].force + take.feet["right"].force
    loaded = float((force > 0.2 * params.body_mass_kg * 9.81).mean())
    if loaded < 0.25:          # runs and dashes fly part of the time; below this the feet float
        return dict(info, rejected=f"feet on the ground only {loaded:.0%} of the time (not flat-ground motion)"), None
    m30 = motion.resampled(MOTION_FPS)
    arrays = {}
    for side in ("left", "right"):
        f = take.feet[side]
        arrays[f"{side}_pressure"] = np.clip(np.round(f.pressure / 0.25), 0, 255).astype(np.uint8)
        arrays[f"{side}_acc"] = f.acc.astype(np.float16)
        arrays[f"{side}_gyro"] = f.gyro.astype(np.float16)
        # Force and COP are left out: they equal core.insole.force_and_cop(pressure,
        # insole_size), which training/data.py recomputes (keeps the set under 60 MiB).
    arrays["rotations"] = m30.rotations.astype(np.float16)
    arrays["root_pos"] = m30.root_pos.astype(np.float32)
    arrays["offsets"] = motion.offsets.astype(np.float32)
    events = np.array([(e.time, 0 if e.side == "left" else 1, 0 if e.kind == "heel_strike" else 1)
                       for e in take.events], dtype=np.float32).reshape(-1, 3)
    arrays["events"] = events
    entry = dict(info, frames_100hz=len(take.feet["left"]), frames_30hz=m30.frames, duration_s=round(motion.duration, 3),
                 insole_size=take.meta.insole_size, body_mass_kg=round(params.body_mass_kg, 2),
                 sim=dict(seed=params.seed, shoe_drop_deg=round(params.shoe_drop_deg, 2),
                          imu_yaw_deg=round(params.imu_yaw_deg, 2), noise=round(params.noise, 3),
                          ground_offset_m=round(params.ground_offset_m, 4), impact_gain=round(params.impact_gain, 3)))
    return entry, arrays


def _task(args):
    return process(*args)


def build(mocap: Path, out: Path, workers: int = 1, limit: int | None = None, seed: int = 0) -> dict:
    files = sorted(mocap.glob("*/*.bvh")) + sorted(mocap.glob("*/*.bvh.gz"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard_*.npz"):
        old.unlink()
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, len(files))
    jobs = [(str(p), int(s)) for p, s in zip(files, seeds)]
    t0 = time.perf_counter()
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap(_task, jobs, chunksize=4)
            manifest = _write_shards(results, out)
    else:
        manifest = _write_shards(map(_task, jobs), out)
    manifest["build_seconds"] = round(time.perf_counter() - t0, 1)
    manifest["split_rule"] = SPLIT_RULE
    manifest["format"] = ("per clip k in a shard: c{k}_left_pressure uint8 (n,16) ×0.25 N/cm²; c{k}_{side}_acc/gyro float16 "
                          "(n,3) g, deg/s (insole frame); "
                          "c{k}_rotations float16 (m,22,4) local w,x,y,z at 30 Hz; c{k}_root_pos float32 (m,3) m; "
                          "c{k}_offsets float32 (22,3) m; c{k}_events float32 (e,3) time, side 0/1, kind 0 heel strike/1 toe off")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _write_shards(results, out: Path) -> dict:
    clips, rejected = [], []
    shard, size, index = {}, 0, 0

    def flush():
        nonlocal shard, size, index
        if shard:
            np.savez_compressed(out / f"shard_{index:03d}.npz", **shard)
            index += 1
        shard, size = {}, 0

    for entry, arrays in results:
        if arrays is None:
            rejected.append(entry)
            continue
        k = len(clips)
        entry["shard"] = f"shard_{index:03d}.npz"
        entry["key"] = f"c{k}"
        for name, a in arrays.items():
            shard[f"c{k}_{name}"] = a
            size += a.nbytes
        clips.append(entry)
        if size > SHARD_BYTES:
            flush()
    flush()
    total = sum((out / f"shard_{i:03d}.npz").stat().st_size for i in range(index))
    splits = {s: sum(1 for c in clips if c["split"] == s) for s in ("train", "val", "test")}
    hours = {s: round(sum(c["duration_s"] for c in clips if c["split"] == s) / 3600, 3) for s in splits}
    return dict(clips=clips, rejected=rejected, shards=index, bytes=total, counts=splits, hours=hours,
                motion_fps=MOTION_FPS, insole_rate=100.0, skeleton="step2motion canonical 22 joints")


def subset(src: Path, out: Path, datasets: list[str]) -> int:
    """Write ``out/manifest.json`` keeping the clips of ``datasets``; shards are linked, not copied."""
    manifest = json.loads((src / "manifest.json").read_text())
    keep = [c for c in manifest["clips"] if c["dataset"] in datasets]
    if not keep:
        print(f"{src}: no clips of {datasets}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for shard in sorted({c["shard"] for c in keep}):
        link = out / shard
        if not link.exists():
            link.symlink_to((src / shard).resolve())
    counts = {s: sum(c["split"] == s for c in keep) for s in ("train", "val", "test")}
    sub = dict(manifest, clips=keep, counts=counts, subset_of=str(src), datasets=datasets,
               hours={s: round(sum(c["duration_s"] for c in keep if c["split"] == s) / 3600, 3)
                      for s in ("train", "val", "test")})
    (out / "manifest.json").write_text(json.dumps(sub, indent=1))
    print(f"{len(keep)} clips of {datasets}: {counts}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.dataset", description="Build the simulated training set.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="simulate every usable shared mocap clip into .npz shards")
    root = Path(__file__).resolve().parent.parent
    b.add_argument("--mocap", default=str(root.parent / "shared" / "data" / "mocap"))
    b.add_argument("--out", default="shards")
    b.add_argument("--workers", type=int, default=1, help="processes (the dev machine has 2 shared cores)")
    b.add_argument("--limit", type=int, default=None, help="only this many clips (spread over the set)")
    b.add_argument("--seed", type=int, default=0)
    sb = sub.add_parser("subset", help="a manifest over existing shards keeping only some datasets "
                                       "(e.g. the permissive CMU-only model set)")
    sb.add_argument("--src", default="shards")
    sb.add_argument("--out", required=True)
    sb.add_argument("--datasets", required=True, help="comma-separated dataset names, e.g. cmu")
    args = ap.parse_args(argv)
    if args.cmd == "subset":
        return subset(Path(args.src), Path(args.out), args.datasets.split(","))
    mocap = Path(args.mocap)
    if not mocap.is_dir():
        print(f"mocap folder {mocap} not found", file=sys.stderr)
        return 2
    m = build(mocap, Path(args.out), args.workers, args.limit, args.seed)
    print(f"{len(m['clips'])} clips ({m['counts']}, hours {m['hours']}), {len(m['rejected'])} rejected, "
          f"{m['shards']} shards, {m['bytes'] / 2**20:.1f} MiB, {m['build_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
