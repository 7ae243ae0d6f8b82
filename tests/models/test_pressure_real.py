# SPDX-License-Identifier: GPL-3.0-or-later
"""Leave-one-file-out fine-tuning of the IMU→pressure model on the real Moticon recordings (tiny model)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from step2motion_addon.core.features import Normaliser  # noqa: E402
from training import pressure_real as PR  # noqa: E402
from training import train  # noqa: E402

METRIC_KEYS = {"force_corr", "force_rmse_n", "cop_rmse", "stance_f1"}


@pytest.fixture
def real_files(moticon_files):
    files = sorted(str(p) for p in moticon_files)
    if len(files) < 3:
        pytest.skip("needs three real Moticon recordings in ../shared/data")
    return files[:3]


@pytest.fixture
def tiny_run(tiny_model_set, tmp_path):
    """A run folder (config, normalisers, pressure checkpoint) matching the tiny exported model set."""
    out, meta, built, cfg = tiny_model_set
    run = tmp_path / "run"
    run.mkdir()
    norms = {"features": meta["features"]["normaliser"], "pose": meta["pose"]["normaliser"],
             "root": meta["root"]["normaliser"]}
    (run / "normalisers.json").write_text(json.dumps(norms))
    (run / "config.json").write_text(json.dumps(cfg))
    torch.save({"model": built["pressure"].state_dict()}, run / "ckpt_pressure.pt")
    return run, out, cfg


def test_lofo_tiny_run_finetunes_and_measures_held_out_file(tiny_run, real_files, tmp_path):
    run, base_set, cfg = tiny_run
    norms = PR.load_norms(run)
    state = torch.load(run / "ckpt_pressure.pt", weights_only=True)["model"]
    sim = train.synthetic_clips(2, seed=0)
    res = PR.lofo(run, cfg, norms, state, real_files, sim, tmp_path / "lofo", base_set, steps=3, batch=4,
                  log=lambda *_: None)
    assert [f["held_out"] for f in res["folds"]] == real_files
    for fold in res["folds"]:
        for which in ("before", "after"):
            assert set(fold[which]) == {"left", "right", "pooled"}
            for part in ("left", "right", "pooled"):
                assert METRIC_KEYS <= set(fold[which][part])
                assert all(math.isfinite(fold[which][part][k]) for k in METRIC_KEYS)
    assert all(math.isfinite(v) for part in res["mean"]["after"].values() for v in part.values())
    on_disk = json.loads((tmp_path / "lofo" / "metrics.json").read_text())
    assert on_disk["mean"] == res["mean"]
    # The fine-tuned model answers differently on the held-out file from the simulated-only one.
    assert any(f["before"]["pooled"]["force_rmse_n"] != f["after"]["pooled"]["force_rmse_n"] for f in res["folds"])


def test_finetune_changes_weights_and_saves_an_exportable_run(tiny_run, real_files, tmp_path):
    run, _, cfg = tiny_run
    norms = PR.load_norms(run)
    state = torch.load(run / "ckpt_pressure.pt", weights_only=True)["model"]
    real = PR.real_clips(real_files[:2], cfg["rate"])
    assert all(c["features"].shape[1] == len(norms["features"].mean) for c in real)
    model, hist = PR.finetune(state, cfg, norms, real, train.synthetic_clips(2, seed=0), steps=3, batch=4,
                              log=lambda *_: None)
    assert hist[-1]["step"] == 3 and math.isfinite(hist[-1]["loss"])
    changed = [not torch.equal(v, model.state_dict()[k]) for k, v in state.items() if v.is_floating_point()]
    assert any(changed)
    out = PR.save_finetuned(run, model, tmp_path / "ft_run", {"steps": 3, "history": hist})
    reloaded = torch.load(out / "ckpt_pressure.pt", weights_only=True)["model"]
    assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())
    assert json.loads((out / "metrics_pressure.json").read_text())["finetuned_real"]["steps"] == 3


def test_windows_pad_short_clips_and_mix_real_with_simulated():
    rng = np.random.default_rng(0)
    norm = Normaliser(np.zeros(3, np.float32), np.ones(3, np.float32))
    w = PR.FeatureWindows([{"features": np.ones((5, 3), np.float32)}], norm, window=8, rng=rng)
    batch = w.draw(4)
    assert batch.shape == (4, 8, 3) and np.all(batch == 1)


def test_control_without_real_windows_trains_on_simulation_alone(tiny_run):
    run, _, cfg = tiny_run
    state = torch.load(run / "ckpt_pressure.pt", weights_only=True)["model"]
    model, hist = PR.finetune(state, cfg, PR.load_norms(run), [], train.synthetic_clips(2, seed=0), steps=2,
                              batch=4, real_fraction=0.0, log=lambda *_: None)
    assert hist[-1]["step"] == 2
    with pytest.raises(ValueError):
        PR.finetune(state, cfg, PR.load_norms(run), [], [], steps=1, batch=4, log=lambda *_: None)
