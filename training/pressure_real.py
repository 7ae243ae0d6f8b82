# SPDX-License-Identifier: GPL-3.0-or-later
"""IMU→pressure on real recordings: fine-tune the simulated-data model with real IMU+pressure pairs.

``lofo``: for each real file k, fine-tune ``ckpt_pressure.pt`` of a run on the other
real files mixed with simulated training windows, then measure file k through the
add-on's runtime (an exported ONNX model set, ``evaluate.pressure_metrics``), before
and after. ``finetune``: the same on every real file, into a copy of the run that
``training.export`` exports (the shipped model; its held-out quality is the LOFO figure).

    python -m training.pressure_real lofo --run runs/best --data shards \\
        --real ../shared/data/insoles/moticon/*.txt --out runs/pressure_lofo --steps 200
    python -m training.pressure_real finetune --run runs/best --data shards \\
        --real ../shared/data/insoles/moticon/*.txt --out runs/best_real

The real targets are the pressure-stream columns of the same features, exactly as on
simulated clips; the normalisers stay the run's (the model set has one set for all models).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from step2motion_addon.core.features import Normaliser, extract_features

from . import export as E
from .train import Trainer, _seed_all

RUN_FILES = ("config.json", "normalisers.json", "offsets.json", "sources.json", "features.json",
             "ckpt_pose.pt", "ckpt_root.pt", "ckpt_pressure.pt")
FT_LR = 3e-4          # a tenth-ish of the from-scratch rate: adapt, do not overwrite the simulator's lessons


# -- data -------------------------------------------------------------------------------
def real_clips(paths, rate: float) -> list[dict]:
    """Features of real recordings (the same extractor as simulated clips and the runtime)."""
    from step2motion_addon.core.formats import load_take

    from .data import FEATURES
    return [{"features": extract_features(load_take(p), rate=rate, **FEATURES).values.astype(np.float32),
             "source": str(p)} for p in paths]


class FeatureWindows:
    """Random normalised feature windows (edge-padded when a clip is shorter than the window)."""

    def __init__(self, clips, norm: Normaliser, window: int, rng: np.random.Generator):
        self.window, self.rng = window, rng
        self.clips = []
        for c in clips:
            f = c["features"]
            pad = max(0, window - len(f))
            self.clips.append(norm.apply(np.pad(f, ((0, pad), (0, 0)), mode="edge") if pad else f)
                              .astype(np.float32))
        n = np.array([len(f) - window + 1 for f in self.clips], dtype=np.float64)
        self.p = n / n.sum()

    def draw(self, size: int) -> np.ndarray:
        out = []
        for i in self.rng.choice(len(self.clips), size=size, p=self.p):
            f = self.clips[i]
            s = self.rng.integers(0, len(f) - self.window + 1)
            out.append(f[s:s + self.window])
        return np.stack(out)


def load_norms(run: Path) -> dict:
    return {k: Normaliser.from_dict(v) for k, v in json.loads((run / "normalisers.json").read_text()).items()}


# -- fine-tuning ------------------------------------------------------------------------
def finetune(state: dict, cfg: dict, norms: dict, real: list[dict], sim: list[dict], steps: int,
             seed: int = 0, real_fraction: float = 0.5, lr: float = FT_LR, batch: int | None = None,
             log=print) -> tuple[torch.nn.Module, list[dict]]:
    """Pressure model from ``state`` trained ``steps`` steps on batches of real + simulated windows.

    Each batch is ``real_fraction`` real windows, the rest simulated ones, so the few
    real seconds adapt the model without it forgetting the simulator's variety.
    """
    _seed_all(seed)
    trainer = Trainer("pressure", cfg, norms)
    trainer.model.load_state_dict(state)
    for g in trainer.opt.param_groups:
        g["lr"] = lr
    rng = np.random.default_rng(seed)
    window = cfg["window"]
    real_w = FeatureWindows(real, norms["features"], window, rng) if real and real_fraction > 0 else None
    sim_w = FeatureWindows(sim, norms["features"], window, rng) if sim else None
    if real_w is None and sim_w is None:
        raise ValueError("fine-tuning needs real or simulated clips")
    size = batch or cfg["train"]["batch"]
    # real_fraction 0 (no real windows) is the control: the same steps on simulation alone.
    n_real = 0 if real_w is None else size if sim_w is None else max(1, int(round(size * real_fraction)))
    history, t0 = [], time.perf_counter()
    trainer.model.train()
    for step in range(1, steps + 1):
        parts = ([real_w.draw(n_real)] if n_real else []) + ([sim_w.draw(size - n_real)] if size > n_real else [])
        loss = trainer.loss({"features": torch.from_numpy(np.concatenate(parts))})
        trainer.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), cfg["train"]["grad_clip"])
        trainer.opt.step()
        if step % max(1, steps // 5) == 0 or step == steps:
            history.append({"step": step, "loss": loss.item()})
            log(f"  step {step}/{steps} loss {loss.item():.4f} ({(time.perf_counter() - t0) / step:.2f} s/step)")
    trainer.model.eval()
    return trainer.model, history


# -- model sets -------------------------------------------------------------------------
def copy_run(run: Path, out: Path) -> Path:
    """The run's files a model set needs (not the baselines still training into it)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run / name).exists():
            shutil.copy2(run / name, out / name)
    return out


