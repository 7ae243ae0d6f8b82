# SPDX-License-Identifier: GPL-3.0-or-later
"""Training command: smoke run on tiny random data, checkpoints, exact resume, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
    ea = torch.load(tmp_path / "a" / "ckpt_pose.pt", weights_only=True)["ema"]
    eb = torch.load(tmp_path / "b" / "ckpt_pose.pt", weights_only=True)["ema"]
    assert all(torch.allclose(ea[k], eb[k], atol=1e-6) for k in ea)    # the weight average resumes too


def test_learning_rate_is_constant_then_cools_to_zero_at_the_runs_end():
    lr = [train.learning_rate(1e-3, s, 100, 40) for s in range(100)]
    assert lr[:60] == [1e-3] * 60
    assert lr[80] == pytest.approx(5e-4) and lr[99] < 2e-6
    assert all(a >= b for a, b in zip(lr, lr[1:]))
    # Continued to 200 steps, the run cools down at its new end instead.
    assert train.learning_rate(1e-3, 99, 200, 40) == 1e-3
    assert train.learning_rate(1e-3, 5, 6, 0) == 1e-3


def test_export_takes_the_weight_average_the_run_validated(tmp_path, tiny_cfg):
    from training import export
    cfg = json.loads(json.dumps(tiny_cfg))
    cfg["train"].update(ema=0.5, cooldown_steps=0)
    clips = train.synthetic_clips(3, seed=0)
    train.train("mlp", cfg, tmp_path, clips, clips[:1], log=lambda s: None)
    state = torch.load(tmp_path / "ckpt_mlp.pt", weights_only=True)
    model = export.run_models(tmp_path, cfg)["mlp"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["ema"][k]), k
    assert any(not torch.equal(state["ema"][k], state["model"][k]) for k in state["model"])
    # Without an average (ema 0) the checkpoint has none and the export takes the weights as trained.
    cfg["train"]["ema"] = 0.0
    train.train("mlp", cfg, tmp_path / "plain", clips, clips[:1], log=lambda s: None)
    state = torch.load(tmp_path / "plain" / "ckpt_mlp.pt", weights_only=True)
    assert "ema" not in state
    model = export.run_models(tmp_path / "plain", cfg)["mlp"]
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())


def _probe(model):
    """Fixed denoiser inputs for comparing two models: noisy poses, steps, condition, stream mask."""
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 30, model.outp[0].out_features, generator=g), torch.randn(2, 30, 58, generator=g)
    return x, torch.tensor([999.0, 3.0]), cond, torch.ones(2, 8)


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
    x, t, cond, mask = _probe(a)
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


def test_a_retrained_ablation_never_sees_the_streams_it_drops(tmp_path, tiny_cfg):
    """``--ablate pressure``: what the pressure columns hold cannot change a single weight."""
    import copy
    import numpy as np
    from step2motion_addon.core.features import PRESSURE_STREAMS, stream_columns
    cfg = copy.deepcopy(tiny_cfg)
    cfg["diffusion"]["ablate"] = "pressure"
    clips = train.synthetic_clips(3, seed=0)
    other = copy.deepcopy(clips)
    cols = stream_columns(PRESSURE_STREAMS)
    rng = np.random.default_rng(5)
    for c in other:
        c["features"][:, cols] = rng.normal(0, 3, (len(c["features"]), len(cols)))
    for name, data in (("a", clips), ("b", other)):
        train.train("pose", cfg, tmp_path / name, data, data[:1], log=lambda s: None)
    a, b = (torch.load(tmp_path / n / "ckpt_pose.pt", weights_only=True)["model"] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Without the ablation the same change does reach the weights (the test can fail).
    cfg["diffusion"].pop("ablate")
    for name, data in (("c", clips), ("d", other)):
        train.train("pose", cfg, tmp_path / name, data, data[:1], log=lambda s: None)
    c, d = (torch.load(tmp_path / n / "ckpt_pose.pt", weights_only=True)["model"] for n in "cd")
    assert any(not torch.equal(c[k], d[k]) for k in c)


def test_ablate_is_refused_for_models_that_are_not_the_pose_model(tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--model", "mlp", "--synthetic", "2", "--out", str(tmp_path), "--ablate", "imu"])


def test_trunk_graft_starts_as_the_model_it_continues_and_reads_only_measured_streams(tmp_path, tiny_cfg):
    """``--graft POSE --trunk-from MLP``: the MLP baseline's network feeds the frame-aligned path."""
    import copy
    from training import export, models
    clips = train.synthetic_clips(3, seed=0)
    train.train("pose", tiny_cfg, tmp_path / "pose", clips, clips[:1], max_steps=3, log=lambda s: None)
    train.train("mlp", tiny_cfg, tmp_path / "mlp", clips, clips[:1], max_steps=3, log=lambda s: None)
    cfg = copy.deepcopy(tiny_cfg)
    cfg["models"]["pose"].update(trunk=32, trunk_layers=2)
    train.graft(tmp_path / "pose" / "ckpt_pose.pt", cfg, tmp_path / "grafted.pt", tmp_path / "mlp" / "ckpt_mlp.pt")
    old, new = (torch.load(p, weights_only=True) for p in (tmp_path / "pose" / "ckpt_pose.pt", tmp_path / "grafted.pt"))
    mlp = torch.load(tmp_path / "mlp" / "ckpt_mlp.pt", weights_only=True)
    a, b = models.build("pose", tiny_cfg["models"]["pose"]), models.build("pose", cfg["models"]["pose"])
    a.load_state_dict(old["ema"])
    b.load_state_dict(new["ema"])
    a.eval(), b.eval()
    for k, v in mlp["ema"].items():                       # the trunk is the trained MLP, average included
        assert torch.equal(b.trunk.state_dict()[k], v), k
    x, t, cond, mask = _probe(a)
    with torch.no_grad():
        assert torch.equal(a(x, t, cond, mask), b(x, t, cond, mask))       # the projections add exactly zero
        for p in b.trunk_proj:
            torch.nn.init.normal_(p.weight)
        # A stream marked absent reaches the trunk as zeros, whatever its columns hold.
        mask[:, 2] = 0.0
        noisy = cond.clone()
        noisy[..., 16:26] = 1e3                            # left_imu columns
        assert torch.equal(b(x, t, cond, mask), b(x, t, noisy, mask))
        assert not torch.equal(b(x, t, cond, torch.ones(2, 8)), b(x, t, noisy, torch.ones(2, 8)))
    for part in ("pose_cond", "pose"):                    # the runtime's memory layout is unchanged
        export.export_onnx(part, b, tmp_path / f"{part}.onnx", 30)
        assert export.parity(part, b, tmp_path / f"{part}.onnx", 30) <= 1e-4
    with pytest.raises(SystemExit, match="trunk"):
        train.graft(tmp_path / "pose" / "ckpt_pose.pt", tiny_cfg, tmp_path / "x.pt", tmp_path / "mlp" / "ckpt_mlp.pt")


