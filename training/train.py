# SPDX-License-Identifier: GPL-3.0-or-later
"""Train one model: ``python -m training.train --config training/config/cpu_default.json --model pose --out runs/x``.

Fixed seeds, a checkpoint every ``ckpt_every`` steps (``--resume`` continues
from it), a learning-rate cool-down over the run's last ``cooldown_steps`` and an
exponential moving average of the weights (``ema``: validated and exported),
metrics in ``<out>/metrics_<model>.json``, normalisation statistics
in ``<out>/normalisers.json`` (fitted once on the training split, reused by
every model of the run and by the export).

Data: ``--data DIR`` reads the simulator's shards (``python -m training.dataset
build``; per clip a simulated take + canonical motion) through ``training/data.py``,
train split for training, val split for validation; ``--synthetic N`` makes N
random clips (shapes only, for smoke tests and timing). ``--device cuda`` trains
on a GPU (``training/config/gpu_large.json``); every random draw stays on the
CPU generator, so a run is reproducible on either device.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from step2motion_addon.core.features import (FEATURE_DIM, IMU_STREAMS, PRESSURE_STREAMS, STREAMS, Normaliser,
                                             extract_features, mirror_values, stream_columns)
from step2motion_addon.core.inference.pose import mirror_pose, mirror_root, pose_from_motion, root_from_motion
from step2motion_addon.core.inference.sampler import ddim_timesteps
from step2motion_addon.core.motion.skeleton import CANONICAL_PARENTS

from . import models as M

KINDS = ("pose", "root", "pressure", "transformer", "mlp")


# -- data -------------------------------------------------------------------------------
def clip_from_take_and_motion(take, motion, rate: float = 30.0, source: str = "") -> dict:
    """Features of a (simulated) take and targets of its motion, on the same model-rate frames."""
    from .data import FEATURES
    feats = extract_features(take, rate=rate, **FEATURES)
    mot = motion.resampled(rate)
    n = min(feats.frames, mot.frames)
    return {"features": feats.values[:n], "pose": pose_from_motion(mot)[:n], "root": root_from_motion(mot)[:n],
            "offsets": mot.offsets.astype(np.float32), "source": source or str(mot.meta.get("source", ""))}


def mirrored_clip(clip: dict) -> dict:
    """The clip's mirror image (left ↔ right): insoles, pose, root steps and skeleton.

    Exact for simulated and real insoles alike (``features.mirror_values``), so it
    doubles the motions seen in training and leaves no left/right bias to learn.
    """
    from step2motion_addon.core.motion.skeleton import mirror_offsets
    return {"features": mirror_values(clip["features"]), "pose": mirror_pose(clip["pose"]),
            "root": mirror_root(clip["root"]), "offsets": mirror_offsets(clip["offsets"]).astype(np.float32),
            "source": f"{clip['source']} (mirrored)"}


def synthetic_clips(n: int, frames: int = 160, seed: int = 0) -> list[dict]:
    """Random clips with the right shapes and plausible scales (no learning signal beyond noise)."""
    from step2motion_addon.core.motion import rotations as rot
    from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, Motion
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        t = np.arange(frames) / 30.0
        phase = rng.uniform(0, 2 * np.pi, (len(CANONICAL_JOINTS), 3))
        amp = rng.uniform(0.0, 0.4, (len(CANONICAL_JOINTS), 3))
        angles = amp[None] * np.sin(2 * np.pi * 0.9 * t[:, None, None] + phase[None])
        q = rot.from_axis_angle(angles / np.maximum(np.linalg.norm(angles, axis=-1, keepdims=True), 1e-9),
                                np.linalg.norm(angles, axis=-1))
        offsets = rng.normal(0, 0.15, (len(CANONICAL_JOINTS), 3))
        offsets[0] = 0
        root = np.stack([0.02 * np.sin(t), -1.2 * t, 0.95 + 0.02 * np.sin(6 * t)], axis=-1)
        motion = Motion(30.0, offsets, q, root, {"source": "synthetic"})
        clips.append({"features": rng.normal(0, 1, (frames, FEATURE_DIM)).astype(np.float32),
                      "pose": pose_from_motion(motion), "root": root_from_motion(motion),
                      "offsets": offsets.astype(np.float32), "source": "synthetic"})
    return clips


def dataset_clips(data_dir: str, split: str, rate: float, limit: int | None = None,
                  cache_dir: str | None = None) -> list[dict]:
    """Clips of one split of the simulator's shards (training/dataset.py) via the training/data.py adapter."""
    from . import data
    return data.load_split(data_dir, split, rate, limit, cache_dir=cache_dir)


