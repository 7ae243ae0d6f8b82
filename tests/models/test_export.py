# SPDX-License-Identifier: GPL-3.0-or-later
"""ONNX export: parity with torch, dynamic shapes, metadata contents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from step2motion_addon.core.features import FEATURE_DIM
from step2motion_addon.core.inference.pose import POSE_DIM


def test_parity_torch_vs_onnxruntime(tiny_model_set):
    out, meta, built, cfg = tiny_model_set
    assert set(meta["onnx_parity_max_abs"]) == {"pose", "root", "pressure", "transformer", "mlp"}
    for kind, err in meta["onnx_parity_max_abs"].items():
        assert err <= 1e-4, kind


def test_dynamic_frames_and_batch(tiny_model_set):
    torch = pytest.importorskip("torch")
    import onnxruntime as ort
    out, meta, built, cfg = tiny_model_set
    x = np.random.default_rng(0).normal(size=(3, 37, POSE_DIM)).astype(np.float32)
    cond = np.random.default_rng(1).normal(size=(3, 37, FEATURE_DIM)).astype(np.float32)
    t = np.array([999.0, 500.0, 0.0], np.float32)
    mask = np.array([[1] * 8, [0] * 8, [1, 0] * 4], np.float32)
    sess = ort.InferenceSession(str(out / "pose.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x_t": x, "t": t, "cond": cond, "cond_mask": mask})[0]
    with torch.no_grad():
        ref = built["pose"](*(torch.from_numpy(a) for a in (x, t, cond, mask))).numpy()
    assert got.shape == (3, 37, POSE_DIM)
    assert np.max(np.abs(got - ref)) <= 1e-4
    # The null condition changes the output (classifier-free guidance has something to scale).
    assert np.abs(got[0] - sess.run(None, {"x_t": x[:1], "t": t[:1], "cond": cond[:1],
                                           "cond_mask": np.zeros((1, 8), np.float32)})[0][0]).max() > 1e-4


def test_metadata_is_complete(tiny_model_set):
    out, meta, built, cfg = tiny_model_set
    disk = json.loads((out / "model_set.json").read_text())
    assert disk == json.loads(json.dumps(meta))
    assert disk["rate"] == 30.0 and disk["window"] == 100 and disk["hop"] == 50
    assert len(disk["skeleton"]["joints"]) == 22 and disk["skeleton"]["parents"][0] == -1
    assert np.array(disk["skeleton"]["rest_offsets_m"]).shape == (22, 3)
    assert len(disk["sampler"]["timesteps"]) <= 10
    assert disk["sampler"]["timesteps"] == sorted(disk["sampler"]["timesteps"], reverse=True)
    assert len(disk["features"]["normaliser"]["mean"]) == FEATURE_DIM
    assert len(disk["pose"]["normaliser"]["std"]) == POSE_DIM
    assert disk["training_data"][0]["licence"] == "none"
    for info in disk["models"].values():
        assert (out / info["file"]).is_file()
