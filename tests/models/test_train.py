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


def test_graft_starts_exactly_where_the_model_without_the_path_stopped(tmp_path, tiny_cfg):
    import copy
    from training import models
    clips = train.synthetic_clips(3, seed=0)
    plain = copy.deepcopy(tiny_cfg)
    plain["models"]["pose"]["local"] = 0
    train.train("pose", plain, tmp_path / "old", clips, clips[:1], max_steps=3, log=lambda s: None)
    train.graft(tmp_path / "old" / "ckpt_pose.pt", tiny_cfg, tmp_path / "grafted.pt")
    old, new = (torch.load(p, weights_only=True) for p in (tmp_path / "old" / "ckpt_pose.pt", tmp_path / "grafted.pt"))
    assert new["step"] == old["step"] == 3 and new["history"] == old["history"]
    a, b = models.build("pose", plain["models"]["pose"]), models.build("pose", tiny_cfg["models"]["pose"])
    a.load_state_dict(old["model"])
    b.load_state_dict(new["model"])
    a.eval(), b.eval()
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 30, a.outp[0].out_features, generator=g), torch.randn(2, 30, 58, generator=g)
    t, mask = torch.tensor([999.0, 3.0]), torch.ones(2, 8)
    with torch.no_grad():
        assert torch.equal(a(x, t, cond, mask), b(x, t, cond, mask))        # the path adds exactly zero
    # Training then continues from there, the new convolutions learning.
    (tmp_path / "grafted.pt").replace(tmp_path / "old" / "ckpt_pose.pt")
    m = train.train("pose", tiny_cfg, tmp_path / "old", clips, clips[:1], resume=True, log=lambda s: None)
    assert m["steps"] == 6
    after = torch.load(tmp_path / "old" / "ckpt_pose.pt", weights_only=True)["model"]
    assert all(after[k].abs().max() > 0 for k in after if k.startswith("local.") and k.endswith("weight"))
    with pytest.raises(SystemExit, match="frame-aligned path"):
        train.graft(tmp_path / "old" / "ckpt_pose.pt", plain, tmp_path / "x.pt")