def with_pressure(base_set: Path, model: torch.nn.Module, cfg: dict, out: Path) -> Path:
    """A copy of an exported model set whose pressure model is ``model`` (everything else identical)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base_set, out)
    meta = json.loads((out / E.METADATA_NAME).read_text())
    meta["models"]["pressure"] = E.export_onnx("pressure", model, out / "pressure.onnx", cfg["window"])
    meta.setdefault("onnx_parity_max_abs", {})["pressure"] = E.parity("pressure", model, out / "pressure.onnx",
                                                                    cfg["window"])
    meta.setdefault("metrics", {})["pressure_real"] = {"finetuned_on": "real Moticon recordings + simulation"}
    (out / E.METADATA_NAME).write_text(json.dumps(meta, indent=1))
    return out


def export_base(run: Path, out: Path) -> Path:
    """Export the run's model set once (the 'before' figures and the template for every fold)."""
    if (out / E.METADATA_NAME).exists():
        return out
    copy = copy_run(run, out.parent / (out.name + "_run"))
    E.main(["--run", str(copy), "--out", str(out)])
    return out


def evaluate(model_set: Path, path) -> dict:
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import ModelSet

    from .evaluate import pressure_metrics
    return pressure_metrics(load_take(path), ModelSet(model_set))


KEYS = ("force_corr", "force_rmse_n", "cop_rmse", "stance_f1")


def mean_metrics(folds: list[dict], which: str) -> dict:
    def val(v):
        return np.nan if v is None else v
    return {part: {k: float(np.nanmean([val(f[which][part][k]) for f in folds])) for k in KEYS}
            for part in ("left", "right", "pooled")}


def lofo(run: Path, cfg: dict, norms: dict, state: dict, real_paths: list, sim: list[dict], out: Path,
         base_set: Path, steps: int, seed: int = 0, real_fraction: float = 0.5, batch: int | None = None,
         log=print) -> dict:
    """Leave-one-file-out: per held-out file, before (base set) and after (fine-tuned) metrics."""
    real = real_clips(real_paths, cfg["rate"])
    folds = []
    for k, path in enumerate(real_paths):
        log(f"fold {k}: held out {Path(path).name}")
        t0 = time.perf_counter()
        model, hist = finetune(state, cfg, norms, [c for i, c in enumerate(real) if i != k], sim, steps,
                               seed=seed, real_fraction=real_fraction, batch=batch, log=log)
        fold_set = with_pressure(base_set, model, cfg, out / f"fold{k}_models")
        folds.append({"held_out": str(path), "before": evaluate(base_set, path),
                      "after": evaluate(fold_set, path), "history": hist,
                      "seconds": round(time.perf_counter() - t0, 1)})
        b, a = folds[-1]["before"]["pooled"], folds[-1]["after"]["pooled"]
        log("  pooled " + ", ".join(f"{key} {b[key]:.3f} -> {a[key]:.3f}" for key in KEYS))
        shutil.rmtree(fold_set)      # ONNX copies of a fold are not needed after measuring
    res = {"run": str(run), "steps": steps, "seed": seed, "real_fraction": real_fraction, "lr": FT_LR,
           "batch": batch or cfg["train"]["batch"], "sim_clips": len(sim), "folds": folds,
           "mean": {"before": mean_metrics(folds, "before"), "after": mean_metrics(folds, "after")}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(res, indent=1))
    return res


