# SPDX-License-Identifier: GPL-3.0-or-later
"""Training command: smoke run on tiny random data, checkpoints, exact resume, metrics."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from training import train  # noqa: E402


@pytest.mark.parametrize("kind", ["pose", "root", "pressure", "transformer", "mlp"])
def test_smoke_training_writes_metrics(kind, tmp_path, tiny_cfg):
    clips = train.synthetic_clips(3, seed=0)
    m = train.train(kind, tiny_cfg, tmp_path, clips, clips[:1], log=lambda s: None)
    assert m["steps"] == 6 and m["parameters"] > 0 and m["final_val_loss"] is not None
    disk = json.loads((tmp_path / f"metrics_{kind}.json").read_text())
    assert disk["steps"] == 6 and len(disk["history"]) == 2
    assert (tmp_path / f"ckpt_{kind}.pt").is_file() and (tmp_path / "normalisers.json").is_file()


def test_resume_reproduces_uninterrupted_run(tmp_path, tiny_cfg):
    clips = train.synthetic_clips(3, seed=0)
    cfg = tiny_cfg
    straight = train.train("pose", cfg, tmp_path / "a", clips, clips[:1], log=lambda s: None)
    train.train("pose", cfg, tmp_path / "b", clips, clips[:1], max_steps=3, log=lambda s: None)
    resumed = train.train("pose", cfg, tmp_path / "b", clips, clips[:1], resume=True, log=lambda s: None)
    assert resumed["steps"] == 6
    a = torch.load(tmp_path / "a" / "ckpt_pose.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "ckpt_pose.pt", weights_only=True)["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