def fit_normalisers(clips: list[dict]) -> dict:
    return {key: Normaliser.fit([c[key] for c in clips]) for key in ("features", "pose", "root")}


class WindowSampler:
    """Random fixed-length windows of random clips (clips shorter than the window are edge-padded)."""

    def __init__(self, clips, norms, window, seed):
        self.window = window
        self.rng = np.random.default_rng(seed)
        self.clips = []
        for c in clips:
            pad = max(0, window - len(c["features"]))
            def p(a):
                return np.pad(a, ((0, pad), (0, 0)), mode="edge") if pad else a
            self.clips.append({"features": norms["features"].apply(p(c["features"])),
                               "pose": norms["pose"].apply(p(c["pose"])),
                               "root": norms["root"].apply(p(c["root"])),
                               "offsets": c["offsets"]})
        lengths = np.array([len(c["features"]) - window + 1 for c in self.clips], dtype=np.float64)
        self.p = lengths / lengths.sum()            # uniform over all windows of all clips

    def batch(self, size):
        idx = self.rng.choice(len(self.clips), size=size, p=self.p)
        out = {k: [] for k in ("features", "pose", "root", "offsets")}
        for i in idx:
            c = self.clips[i]
            s = self.rng.integers(0, len(c["features"]) - self.window + 1)
            for k in ("features", "pose", "root"):
                out[k].append(c[k][s:s + self.window])
            out["offsets"].append(c["offsets"])
        return {k: torch.from_numpy(np.stack(v)) for k, v in out.items()}


# -- losses -------------------------------------------------------------------------------
class Trainer:
    def __init__(self, kind, cfg, norms, device="cpu"):
        self.kind, self.cfg, self.dev = kind, cfg, torch.device(device)
        self.model = M.build(kind, cfg["models"][kind]).to(self.dev)
        tr = cfg["train"]
        self.opt = torch.optim.Adam(self.model.parameters(), lr=tr["lr"])
        dev = self.dev
        self.pose_mean = torch.from_numpy(norms["pose"].mean).to(dev)
        self.pose_std = torch.from_numpy(norms["pose"].std).to(dev)
        self.root_std = torch.from_numpy(norms["root"].std).to(dev)
        self.root_mean = torch.from_numpy(norms["root"].mean).to(dev)
        d = cfg["diffusion"]
        self.alphas = torch.tensor(M.cosine_alphas_cumprod(d["steps"]), dtype=torch.float32)
        self.train_t = (torch.tensor(ddim_timesteps(d["steps"], d["calls"]), dtype=torch.long)
                        if d.get("train_timesteps", "uniform") == "schedule" else None)
        self.imu_cols = torch.tensor(stream_columns(IMU_STREAMS)).to(dev)
        self.pressure_cols = torch.tensor(stream_columns(PRESSURE_STREAMS)).to(dev)
        self.gen = torch.Generator().manual_seed(cfg["seed"])

    def fk_loss(self, pred_n, true_n, offsets):
        pred = pred_n * self.pose_std + self.pose_mean
        true = true_n * self.pose_std + self.pose_mean
        return torch.mean((M.fk_positions(pred, offsets[:, None], CANONICAL_PARENTS)
                           - M.fk_positions(true, offsets[:, None], CANONICAL_PARENTS)) ** 2)

    def loss(self, b, train=True):
        b = {k: v.to(self.dev) for k, v in b.items()}
        tr, cond = self.cfg["train"], b["features"]
        if self.kind == "pose":
            x0 = b["pose"]
            n = x0.shape[0]
            if self.train_t is not None:
                # Only the sampler's few timesteps are ever queried at run time: train on exactly
                # those (the first, pure-noise one is then a plain regression from the sensors).
                t = self.train_t[torch.randint(0, len(self.train_t), (n,), generator=self.gen)]
            else:
                t = torch.randint(0, len(self.alphas), (n,), generator=self.gen)
            ab = self.alphas[t].reshape(n, 1, 1).to(self.dev)
            noise = torch.randn(x0.shape, generator=self.gen).to(self.dev)
            x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
            d = self.cfg["diffusion"]
            mask = torch.ones(n, len(STREAMS))
            if d.get("ablate"):    # a retrained ablation: these streams are never seen
                names = [name for name, _ in STREAMS]
                gone = IMU_STREAMS if d["ablate"] == "imu" else PRESSURE_STREAMS
                mask[:, [names.index(name) for name in gone]] = 0.0
            if train:   # classifier-free: drop everything, or single streams (dead cells, IMU-only insoles)
                mask = mask * (torch.rand(n, len(STREAMS), generator=self.gen) > d["stream_drop"])
                mask = mask * (torch.rand(n, 1, generator=self.gen) > d["cond_drop"])
            pred = self.model(x_t, t.float().to(self.dev), cond, mask.to(self.dev))
            return torch.mean(torch.abs(pred - x0)) + tr["fk_weight"] * self.fk_loss(pred, x0, b["offsets"])
        if self.kind in ("transformer", "mlp"):
            pred = self.model(cond)
            return torch.mean(torch.abs(pred - b["pose"])) + tr["fk_weight"] * self.fk_loss(pred, b["pose"], b["offsets"])
        if self.kind == "root":
            pred = self.model(cond.index_select(2, self.imu_cols))
            mse = torch.mean((pred - b["root"]) ** 2)
            cum_p = torch.cumsum(pred * self.root_std + self.root_mean, dim=1)
            cum_t = torch.cumsum(b["root"] * self.root_std + self.root_mean, dim=1)
            return mse + tr["cumsum_weight"] * torch.mean((cum_p - cum_t) ** 2)   # drift inside the window
        if self.kind == "pressure":
            pred = self.model(cond.index_select(2, self.imu_cols))
            return torch.mean((pred - cond.index_select(2, self.pressure_cols)) ** 2)
        raise ValueError(self.kind)


