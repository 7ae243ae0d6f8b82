# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/build_extension.py stages model sets (runtime models only) into the extension root."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blender"))
from _install_helpers import build_tool  # noqa: E402


def _fake_set(d: Path, kinds) -> Path:
    d.mkdir(parents=True)
    models = {k: {"file": f"{k}.onnx"} for k in kinds}
    for k in kinds:
        (d / f"{k}.onnx").write_bytes(b"onnx " + k.encode())
    (d / "model_set.json").write_text(json.dumps({"format_version": 2, "models": models}))
    return d


def test_runtime_models_are_staged_and_baselines_left_out(tmp_path):
    be = build_tool()
    src = tmp_path / "models"
    _fake_set(src / "step2motion-best", ["pose", "pose_cond", "root", "pressure", "mlp", "transformer"])
    (src / "notes").mkdir()                        # a folder without model_set.json is not a set
    root = tmp_path / "stage"
    assert be.stage_models(root, src) == ["step2motion-best"]
    out = root / "models" / "step2motion-best"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model_set.json", "pose.onnx", "pose_cond.onnx", "root.onnx", "pressure.onnx"])
    meta = json.loads((out / "model_set.json").read_text())
    assert sorted(meta["models"]) == ["pose", "pose_cond", "pressure", "root"]
    assert (out / "pose.onnx").read_bytes() == b"onnx pose"


def test_a_set_without_the_pose_model_or_with_a_missing_file_stops_the_build(tmp_path):
    be = build_tool()
    _fake_set(tmp_path / "a" / "half", ["pose", "root"])
    with pytest.raises(be.BuildError, match="pose_cond"):
        be.stage_models(tmp_path / "s1", tmp_path / "a")
    d = _fake_set(tmp_path / "b" / "broken", ["pose", "pose_cond"])
    (d / "pose.onnx").unlink()
    with pytest.raises(be.BuildError, match="missing"):
        be.stage_models(tmp_path / "s2", tmp_path / "b")


def test_no_models_folder_stages_nothing(tmp_path):
    assert build_tool().stage_models(tmp_path / "s", tmp_path / "absent") == []
