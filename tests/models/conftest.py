# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny randomly initialised model set exported to ONNX (needs torch; skipped without it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "pose": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "d_stream": 8, "stream_hidden": 16, "dropout": 0.0,
             "local": 3},
    "root": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "dropout": 0.0},
    "pressure": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "dropout": 0.0},
    "transformer": {"d_model": 32, "layers": 1, "heads": 2, "ffn": 64, "dropout": 0.0},
    "mlp": {"hidden": 32, "context": 9, "layers": 2},
}


def tiny_config() -> dict:
    cfg = json.loads((ROOT / "training" / "config" / "cpu_default.json").read_text())
    cfg["models"] = copy.deepcopy(TINY)
    cfg["train"].update(batch=4, max_steps=6, ckpt_every=3, log_every=3, val_windows=4, threads=1)
    return cfg


@pytest.fixture(scope="session")
def tiny_model_set(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from step2motion_addon.core.features import Normaliser
    from training import export, models, train
    torch.manual_seed(0)
    cfg = tiny_config()
    clips = train.synthetic_clips(2, seed=0)
    norms = train.fit_normalisers(clips)
    # Random pose/features statistics would make the outputs arbitrary; keep identity-ish scales.
    norms["features"] = Normaliser(np.zeros(58, np.float32), np.ones(58, np.float32))
    built = {k: models.build(k, cfg["models"][k]) for k in TINY}
    out = tmp_path_factory.mktemp("model_set")
    meta = export.export_models(built, cfg, norms, out, clips[0]["offsets"],
                                sources=[{"name": "synthetic", "licence": "none"}], metrics={})
    return out, meta, built, cfg


@pytest.fixture
def tiny_cfg() -> dict:
    return tiny_config()
