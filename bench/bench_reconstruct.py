# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline reconstruction in Blender, file → baked action, against the published approach's cost.

``python -m bench.bench_reconstruct [--quick]``

1. A 60 s synthetic walk (.s2m) → load → features → pose/root models →
   post-processing → action baked on the default character (Blender already
   started: bpy import and factory reset are not counted), as × real time,
   best of 3. Side by side, in the same run: the published approach's cost for
   the same take — 200 sequential denoiser calls per half-overlapping
   100-frame window with the published-size model (measured with
   ``bench_models.prepare``/``measure``, torch needed to export it).
2. A 1-hour take through the same path, once per key storage (sampled points,
   what "auto" picks for an hour, and keyframes), each in a fresh process: peak
   resident memory (target ≤ 1 GB, Blender included), also split into the
   inference phase (load + models) and the bake phase (post-processing + action
   written + first evaluation) by resetting the peak in between (Linux), and the
   seconds to write the baked action (target ≤ 10 s).
3. ``--stages [TAKE]`` (no timing reference): the 1-hour take (or ``TAKE``) once, with sampled
   points, in a fresh process; peak and resident memory around each stage (functions wrapped,
   the kernel's high-water mark restarted at each stage's start; a nested stage's peak also
   counts for its caller), to find what sets the process's peak.

Model set: ``models/step2motion-best``, else ``$STEP2MOTION_MODELS``, else the
developer smoke set ``runs/smoke/model_set`` (speed does not depend on the weights,
only on the architecture recorded in the set).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = "S2M-BENCH "


def model_dir() -> Path | None:
    for p in (ROOT / "models" / "step2motion-best", Path(os.environ.get("STEP2MOTION_MODELS", "/nonexistent")),
              ROOT / "runs" / "smoke" / "model_set"):
        if (p / "model_set.json").is_file():
            return p
    return None


