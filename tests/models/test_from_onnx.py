# SPDX-License-Identifier: GPL-3.0-or-later
"""An exported model set turned back into a run folder: the same weights, exported again, and training resumes."""

from __future__ import annotations

import copy
import json

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def trunk_set(tmp_path_factory, tiny_cfg):
    # A tiny set like the shipped one: the pose model carries an MLP trunk (whose output layer no graph reads).
    from training import export, models, train
    torch.manual_seed(1)
    cfg = tiny_cfg
    cfg["models"]["pose"] = dict(cfg["models"]["pose"], trunk=16, trunk_layers=2)
    clips = train.synthetic_clips(2, seed=0)
    norms = train.fit_normalisers(clips)
    built = {k: models.build(k, cfg["models"][k]) for k in cfg["models"]}
    out = tmp_path_factory.mktemp("trunk_set")
    export.export_models(built, cfg, norms, out, clips[0]["offsets"],
                         sources=[{"name": "synthetic", "licence": "none"}], metrics={"root": {"steps": 7}},
                         tilt_offset="strides")
    return out, built


def test_recovered_run_exports_the_same_onnx_files(trunk_set, tmp_path):
    from training import export, from_onnx
    src, built = trunk_set
    run = tmp_path / "run"
    assert from_onnx.main(["--models", str(src), "--out", str(run)]) == 0
    state = torch.load(run / "ckpt_pose.pt", weights_only=True)
    _, unused, _ = from_onnx.recover("pose", src, json.loads((src / "model_set.json").read_text()))
    assert unused and all(k.startswith("trunk.rest.") for k in unused)   # the trunk's output layer: in no graph
    for k, v in built["pose"].state_dict().items():
        if k not in unused:
            assert torch.equal(state["model"][k], v), k
    assert torch.load(run / "ckpt_root.pt", weights_only=True)["step"] == 7
    assert json.loads((run / "features.json").read_text())["tilt_offset"] == "strides"
    assert export.main(["--run", str(run), "--out", str(tmp_path / "again")]) == 0
    for f in sorted(src.glob("*.onnx")):
        assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name
    meta, again = (json.loads((d / "model_set.json").read_text()) for d in (src, tmp_path / "again"))
    for k in ("features", "pose", "root", "skeleton", "config"):
        assert again[k] == meta[k], k
    assert {k: again["sampler"][k] for k in meta["sampler"]} == meta["sampler"]   # export adds its run options


def test_training_resumes_from_the_recovered_weights(trunk_set, tmp_path):
    from training import from_onnx, train
    src, built = trunk_set
    run = tmp_path / "run"
    from_onnx.main(["--models", str(src), "--out", str(run), "--kinds", "root"])
    assert not (run / "ckpt_pose.pt").exists()
    before = torch.load(run / "ckpt_root.pt", weights_only=True)["model"]
    train.main(["--config", str(run / "config.json"), "--model", "root", "--synthetic", "2", "--out", str(run),
                "--resume", "--steps", "9"])
    after = torch.load(run / "ckpt_root.pt", weights_only=True)
    assert after["step"] == 9 and "opt" in after
    moved = [k for k, v in before.items() if v.dtype.is_floating_point and not torch.equal(v, after["model"][k])]
    assert moved                                        # it trained from the recovered weights, two more steps


def test_bad_sets_are_clear_errors(trunk_set, tmp_path):
    from training import from_onnx
    src, _ = trunk_set
    with pytest.raises(SystemExit, match="no model_set.json"):
        from_onnx.main(["--models", str(tmp_path), "--out", str(tmp_path / "run")])
    bad = tmp_path / "bad"
    bad.mkdir()
    meta = json.loads((src / "model_set.json").read_text())
    for f in src.glob("*.onnx"):
        (bad / f.name).write_bytes(f.read_bytes())
    meta_wrong = copy.deepcopy(meta)
    meta_wrong["models"].pop("mlp")
    (bad / "model_set.json").write_text(json.dumps(meta_wrong))
    with pytest.raises(SystemExit, match="no mlp model"):
        from_onnx.main(["--models", str(bad), "--out", str(tmp_path / "run"), "--kinds", "mlp"])
    # Weights that are not the architecture's (another set's root file): parity says so.
    other = tmp_path / "other"
    other.mkdir()
    for f in src.glob("*"):
        (other / f.name).write_bytes(f.read_bytes())
    (other / "root.onnx").write_bytes((src / "pressure.onnx").read_bytes())
    with pytest.raises(SystemExit, match="root.onnx: .* not this set's weights"):
        from_onnx.main(["--models", str(other), "--out", str(tmp_path / "run2"), "--kinds", "root"])
    (other / "root.onnx").write_bytes(b"\x08\x07 not a model")
    with pytest.raises(SystemExit, match="root.onnx: not a readable ONNX file"):
        from_onnx.main(["--models", str(other), "--out", str(tmp_path / "run3"), "--kinds", "root"])
    (other / "root.onnx").unlink()
    with pytest.raises(SystemExit, match="root.onnx: missing"):
        from_onnx.main(["--models", str(other), "--out", str(tmp_path / "run4"), "--kinds", "root"])