def _seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def learning_rate(base: float, step: int, total: int, cooldown: int) -> float:
    """Constant, then a cosine decay to zero over the last ``cooldown`` steps of the run.

    The decay is anchored to the run's end, so a run continued with a larger
    ``--steps`` keeps its constant phase and cools down at its new end.
    """
    start = total - cooldown
    if cooldown <= 0 or step < start:
        return base
    return float(base * 0.5 * (1.0 + np.cos(np.pi * min(1.0, (step - start) / cooldown))))


class Ema:
    """Exponential moving average of the weights (the weights validated, and exported when present).

    Averaging the late iterates of a constant-rate run removes much of their
    step-to-step noise, the usual gain for diffusion denoisers. ``decay`` 0: off.
    """

    def __init__(self, model, decay: float):
        self.decay = decay
        self.shadow = ({k: v.detach().clone() for k, v in model.state_dict().items()} if decay else {})

    def load(self, state: dict) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}

    def state_dict(self) -> dict:
        return self.shadow

    @torch.no_grad()
    def update(self, model) -> None:
        if not self.decay:
            return
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v, 1.0 - self.decay)
            else:
                self.shadow[k].copy_(v)

    @contextlib.contextmanager
    def swapped_in(self, model):
        if not self.decay:
            yield
            return
        live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(live)


