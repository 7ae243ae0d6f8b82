# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn an exported model set back into a training run folder that ``training.train --resume`` continues.

    python -m training.from_onnx --models models/step2motion-best --out runs/from_best \\
        [--base training/config/cpu_default.json] [--kinds pose root ...]

The ONNX files are the only weights a fresh clone has (training checkpoints are not
committed), so this is how the shipped models are fine-tuned or continued on another
machine. Every torch parameter is found in the ONNX graphs by exporting the same
architecture with distinct random values (an initializer is a parameter, its
transpose or a reshape of it), then read from the shipped graphs at the same node
input; the result must reproduce the shipped ONNX outputs (parity ≤ 1e-4, as at
export). Written: ``ckpt_<kind>.pt`` (weights, as the model and as its moving
average; no optimiser state: ``training.train --resume`` starts a fresh one),
``config.json`` (``--base`` with the set's architectures, window and sampler),
``normalisers.json``, ``offsets.json``, ``features.json``, ``sources.json`` and
``metrics_<kind>.json``, so ``training.export --run`` exports it again.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from . import export
from . import models as M
from .train import KINDS, load_config

PARITY_MAX = 1e-4


def _consumers(graph) -> dict[str, list[tuple[str, int]]]:
    """{initializer name: [(node name, input position), …]}: where each initializer is read.

    The exporter merges initializers of equal value and hands the copies on through
    Identity nodes: a node reading such a copy reads the initializer behind it.
    """
    inits = {i.name for i in graph.initializer}
    alias = {}
    for node in graph.node:
        if node.op_type == "Identity" and (node.input[0] in inits or node.input[0] in alias):
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
    out = {}
    for node in graph.node:
        if node.op_type == "Identity":
            continue
        for k, name in enumerate(node.input):
            name = alias.get(name, name)
            if name in inits:
                out.setdefault(name, []).append((node.name, k))
    return out


def _load(path: Path):
    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing (model_set.json names it)") from None
    except Exception as e:                                  # protobuf's DecodeError and friends
        raise SystemExit(f"{path}: not a readable ONNX file ({type(e).__name__}: {e})") from None


def initializer_map(kind: str, model: torch.nn.Module, window: int) -> dict[tuple, tuple[str, str]]:
    """{(graph, node name, input position): (state_dict key, "same" | "transpose" | "reshape")}.

    Each floating tensor gets its own random values, the model is exported, and each
    initializer is matched by value, then keyed by the nodes that read it: the exporter
    merges initializers of equal value (an untrained model's layer norms), so a name
    may stand for several parameters, a reading node for one. Initializers that match
    nothing (constants the exporter computed) are left out.
    """
    g = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.dtype.is_floating_point:
                v.copy_(torch.randn(v.shape, generator=g))
    params = {k: v.numpy() for k, v in model.state_dict().items() if v.dtype.is_floating_point}
    found = {}
    with tempfile.TemporaryDirectory() as d:
        for part in export.graph_parts(kind):
            path = Path(d) / f"{part}.onnx"
            export.export_onnx(part, model, path, window)
            graph = onnx.load(str(path)).graph
            readers = _consumers(graph)
            for init in graph.initializer:
                a = numpy_helper.to_array(init)
                for key, v in params.items():
                    if v.size != a.size:
                        continue
                    if v.shape == a.shape and np.array_equal(v, a):
                        how = "same"
                    elif v.ndim == 2 and v.T.shape == a.shape and np.array_equal(v.T, a):
                        how = "transpose"
                    elif np.array_equal(v.ravel(), a.ravel()):
                        how = "reshape"
                    else:
                        continue
                    for node, k in readers.get(init.name, []):
                        found[(part, node, k)] = (key, how)
                    break
    return found


def recover(kind: str, src: Path, meta: dict) -> tuple[torch.nn.Module, list[str], dict]:
    """The kind's torch model with the set's weights, the parameters its graphs never read, and parity per graph."""
    window = int(meta["window"])
    found = initializer_map(kind, M.build(kind, meta["config"][kind]), window)
    torch.manual_seed(0)                       # what no graph reads keeps a reproducible initialisation
    model = M.build(kind, meta["config"][kind])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = set()
    for part in export.graph_parts(kind):
        path = src / meta["models"][part]["file"]
        if meta["models"][part].get("int8"):
            raise SystemExit(f"{path}: int8 weights cannot be turned back into the trained ones")
        graph = _load(path).graph
        values = {i.name: i for i in graph.initializer}
        for name, readers in _consumers(graph).items():
            for node, k in readers:
                if (part, node, k) not in found:
                    continue
                key, how = found[(part, node, k)]
                a = numpy_helper.to_array(values[name])
                if a.size != state[key].numel():
                    raise SystemExit(f"{path}: {name} holds {tuple(a.shape)}, the architecture in model_set.json "
                                     f"needs {tuple(state[key].shape)} for {key}: not this set's weights")
                value = a.T if how == "transpose" else a.reshape(state[key].shape)
                state[key] = torch.from_numpy(np.array(value)).to(state[key].dtype)
                loaded.add(key)
    model.load_state_dict(state)
    unused = sorted(k for k, v in state.items() if v.dtype.is_floating_point and k not in loaded)
    parity = {part: export.parity(part, model, src / meta["models"][part]["file"], window)
              for part in export.graph_parts(kind)}
    bad = {p: e for p, e in parity.items() if not e <= PARITY_MAX}
    if bad:
        raise SystemExit(f"{src}: {kind} recovered but its outputs differ from the ONNX files by "
                         + ", ".join(f"{p} {e:.2e}" for p, e in bad.items()) + f" (> {PARITY_MAX:g})")
    return model.eval(), unused, parity


def run_config(meta: dict, base: Path) -> dict:
    """``base`` with the set's model architectures, window, hops and diffusion schedule."""
    cfg = load_config(base)
    cfg["models"] = {k: dict(v) for k, v in meta["config"].items()}
    for k in ("rate", "window", "hop", "offline_hop"):
        cfg[k] = meta[k]
    s = meta["sampler"]
    cfg["diffusion"] = dict(cfg.get("diffusion", {}), steps=s["train_steps"], calls=len(s["timesteps"]))
    if "train_timesteps" in s:
        cfg["diffusion"]["train_timesteps"] = s["train_timesteps"]
    return cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="model set folder (model_set.json + ONNX files)")
    ap.add_argument("--out", required=True, help="run folder to write")
    ap.add_argument("--base", default=str(Path(__file__).parent / "config" / "cpu_default.json"),
                    help="training config whose train/diffusion settings the run keeps")
    ap.add_argument("--kinds", nargs="*", choices=KINDS, help="default: every model the set has")
    args = ap.parse_args(argv)
    src, out = Path(args.models), Path(args.out)
    meta_path = src / "model_set.json"
    if not meta_path.exists():
        raise SystemExit(f"{src}: no model_set.json (not a model set folder)")
    meta = json.loads(meta_path.read_text())
    def has(kind):
        return all(p in meta["models"] for p in export.graph_parts(kind))
    kinds = args.kinds or [k for k in KINDS if has(k)]
    missing = [k for k in kinds if not has(k)]
    if missing:
        raise SystemExit(f"{src}: the set has no {', '.join(missing)} model")
    out.mkdir(parents=True, exist_ok=True)
    cfg = run_config(meta, Path(args.base))
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    (out / "normalisers.json").write_text(json.dumps({k: meta[k]["normaliser"] for k in ("features", "pose", "root")}))
    (out / "offsets.json").write_text(json.dumps(meta["skeleton"]["rest_offsets_m"]))
    (out / "features.json").write_text(json.dumps({k: meta["features"][k] for k in ("ahrs_backend", "tilt_offset")
                                                   if k in meta["features"]}))
    (out / "sources.json").write_text(json.dumps(meta.get("training_data", []), indent=1))
    for kind in kinds:
        model, unused, parity = recover(kind, src, meta)
        weights = model.state_dict()
        steps = int(meta.get("metrics", {}).get(kind, {}).get("steps", 0))
        torch.save({"model": weights, "ema": {k: v.clone() for k, v in weights.items()}, "step": steps,
                    "history": "[]"}, out / f"ckpt_{kind}.pt")
        (out / f"metrics_{kind}.json").write_text(json.dumps(meta.get("metrics", {}).get(kind, {}), indent=1))
        note = f"; not in the graphs, left as initialised: {', '.join(unused)}" if unused else ""
        print(f"{kind}: step {steps}, parity " + ", ".join(f"{p} {e:.1e}" for p, e in parity.items()) + note)
    print(f"wrote {out} (continue with: python -m training.train --config {out / 'config.json'} "
          f"--model KIND --data shards --out {out} --resume --steps N)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