def _rss_mb() -> tuple[float, float]:
    """(current, peak since the last reset) resident memory in MB, from /proc (Linux); (nan, nan) elsewhere."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for ln in f:
                key, _, value = ln.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) / 1024.0
    except OSError:
        pass
    return out.get("VmRSS", float("nan")), out.get("VmHWM", float("nan"))


def _reset_peak() -> bool:
    """Restart the peak (VmHWM) from the current RSS, so phases get their own peaks (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(take_path: str, models: str, repeats: int, storage: str = "auto") -> dict:
    """In a fresh process: file → baked action, seconds per stage, best of ``repeats``; peak RSS.

    Models go through the add-on's own cache (``reconstruct_op.reconstruct_take``), loaded
    before the clock starts, so a long take releases them before baking as the add-on does.
    """
    import resource

    import bpy

    from step2motion_addon.blender import character, reconstruct_op
    from step2motion_addon.core.formats import load_take

    best = None
    for _ in range(repeats):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.context.scene.render.fps = 30
        arm = character.create_character(bpy.context)
        reconstruct_op.load_models(models)
        rss_start = _rss_mb()[0]
        phases = _reset_peak()
        t0 = time.perf_counter()
        take = load_take(take_path)
        t1 = time.perf_counter()
        result, _, _ = reconstruct_op.reconstruct_take(take, models)
        t2 = time.perf_counter()
        rss_inf, peak_inf = _rss_mb()
        phases = phases and _reset_peak()
        res = reconstruct_op.bake_reconstruction(bpy.context, take, result, arm, "bench", key_storage=storage)
        t3 = time.perf_counter()
        rss_bake, peak_bake = _rss_mb()
        row = {"load": t1 - t0, "inference": t2 - t1, "bake": t3 - t2, "total": t3 - t0,
               "frames": res.frames, "duration_s": result.recs[0].frames / result.recs[0].rate,
               "windows": result.recs[0].info["windows"], "key_storage": res.key_storage, **res.seconds}
        if phases:
            row.update(rss_start_mb=rss_start, peak_inference_mb=peak_inf, rss_after_inference_mb=rss_inf,
                       peak_bake_mb=peak_bake, rss_after_bake_mb=rss_bake)
        if best is None or row["total"] < best["total"]:
            best = row
        del take, result, res
    # ru_maxrss follows the same high-water mark, which _reset_peak restarts: the process's
    # peak is the largest phase peak.
    best["peak_rss_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                              best.get("peak_inference_mb", 0.0), best.get("peak_bake_mb", 0.0))
    return best


class _Stages:
    """Peak resident memory per wrapped function (Linux). A stage's peak is the high-water
    mark since its start; the mark is restarted at each stage's start, so the peaks seen in
    nested stages are folded back into every enclosing one."""

    def __init__(self):
        self.stack: list = []
        self.rows: dict = {}
        self.order: list = []

    def _mark(self, peak: float) -> None:
        for frame in self.stack:
            frame["peak"] = max(frame["peak"], peak)

    def wrap(self, module, attr: str, label: str | None = None) -> None:
        import functools
        fn = getattr(module, attr)
        label = label or f"{module.__name__.rsplit('.', 1)[-1]}.{attr}"

        @functools.wraps(fn)
        def wrapped(*a, **kw):
            if label not in self.rows:           # listed in the order the stages start
                self.order.append(label)
                self.rows[label] = {"calls": 0, "peak_mb": 0.0, "over_start_mb": 0.0, "seconds": 0.0,
                                    "depth": len(self.stack)}
            self._mark(_rss_mb()[1])
            _reset_peak()
            rss0 = _rss_mb()[0]
            frame = {"peak": rss0}
            self.stack.append(frame)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                frame["peak"] = max(frame["peak"], _rss_mb()[1])
                self.stack.pop()
                self._mark(frame["peak"])
                row = self.rows[label]
                row["calls"] += 1
                row["peak_mb"] = max(row["peak_mb"], frame["peak"])
                row["over_start_mb"] = max(row["over_start_mb"], frame["peak"] - rss0)
                row["rss_before_mb"] = rss0
                row["rss_after_mb"] = _rss_mb()[0]
                row["seconds"] += time.perf_counter() - t0

        setattr(module, attr, wrapped)


def stages_child(take_path: str, models: str, storage: str = "samples") -> dict:
    """File → baked action once, peak memory stage by stage (see :class:`_Stages`)."""
    import bpy

    from step2motion_addon.blender import bake, character, reconstruct_op
    import importlib

    from step2motion_addon.core import ahrs, features, formats, inference, postprocess, recon_run
    reconstruct = importlib.import_module("step2motion_addon.core.inference.reconstruct")

    st = _Stages()
    for module, attr in ((formats, "load_take"), (recon_run, "check_take"), (features, "extract_features"),
                         (features, "_resample"), (ahrs, "estimate_orientation"), (ahrs, "gyro_bias"),
                         (ahrs, "_start_orientation"), (ahrs, "_complementary"), (ahrs, "flat_heading"),
                         (inference, "reconstruct"), (reconstruct, "sample_take"), (reconstruct, "regress_take"),
                         (reconstruct, "heading_changes"), (reconstruct, "pose_to_rotations"),
                         (reconstruct, "fused_translation"),
                         (recon_run, "hypothesis_spread"), (reconstruct_op, "release_models"),
                         (reconstruct_op, "prepare_motion"), (postprocess, "postprocess"), (bake, "retarget"),
                         (bake, "bake_motion")):
        if hasattr(module, attr):               # stages a version may not have
            st.wrap(module, attr)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30
    arm = character.create_character(bpy.context)
    reconstruct_op.load_models(models)
    start = _rss_mb()[0]
    _reset_peak()
    take = formats.load_take(take_path)
    result, _, _ = reconstruct_op.reconstruct_take(take, models)
    after_inference = _rss_mb()[0]
    res = reconstruct_op.bake_reconstruction(bpy.context, take, result, arm, "bench", key_storage=storage)
    out = {"rss_start_mb": start, "rss_after_inference_mb": after_inference, "rss_end_mb": _rss_mb()[0],
           "peak_mb": max(r["peak_mb"] for r in st.rows.values()), "frames": res.frames,
           "key_storage": res.key_storage, "stages": [dict(st.rows[k], stage=k) for k in st.order]}
    return out


def run_child(take_path: Path, models: Path, repeats: int, storage: str = "auto", stages: bool = False) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_reconstruct", "--stages-child" if stages else "--child",
           str(take_path), str(models), str(repeats), storage]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT)]
    if not lines:
        raise RuntimeError(f"benchmark child failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(lines[-1][len(RESULT):])


def published_seconds(frames: int, rounds: int) -> dict:
    """The published approach on this CPU for ``frames`` model frames (bench_models' own measurement)."""
    from bench import bench_models
    from step2motion_addon.core.inference.sampler import window_starts

    cfg = json.loads((ROOT / "training" / "config" / "cpu_default.json").read_text())
    window = cfg["window"]
    with tempfile.TemporaryDirectory() as d:
        prepared = {"published": bench_models.prepare(bench_models.PUBLISHED, Path(d), 1, window, split=False)}
        cost = bench_models.measure(prepared, rounds)["published"]
    n = len(window_starts(frames, window, bench_models.PUBLISHED_HOP))
    return {"call_s": cost["call"], "windows": n, "calls": n * bench_models.PUBLISHED_CALLS,
            "seconds": n * bench_models.PUBLISHED_CALLS * cost["call"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="no 1-hour take, fewer repeats")
    ap.add_argument("--stages", nargs="?", const="", metavar="TAKE",
                    help="only the 1-hour take (or TAKE), peak memory stage by stage")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--stages-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args([] if argv is None else argv)
    if args.child:
        print(RESULT + json.dumps(child(args.child[0], args.child[1], int(args.child[2]), args.child[3])), flush=True)
        return {}
    if args.stages_child:
        a = args.stages_child
        print(RESULT + json.dumps(stages_child(a[0], a[1], a[3])), flush=True)
        return {}
    if args.stages is not None:
        return stages_main(args.stages)
    from step2motion_addon.core.formats import save_take
    from step2motion_addon.core.synthetic import synthetic_walk

    models = model_dir()
    if models is None:
        print("no model set (models/step2motion-best, $STEP2MOTION_MODELS or runs/smoke/model_set): skipped")
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as d:
        minute = Path(d) / "walk_60s.s2m"
        save_take(synthetic_walk(duration=60.0, seed=3), minute)
        ours = run_child(minute, models, 1 if args.quick else 3)
        try:
            pub = published_seconds(int(ours["duration_s"] * 30) + 1, 2 if args.quick else 5)
        except ImportError as exc:              # torch is a training-only dependency
            pub = None
            print(f"(published-style reference skipped: {exc})")
        rt = ours["duration_s"] / ours["total"]
        print(f"Model set {models.relative_to(ROOT) if models.is_relative_to(ROOT) else models}; "
              f"60 s synthetic walk, file → baked action on the default character (Blender started), best of "
              f"{1 if args.quick else 3}:")
        for k in ("load", "inference", "bake", "total"):
            print(f"  {k:<10s} {ours[k]:7.3f} s")
        print(f"  ours: {rt:.1f}x real time ({ours['windows']} windows)  target >= 20x: "
              f"{'met' if rt >= 20 else 'NOT met'}")
        out["ours"] = dict(ours, realtime=rt)
        if pub is not None:
            prt = ours["duration_s"] / pub["seconds"]
            print(f"  published-style (same run): {pub['windows']} windows x 200 calls x "
                  f"{1e3 * pub['call_s']:.1f} ms = {pub['seconds']:.1f} s = {prt:.2f}x real time "
                  f"(inference only); ours is {rt / prt:.0f}x faster end to end")
            out["published"] = dict(pub, realtime=prt)
        if not args.quick:
            hour = Path(d) / "walk_1h.s2m"
            t0 = time.perf_counter()
            save_take(synthetic_walk(duration=3600.0, seed=4), hour)
            made = time.perf_counter() - t0
            print(f"1-hour take ({made:.0f} s to simulate and write), file → baked action, one fresh process "
                  "per key storage:")
            out["hour"] = {}
            for storage in ("samples", "keyframes"):
                big = run_child(hour, models, 1, storage)
                out["hour"][storage] = big
                print(f"  {storage}: load {big['load']:.1f} s, inference {big['inference']:.1f} s, bake "
                      f"{big['bake']:.1f} s = post-processing {big['postprocess']:.1f} s + action written "
                      f"(retarget, keys, NLA, first evaluation) {big['write_action']:.1f} s  target <= 10 s: "
                      f"{'met' if big['write_action'] <= 10 else 'NOT met'}; "
                      f"{big['duration_s'] / big['total']:.0f}x real time")
                print(f"    peak memory {big['peak_rss_mb']:.0f} MB (Blender included)  target <= 1024 MB: "
                      f"{'met' if big['peak_rss_mb'] <= 1024 else 'NOT met'}")
                if "peak_bake_mb" in big:
                    print(f"    Blender + character + models {big['rss_start_mb']:.0f} MB; peak while loading and "
                          f"inferring {big['peak_inference_mb']:.0f} MB ({big['rss_after_inference_mb']:.0f} MB "
                          f"after); peak while baking {big['peak_bake_mb']:.0f} MB "
                          f"({big['rss_after_bake_mb']:.0f} MB after)")
    return out


def stages_main(take: str) -> dict:
    from step2motion_addon.core.formats import save_take
    from step2motion_addon.core.synthetic import synthetic_walk

    models = model_dir()
    if models is None:
        print("no model set: skipped")
        return {}
    with tempfile.TemporaryDirectory() as d:
        if not take:
            take = str(Path(d) / "walk_1h.s2m")
            save_take(synthetic_walk(duration=3600.0, seed=4), take)
        out = run_child(Path(take), models, 1, "samples", stages=True)
    print(f"{Path(take).name}: {out['frames']} frames, {out['key_storage']}; MB resident, Blender included "
          f"(Blender + character + models {out['rss_start_mb']:.0f} MB)")
    print(f"  {'stage (nested: indented)':<44s} {'calls':>5s} {'peak':>6s} {'+start':>6s} {'before':>6s} "
          f"{'after':>6s} {'s':>6s}")
    for r in out["stages"]:
        print(f"  {'  ' * r['depth'] + r['stage']:<44s} {r['calls']:5d} {r['peak_mb']:6.0f} "
              f"{r['over_start_mb']:6.0f} {r['rss_before_mb']:6.0f} {r['rss_after_mb']:6.0f} {r['seconds']:6.1f}")
    print(f"  end of inference {out['rss_after_inference_mb']:.0f} MB, end {out['rss_end_mb']:.0f} MB; "
          f"process peak {out['peak_mb']:.0f} MB  target <= 1024 MB: "
          f"{'met' if out['peak_mb'] <= 1024 else 'NOT met'}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