def train(kind: str, cfg: dict, out: Path, train_clips, val_clips, resume: bool = False,
          max_steps: int | None = None, log=print, device: str = "cpu", cooldown: int | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    _seed_all(cfg["seed"])
    torch.set_num_threads(int(cfg["train"].get("threads", 2)))
    norm_path = out / "normalisers.json"
    if norm_path.exists():
        norms = {k: Normaliser.from_dict(v) for k, v in json.loads(norm_path.read_text()).items()}
    else:
        norms = fit_normalisers(train_clips)
        norm_path.write_text(json.dumps({k: v.to_dict() for k, v in norms.items()}))
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    tr = cfg["train"]
    trainer = Trainer(kind, cfg, norms, device)
    sampler = WindowSampler(train_clips, norms, cfg["window"], cfg["seed"])
    val = WindowSampler(val_clips or train_clips, norms, cfg["window"], cfg["seed"] + 1).batch(tr["val_windows"])
    ckpt = out / f"ckpt_{kind}.pt"
    step, history = 0, []
    state = {}
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=True, map_location=trainer.dev)
        trainer.model.load_state_dict(state["model"])
        step, history = int(state["step"]), json.loads(state["history"])
        if "opt" in state:          # weights only (training.from_onnx): a fresh optimiser, the seeded draws
            trainer.opt.load_state_dict(state["opt"])
            torch.set_rng_state(state["torch_rng"].cpu())
            trainer.gen.set_state(state["gen_rng"].cpu())
            sampler.rng.bit_generator.state = json.loads(state["np_rng"])
    total = max_steps if max_steps is not None else tr["max_steps"]
    if cooldown is None:
        cooldown = int(tr.get("cooldown_steps", 0))
    ema = Ema(trainer.model, float(tr.get("ema", 0.0)))
    if "ema" in state:
        ema.load(state["ema"])
    times = []

    def save():
        torch.save({"model": trainer.model.state_dict(), "opt": trainer.opt.state_dict(), "step": step,
                    "history": json.dumps(history), "torch_rng": torch.get_rng_state(),
                    "gen_rng": trainer.gen.get_state(), "np_rng": json.dumps(sampler.rng.bit_generator.state),
                    **({"ema": ema.state_dict()} if ema.decay else {})},
                   ckpt)

    while step < total:
        trainer.model.train()
        for group in trainer.opt.param_groups:
            group["lr"] = learning_rate(tr["lr"], step, total, cooldown)
        t0 = time.perf_counter()
        loss = trainer.loss(sampler.batch(tr["batch"]))
        trainer.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), tr["grad_clip"])
        trainer.opt.step()
        ema.update(trainer.model)
        times.append(time.perf_counter() - t0)
        step += 1
        if step % tr["log_every"] == 0 or step == total:
            trainer.model.eval()
            with torch.no_grad(), ema.swapped_in(trainer.model):   # validate what the export ships
                torch.manual_seed(cfg["seed"])          # same diffusion noise for every validation
                trainer.gen.manual_seed(cfg["seed"] + step)
                v = float(trainer.loss(val, train=False))
            history.append({"step": step, "train_loss": loss.item(), "val_loss": v})
            log(f"{kind} step {step}/{total} loss {loss.item():.4f} val {v:.4f} ({np.mean(times):.3f} s/step)")
        if step % tr["ckpt_every"] == 0 or step == total:
            save()
    metrics = {"model": kind, "steps": step, "parameters": M.count_parameters(trainer.model),
               "device": str(trainer.dev),
               "train_clips": len(train_clips), "val_clips": len(val_clips or []),
               "seconds_per_step": float(np.mean(times)) if times else None, "batch": tr["batch"],
               "history": history, "final_val_loss": history[-1]["val_loss"] if history else None}
    (out / f"metrics_{kind}.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def graft(src: str | Path, cfg: dict, dst: Path, trunk_from: str | Path | None = None) -> None:
    """A pose checkpoint continued with new paths: the frame-aligned one (``local``) and/or the trunk.

    The new convolutions and projections start at zero, so the grafted model is
    exactly the old one at its step; the trunk starts as the MLP baseline of
    ``trunk_from`` (its averaged weights when present). Weights, step, history and
    random states carry over, the optimiser starts afresh (its state has no slots
    for the new parameters).
    """
    state = torch.load(src, weights_only=True, map_location="cpu")
    model = M.build("pose", cfg["models"]["pose"])
    if model.local is None:
        raise SystemExit("--graft needs a config whose pose model has a frame-aligned path (local > 0)")
    if (model.trunk is None) != (trunk_from is None):
        raise SystemExit("--trunk-from and a pose config with a trunk go together")
    new = ("local.", "trunk.", "trunk_proj.")
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if unexpected or not all(k.startswith(new) for k in missing):
        raise SystemExit(f"{src}: not a pose checkpoint of this architecture ({unexpected or missing})")
    trunk = None
    if trunk_from is not None:
        mlp_state = torch.load(trunk_from, weights_only=True, map_location="cpu")
        trunk = mlp_state.get("ema") or mlp_state["model"]
    # The layers the source lacks start at zero; the trunk's are the MLP's.
    fresh = [m for name, m in model.named_modules()
             if f"{name}.weight" in missing and not name.startswith("trunk.")]

    def grown(weights):
        model.load_state_dict(weights, strict=False)
        with torch.no_grad():
            for layer in fresh:
                layer.weight.zero_()
                layer.bias.zero_()
            if trunk is not None:
                model.trunk.load_state_dict(trunk)
        return {k: v.clone() for k, v in model.state_dict().items()}

    extra = {"ema": grown(state["ema"])} if "ema" in state else {}   # the average grows the paths too
    weights = grown(state["model"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["train"]["lr"])
    torch.save(dict(state, model=weights, opt=opt.state_dict(), **extra), dst)


def load_config(path) -> dict:
    """A training config; one with ``"base": FILE`` (beside it) is that file with its own keys merged in."""
    path = Path(path)
    cfg = json.loads(path.read_text())
    base = cfg.pop("base", None)
    return _merged(load_config(path.parent / base), cfg) if base else cfg


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(Path(__file__).parent / "config" / "cpu_default.json"))
    ap.add_argument("--model", choices=KINDS, default="pose")
    ap.add_argument("--out", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="shard directory written by training/dataset.py")
    src.add_argument("--synthetic", type=int, metavar="N", help="N random clips (smoke test)")
    ap.add_argument("--steps", type=int, help="override train.max_steps")
    ap.add_argument("--limit", type=int, help="only the first N clips of each split (smoke runs)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--cache", help="feature cache folder (default: data_cache/ in the repository)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ablate", choices=("pressure", "imu"),
                    help="pose model: train with these sensor streams always absent (a retrained ablation)")
    ap.add_argument("--cooldown", type=int, metavar="N",
                    help="override train.cooldown_steps: cosine learning-rate decay to zero over the last N steps")
    ap.add_argument("--graft", metavar="CKPT",
                    help="pose model: continue a checkpoint trained without the frame-aligned path (or the "
                         "trunk), the new layers added at zero (implies --resume)")
    ap.add_argument("--trunk-from", metavar="CKPT",
                    help="with --graft: an MLP baseline checkpoint whose network becomes the pose model's trunk "
                         "(a config with models.pose.trunk)")
    ap.add_argument("--mirror", action="store_true",
                    help="add every training clip's mirror image (train.mirror in the config)")
    ap.add_argument("--lr", type=float, help="override train.lr (e.g. a gentler rate to continue a checkpoint)")
    args = ap.parse_args(argv)
    if args.graft and args.model != "pose":
        ap.error("--graft continues a pose checkpoint: use it with --model pose")
    cfg = load_config(args.config)
    if args.trunk_from and not args.graft:
        ap.error("--trunk-from grafts a trunk onto a pose checkpoint: use it with --graft")
    if args.lr is not None:
        cfg["train"]["lr"] = args.lr
    if args.mirror:
        cfg["train"]["mirror"] = True
    if args.ablate:
        if args.model != "pose":
            ap.error("--ablate trains the pose model without some streams: use it with --model pose")
        cfg["diffusion"]["ablate"] = args.ablate
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        tr_clips = synthetic_clips(args.synthetic, seed=cfg["seed"])
        va_clips = synthetic_clips(max(1, args.synthetic // 4), seed=cfg["seed"] + 1)
    else:
        from . import data
        tr_clips = dataset_clips(args.data, "train", cfg["rate"], args.limit, args.cache)
        if cfg["train"].get("mirror"):
            tr_clips = tr_clips + [mirrored_clip(c) for c in tr_clips]
        va_clips = dataset_clips(args.data, "val", cfg["rate"], args.limit, args.cache)
        if not tr_clips:
            raise SystemExit(f"{args.data}: no training clips in the manifest")
        (out / "sources.json").write_text(json.dumps(data.sources(args.data), indent=1))
        (out / "offsets.json").write_text(json.dumps(data.mean_offsets(tr_clips).round(6).tolist()))
        (out / "features.json").write_text(json.dumps(data.FEATURES))
    if args.graft:
        graft(args.graft, cfg, out / f"ckpt_{args.model}.pt", args.trunk_from)
    train(args.model, cfg, out, tr_clips, va_clips, resume=args.resume or bool(args.graft),
          max_steps=args.steps, device=args.device, cooldown=args.cooldown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
