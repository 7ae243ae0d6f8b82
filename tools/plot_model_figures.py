# SPDX-License-Identifier: GPL-3.0-or-later
"""Draws the model card's figures from the held-out test split (matplotlib).

* ``docs/img/models_categories.png``: MPJPE and legs MPJPE per motion category, the pose
  diffusion model beside the baselines, read from ``training.evaluate --json`` files.
* ``docs/img/models_paths.png``: the root path of one clip per locomotion category (the
  clip whose final error is that category's median, so none is picked for looks),
  reconstructed by the shipped set against the motion capture.
* ``docs/img/models_knee.png``: the left knee of that walk over four seconds: motion
  capture, the diffusion model and the MLP baseline.

Needs the simulated shards (``training.dataset build``, from ``../shared/data``) and the
evaluation files of the same models::

    python tools/plot_model_figures.py --data shards --models models/step2motion-best \\
        --eval runs/eval/s14/ship/best_pose.json runs/eval/s14/ship/best_mlp.json \\
               runs/eval/s14/ship/best_transformer.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "img"
PATH_CATEGORIES = ("walk", "run", "walk-turn-left", "walk-turn-right")
MIN_CLIPS = 5            # categories with fewer test clips are left out of the bar chart
LABELS = {"pose": "pose diffusion (shipped)", "mlp": "MLP baseline", "transformer": "Transformer baseline"}
COLOURS = {"pose": "#2f6fb0", "mlp": "#e08a2c", "transformer": "#4a9a5a", "truth": "#222222"}


def load_evals(paths: list[str]) -> dict:
    """{pose model: evaluation JSON} keyed by the model each file says it measured."""
    out = {}
    for p in paths:
        d = json.loads(Path(p).read_text())
        kind = d["pooled"].get("pose_model", "pose")
        if d["pooled"].get("drop", "none") != "none" or d["pooled"].get("samples", 1) != 1:
            raise SystemExit(f"{p}: an ablation or a mean of samples; give the plain evaluations")
        out[kind] = d
    if "pose" not in out:
        raise SystemExit("--eval needs the pose diffusion model's evaluation (pose_model 'pose')")
    return out


def median_clips(evaluation: dict, categories=PATH_CATEGORIES) -> dict:
    """{category: clip name} of the clip whose final root error is the category's median."""
    out = {}
    for cat in categories:
        clips = sorted((c for c in evaluation["clips"] if c.get("category") == cat),
                       key=lambda c: c["root_final_error_m"])
        if clips:
            out[cat] = clips[len(clips) // 2]["clip"]
    return out


def plot_categories(evals: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    pose = evals["pose"]
    cats = [k for k, v in pose["categories"].items() if v["clips"] >= MIN_CLIPS] + ["all"]
    kinds = [k for k in ("pose", "mlp", "transformer") if k in evals]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=False)
    width = 0.8 / len(kinds)
    x = np.arange(len(cats))
    for ax, key, title in zip(axes, ("mpjpe_m", "legs_mpjpe_m"), ("MPJPE, all joints", "legs MPJPE")):
        for i, kind in enumerate(kinds):
            d = evals[kind]
            vals = [100 * (d["pooled"] if c == "all" else d["categories"][c])[key] for c in cats]
            ax.bar(x + (i - (len(kinds) - 1) / 2) * width, vals, width, label=LABELS[kind], color=COLOURS[kind])
        ax.set_xticks(x, [f"{c} ({pose['pooled']['clips'] if c == 'all' else pose['categories'][c]['clips']})"
                          for c in cats], fontsize=8, rotation=25, ha="right")
        ax.set_ylabel("cm")
        ax.set_title(f"{title} (held-out test split, clips per category)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def reconstruct_clips(data: str, models_dir: str, names: set, pose_models=("pose",)) -> dict:
    """{clip: {"true": (n, 2) path, "true_rot": rotations, pose model: Reconstruction}} for ``names``."""
    from step2motion_addon.core.inference import ModelSet, reconstruct
    from step2motion_addon.core.inference.pose import heading
    from step2motion_addon.core.motion import rotations as rot
    from training import data as shards
    from training.evaluate import true_path
    models = ModelSet(models_dir)
    out = {}
    for take, motion, entry in shards.iter_clips(data, "test"):
        if entry["clip"] not in names:
            continue
        recs = {k: reconstruct(take, models, seed=0, pose_model=k) for k in pose_models}
        m = motion.resampled(models.rate)
        n = min(m.frames, *(r.frames for r in recs.values()))
        true_rot = rot.normalize(m.rotations[:n])
        out[entry["clip"]] = {"true": true_path(m, float(heading(true_rot[:1, 0])[0]), n),
                              "true_rot": true_rot, "n": n, **recs}
    missing = names - set(out)
    if missing:
        raise SystemExit(f"{data}: test clips not found: {', '.join(sorted(missing))}")
    return out


def plot_paths(clips: dict, by_cat: dict, evaluation: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    per_clip = {c["clip"]: c for c in evaluation["clips"]}
    fig, axes = plt.subplots(1, len(by_cat), figsize=(3.2 * len(by_cat), 3.8))
    for ax, (cat, name) in zip(np.atleast_1d(axes), by_cat.items()):
        c = clips[name]
        n = c["n"]
        # Plotted with the take's start facing up the page: its forward axis is −y in the start frame.
        t, p = -c["true"], -c["pose"].root_pos[:n, :2]
        ax.plot(t[:, 0], t[:, 1], color=COLOURS["truth"], lw=2, label="motion capture")
        ax.plot(p[:, 0], p[:, 1], color=COLOURS["pose"], lw=1.5, label="reconstructed")
        ax.plot(0, 0, "o", color="#888888")
        ax.set_aspect("equal", adjustable="datalim")
        m = per_clip[name]
        ax.set_title(f"{cat}: {m['distance_m']:.1f} m\nfinal error {m['root_final_error_m']:.2f} m "
                     f"({m['root_drift_pct']:.1f} %)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="best")
    fig.suptitle("Root path seen from above (m), median clip of each category, start facing up", fontsize=10)
    return _save(fig, path)


def knee_angle(rotations: np.ndarray) -> np.ndarray:
    """(T,) flexion (deg) of the left knee: the angle of its local rotation."""
    from step2motion_addon.core.motion import rotations as rot
    from step2motion_addon.core.motion.skeleton import JOINT_INDEX
    return np.degrees(np.linalg.norm(rot.log(rotations[:, JOINT_INDEX["LeftLeg"]]), axis=-1))


def plot_knee(clip: dict, name: str, rate: float, path: Path, seconds: float = 4.0) -> Path:
    import matplotlib.pyplot as plt
    n = min(clip["n"], int(seconds * rate))
    t = np.arange(n) / rate
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t, knee_angle(clip["true_rot"][:n]), color=COLOURS["truth"], lw=2, label="motion capture")
    for kind in ("pose", "mlp"):
        if kind in clip:
            ax.plot(t, knee_angle(clip[kind].rotations[:n]), color=COLOURS[kind], lw=1.3, label=LABELS[kind])
    ax.set_xlabel("s")
    ax.set_ylabel("left knee flexion (°)")
    ax.set_title(f"Held-out walk {name}: the knee from the insoles alone", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="shard directory (training.dataset build)")
    ap.add_argument("--models", default=str(ROOT / "models" / "step2motion-best"))
    ap.add_argument("--eval", nargs="+", required=True, help="training.evaluate --json files of the test split")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    out = Path(args.out)
    evals = load_evals(args.eval)
    print(plot_categories(evals, out / "models_categories.png"))
    by_cat = median_clips(evals["pose"])
    clips = reconstruct_clips(args.data, args.models, set(by_cat.values()), ("pose", "mlp"))
    print(plot_paths(clips, by_cat, evals["pose"], out / "models_paths.png"))
    walk = by_cat.get("walk") or next(iter(by_cat.values()))
    print(plot_knee(clips[walk], walk, clips[walk]["pose"].rate, out / "models_knee.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