def test_a_config_names_its_base_and_overrides_only_its_own_keys(tmp_path):
    shipped = train.load_config(Path(train.__file__).parent / "config" / "cpu_trunk.json")
    default = train.load_config(Path(train.__file__).parent / "config" / "cpu_default.json")
    assert shipped["models"]["pose"] == dict(default["models"]["pose"], trunk=512)
    assert {k: v for k, v in shipped.items() if k not in ("_comment", "models")} == \
        {k: v for k, v in default.items() if k not in ("_comment", "models")}
    (tmp_path / "b.json").write_text(json.dumps({"base": "cpu.json", "train": {"lr": 0.5}}))
    (tmp_path / "cpu.json").write_text(json.dumps({"seed": 1, "train": {"lr": 1.0, "batch": 4}}))
    assert train.load_config(tmp_path / "b.json") == {"seed": 1, "train": {"lr": 0.5, "batch": 4}}


def test_mirrored_clip_moves_the_skeleton_into_its_mirror_image():
    from step2motion_addon.core.inference.pose import pose_to_rotations
    from step2motion_addon.core.motion.skeleton import MIRROR_INDEX, Motion
    clip = train.synthetic_clips(1, seed=3)[0]
    mir = train.mirrored_clip(clip)
    n = len(clip["pose"])

    def joints(c):
        return Motion(30.0, c["offsets"], pose_to_rotations(c["pose"], np.zeros(n)), np.zeros((n, 3))).fk()

    want = joints(clip)[:, list(MIRROR_INDEX)] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(joints(mir) - want).max() < 1e-5
    assert np.abs(joints(mir) - joints(clip)).max() > 0.05               # the synthetic pose is not symmetric
    assert np.allclose(mir["root"][:, 0], -clip["root"][:, 0]) and np.allclose(mir["root"][:, 1], clip["root"][:, 1])
    twice = train.mirrored_clip(mir)
    for key in ("features", "pose", "root", "offsets"):
        assert np.array_equal(twice[key], clip[key]), key
    assert mir["source"].endswith("(mirrored)")