def save_finetuned(run: Path, model: torch.nn.Module, out: Path, info: dict) -> Path:
    """A copy of the run with the fine-tuned pressure checkpoint (``training.export --run out`` ships it)."""
    copy_run(run, out)
    from .data import FEATURES
    (out / "features.json").write_text(json.dumps(FEATURES))     # what its real and simulated windows were made with
    torch.save({"model": model.state_dict(), "step": info["steps"], "history": json.dumps(info["history"])},
               out / "ckpt_pressure.pt")
    mpath = run / "metrics_pressure.json"
    metrics = json.loads(mpath.read_text()) if mpath.exists() else {}
    metrics["finetuned_real"] = {k: v for k, v in info.items() if k != "history"}
    (out / "metrics_pressure.json").write_text(json.dumps(metrics, indent=1))
    return out


def print_table(res: dict) -> None:
    print("| held out | part | force corr | force RMSE (N) | COP RMSE | stance F1 |")
    print("|---|---|---|---|---|---|")
    rows = [(Path(f["held_out"]).name, f) for f in res["folds"]] + [("**mean**", res["mean"])]
    for name, f in rows:
        for part in ("left", "right", "pooled"):
            b, a = f["before"][part], f["after"][part]
            cells = [f"{b[k]:.3f} → {a[k]:.3f}" if k != "force_rmse_n" else f"{b[k]:.0f} → {a[k]:.0f}"
                     for k in KEYS]
            print(f"| {name} | {part} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("lofo", "finetune"))
    ap.add_argument("--run", required=True, help="run folder (training.train) with ckpt_pressure.pt")
    ap.add_argument("--data", help="simulator shards for the simulated half of each batch (none: real only)")
    ap.add_argument("--real", nargs="+", required=True, help="real recordings with IMU + pressure")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real-fraction", type=float, default=0.5, help="share of real windows in each batch")
    ap.add_argument("--batch", type=int, help="default: the run's training batch")
    ap.add_argument("--base-set", help="exported model set of --run (default: exported into OUT/base_models)")
    ap.add_argument("--limit", type=int, help="only the first N simulated training clips")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    run, out = Path(args.run), Path(args.out)
    cfg = json.loads((run / "config.json").read_text())
    norms = load_norms(run)
    state = torch.load(run / "ckpt_pressure.pt", weights_only=True)["model"]
    sim = []
    if args.data:
        from .train import dataset_clips
        sim = dataset_clips(args.data, "train", cfg["rate"], args.limit)
    real_paths = sorted(args.real)
    if args.mode == "lofo":
        base = Path(args.base_set) if args.base_set else export_base(run, out / "base_models")
        res = lofo(run, cfg, norms, state, real_paths, sim, out, base, args.steps, args.seed,
                   args.real_fraction, args.batch)
        print_table(res)
        print(f"wrote {out / 'metrics.json'}")
        return 0
    model, hist = finetune(state, cfg, norms, real_clips(real_paths, cfg["rate"]), sim, args.steps,
                           seed=args.seed, real_fraction=args.real_fraction, batch=args.batch)
    save_finetuned(run, model, out, {"steps": args.steps, "seed": args.seed, "real_fraction": args.real_fraction,
                                     "lr": FT_LR, "real": [Path(p).name for p in real_paths],
                                     "sim_clips": len(sim), "history": hist})
    print(f"wrote {out / 'ckpt_pressure.pt'} (export: python -m training.export --run {out} --out DIR)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
