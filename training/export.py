# SPDX-License-Identifier: GPL-3.0-or-later
"""Export a trained run to a model set: ONNX files + ONE ``model_set.json``.

The pose model becomes two files: ``pose_cond.onnx`` (sensor streams → cross-
attention memory, once per window) and ``pose.onnx`` (one denoiser call).

``python -m training.export --run runs/x --out models/step2motion-cpu``

The JSON holds everything the numpy/onnxruntime runtime needs (rates, window,
hop, feature layout and normalisation, skeleton names/parents/rest offsets,
sampler schedule) and what a model card needs (training data sources and
licences, metrics). Each export is checked against torch on fixed inputs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from step2motion_addon.core.features import (FEATURE_DIM, IMU_STREAMS, MODEL_RATE, PRESSURE_STREAMS, STREAMS,
                                             feature_names, stream_columns)
from step2motion_addon.core.inference.pose import POSE_DIM, ROOT_DIM, TOKEN_GROUPS
from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS, CANONICAL_PARENTS

from . import models as M

FORMAT_VERSION = 2
OPSET = 17
METADATA_NAME = "model_set.json"


def _example_inputs(kind: str, window: int, batch: int = 2, seed: int = 0, model=None):
    g = torch.Generator().manual_seed(seed)
    n_imu = len(stream_columns(IMU_STREAMS))
    if kind in ("pose", "pose_cond"):
        cond = {"cond": torch.randn(batch, window, FEATURE_DIM, generator=g),
                "cond_mask": (torch.rand(batch, len(STREAMS), generator=g) > 0.3).float()}
        if kind == "pose_cond":
            return cond
        x_t = torch.randn(batch, window, POSE_DIM, generator=g)
        t = torch.tensor([999.0, 3.0])[:batch].reshape(batch)
        with torch.no_grad():      # a realistic memory: the model's own encoding of a random condition
            memory = model.encode(cond["cond"], cond["cond_mask"])
        return {"x_t": x_t, "t": t, "memory": memory}
    if kind in ("root", "pressure"):
        return {"imu": torch.randn(batch, window, n_imu, generator=g)}
    return {"cond": torch.randn(batch, window, FEATURE_DIM, generator=g)}


OUTPUT_NAME = {"pose": "x0", "pose_cond": "memory", "root": "root", "pressure": "pressure",
               "transformer": "pose", "mlp": "pose"}
FRAME_AXIS = {"x_t": 1, "cond": 1, "imu": 1, "memory": 4, "x0": 1, "root": 1, "pressure": 1, "pose": 1}


def graph_parts(kind: str) -> tuple[str, ...]:
    """The ONNX graphs a model kind is exported as: the pose denoiser as its two halves."""
    return ("pose_cond", "pose") if kind == "pose" else (kind,)


def graph_module(kind: str, model: torch.nn.Module) -> torch.nn.Module:
    """The module exported for ``kind``: the pose denoiser is split into its two halves."""
    if kind == "pose":
        return M.PoseStepGraph(model)
    if kind == "pose_cond":
        return M.PoseEncoderGraph(model)
    return model


def export_onnx(kind: str, model: torch.nn.Module, path: Path, window: int, int8: bool = False) -> dict:
    """Write one ONNX file (batch and frame axes dynamic); returns its I/O description.

    For the pose model ``kind`` is "pose" (one denoiser call, given the memory)
    or "pose_cond" (condition → memory, once per window); ``model`` is the
    whole :class:`~training.models.PoseDenoiser` for both.
    """
    model.eval()
    inputs = _example_inputs(kind, window, model=model)
    names = list(inputs)
    out = OUTPUT_NAME[kind]
    dyn = {n: {0: "batch"} for n in names + [out]}
    for n in names + [out]:
        if n in FRAME_AXIS:
            dyn[n][FRAME_AXIS[n]] = "frames"
    with torch.no_grad():
        torch.onnx.export(graph_module(kind, model), tuple(inputs.values()), str(path), input_names=names,
                          output_names=[out], dynamic_axes=dyn, opset_version=OPSET, dynamo=False)
    if int8:
        quantize_int8(path)
    return {"file": path.name, "inputs": names, "output": out, "int8": bool(int8)}


def quantize_int8(path: Path) -> None:
    """Dynamic int8 quantisation of the MatMul/Gemm weights, in place (activations stay fp32).

    Unsigned per-channel weights: on CPUs without VNNI (AVX2) onnxruntime's u8×s8 kernel
    saturates, and signed weights moved the shipped pose model's joints 3.1 mm on average
    (max 39) against 1.4 mm (max 11) this way (docs/models.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = path.with_suffix(".fp32.onnx")
    path.replace(tmp)
    try:
        quantize_dynamic(str(tmp), str(path), weight_type=QuantType.QUInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        tmp.unlink(missing_ok=True)


def parity(kind: str, model: torch.nn.Module, path: Path, window: int, seed: int = 1) -> float:
    """Max |torch − onnxruntime| on fixed random inputs."""
    import onnxruntime as ort
    model.eval()
    inputs = _example_inputs(kind, window, seed=seed, model=model)
    with torch.no_grad():
        ref = graph_module(kind, model)(*inputs.values()).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    return float(np.max(np.abs(ref - got)))


def metadata(cfg: dict, normalisers: dict, offsets: np.ndarray, files: dict, sources: list[dict],
             metrics: dict, parity_err: dict, ahrs_backend: str, tilt_offset: str = "median") -> dict:
    d = cfg["diffusion"]
    alphas = M.cosine_alphas_cumprod(d["steps"])
    return {
        "format_version": FORMAT_VERSION,
        "rate": cfg.get("rate", MODEL_RATE),
        "window": cfg["window"],
        "hop": cfg["hop"],
        "offline_hop": cfg.get("offline_hop", cfg["hop"]),
        "features": {"names": feature_names(), "streams": [[n, w] for n, w in STREAMS],
                     "imu_columns": stream_columns(IMU_STREAMS).tolist(),
                     "pressure_columns": stream_columns(PRESSURE_STREAMS).tolist(),
                     "ahrs_backend": ahrs_backend, "tilt_offset": tilt_offset,
                     "normaliser": normalisers["features"].to_dict()},
        "pose": {"dim": POSE_DIM, "token_groups": [[n, idx] for n, idx in TOKEN_GROUPS],
                 "tokens": cfg["models"].get("pose", {}).get("tokens", "frame"),
                 "normaliser": normalisers["pose"].to_dict()},
        "root": {"dim": ROOT_DIM, "normaliser": normalisers["root"].to_dict()},
        "skeleton": {"joints": list(CANONICAL_JOINTS), "parents": list(CANONICAL_PARENTS),
                     "rest_offsets_m": np.asarray(offsets, dtype=float).round(6).tolist(),
                     "up": "Z", "facing": "-Y"},
        "sampler": {"kind": "ddim", "eta": 0.0, "prediction": "x0", "train_steps": d["steps"],
                    "schedule": "cosine",
                    "timesteps": M.sampler_timesteps(d["steps"], d["calls"]),
                    "alphas_cumprod": [float(alphas[t]) for t in M.sampler_timesteps(d["steps"], d["calls"])],
                    "guidance": 1.0},
        "models": files,
        "config": cfg["models"],
        "training_data": sources,
        "metrics": metrics,
        "onnx_parity_max_abs": parity_err,
    }


def export_models(models: dict, cfg: dict, normalisers: dict, out: Path, offsets: np.ndarray,
                  sources: list[dict] | None = None, metrics: dict | None = None,
                  ahrs_backend: str = "imufusion", check: bool = True, int8: bool = False,
                  tilt_offset: str = "median") -> dict:
    """Export in-memory models ({kind: module}) and write the metadata JSON; returns it.

    The pose model becomes two files (``pose_cond.onnx`` and ``pose.onnx``).
    ``int8``: dynamic int8 weights (parity is then reported, not ≤1e-4).
    """
    out.mkdir(parents=True, exist_ok=True)
    files, errs = {}, {}
    for kind, model in models.items():
        for part in graph_parts(kind):
            path = out / f"{part}.onnx"
            files[part] = export_onnx(part, model, path, cfg["window"], int8=int8)
            if check:
                errs[part] = parity(part, model, path, cfg["window"])
    meta = metadata(cfg, normalisers, offsets, files, sources or [], metrics or {}, errs, ahrs_backend, tilt_offset)
    (out / METADATA_NAME).write_text(json.dumps(meta, indent=1))
    return meta


def run_models(run: Path, cfg: dict) -> dict:
    """The trained models of a run folder, by kind: its weight average where it kept one (``train.ema``)."""
    models = {}
    for ckpt in sorted(Path(run).glob("ckpt_*.pt")):
        kind = ckpt.stem[len("ckpt_"):]
        m = M.build(kind, cfg["models"][kind])
        state = torch.load(ckpt, weights_only=True)
        m.load_state_dict(state.get("ema", state["model"]))
        models[kind] = m.eval()
    return models


def main(argv=None) -> int:
    from step2motion_addon.core.features import Normaliser
    from step2motion_addon.core.inference.odometry import TRANSLATION_SOURCES
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="directory written by training.train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--offsets", help="JSON (22×3) rest offsets of the output skeleton; default: the run's")
    ap.add_argument("--int8", action="store_true", help="dynamic int8 weights (see docs/models.md for the cost)")
    ap.add_argument("--name", help="model set name shown to users (default: the output folder's name)")
    ap.add_argument("--mirror-average", action="store_true",
                    help="the runtime averages each take's pose with its mirror image's "
                         "(up to twice the pose model's time)")
    ap.add_argument("--temperature", type=float, default=1.0,
                    help="the sampler's default noise temperature (0 = one deterministic estimate per take)")
    ap.add_argument("--root-heading", default="model", choices=("model", "feet", "fused"),
                    help="where the runtime takes the facing direction from (docs/models.md, root drift)")
    ap.add_argument("--root-translation", default="strides", choices=TRANSLATION_SOURCES,
                    help="root model alone, averaged with the planted feet, or the insoles' dead-reckoned "
                         "strides oriented by that path or by the reconstructed feet "
                         "(core/inference/odometry.py)")
    ap.add_argument("--evaluation", nargs="*", default=[],
                    help="metrics JSON files (training.evaluate --json) to embed in model_set.json")
    args = ap.parse_args(argv)
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    norms = {k: Normaliser.from_dict(v) for k, v in json.loads((run / "normalisers.json").read_text()).items()}
    models, metrics = run_models(run, cfg), {}
    for kind in models:
        mpath = run / f"metrics_{kind}.json"
        if mpath.exists():
            metrics[kind] = {k: v for k, v in json.loads(mpath.read_text()).items() if k != "history"}
    sources = json.loads((run / "sources.json").read_text()) if (run / "sources.json").exists() else []
    offsets_path = Path(args.offsets) if args.offsets else run / "offsets.json"
    offsets = np.array(json.loads(offsets_path.read_text())) if offsets_path.exists() else np.zeros((22, 3))
    feats_path = run / "features.json"
    feats = json.loads(feats_path.read_text()) if feats_path.exists() else {"ahrs_backend": "imufusion"}
    meta = export_models(models, cfg, norms, Path(args.out), offsets, sources, metrics,
                         ahrs_backend=feats["ahrs_backend"], int8=args.int8,
                         tilt_offset=feats.get("tilt_offset", "median"))
    # Which set this is and whether it may be used commercially follows from its training data:
    # anything trained on a non-commercial source inherits that restriction.
    set_file = Path(args.out) / "model_set.json"
    info = json.loads(set_file.read_text())
    info["name"] = args.name or Path(args.out).name
    info["root_heading"] = args.root_heading
    info["root_translation"] = args.root_translation
    info["sampler"]["temperature"] = args.temperature
    info["mirror_average"] = args.mirror_average
    info["sampler"]["train_timesteps"] = cfg.get("diffusion", {}).get("train_timesteps", "uniform")
    restricted = [s["name"] for s in sources if "non-commercial" in s.get("licence", "").lower()]
    info["use"] = (f"non-commercial only (trained on {', '.join(restricted)})" if restricted
                   else "commercial use allowed (all training data permits it)")
    info["evaluation"] = {Path(p).stem: json.loads(Path(p).read_text()).get("pooled", {}) for p in args.evaluation}
    set_file.write_text(json.dumps(info, indent=1))
    print(f"{info['name']}: {info['use']}")
    for kind, err in meta["onnx_parity_max_abs"].items():
        print(f"{kind}: {meta['models'][kind]['file']} parity max |Δ| = {err:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
