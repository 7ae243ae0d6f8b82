# SPDX-License-Identifier: GPL-3.0-or-later
"""The training-set builder on a small spread sample of the shared mocap."""

from __future__ import annotations

import json

import numpy as np
import pytest

from step2motion_addon.core import insole
from training.dataset import build, describe


def test_split_never_divides_a_performer_or_style(tmp_path):
    from pathlib import Path
    a = describe(Path("bandai/dataset-2_walk_elderly_001.bvh.gz"))
    b = describe(Path("bandai/dataset-2_run_elderly_017.bvh.gz"))
    assert a["split"] == b["split"] == "test"
    assert describe(Path("cmu/007_03.bvh.gz"))["split"] == "test"
    assert describe(Path("cmu/005_02.bvh.gz"))["split"] == "train"


@pytest.mark.shared
def test_build_small_set(shared_data, tmp_path):
    manifest = build(shared_data / "mocap", tmp_path, workers=1, limit=12, seed=3)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["split_rule"] and len(on_disk["clips"]) + len(on_disk["rejected"]) == 12
    assert all(r["rejected"] for r in on_disk["rejected"])
    clip = manifest["clips"][0]
    with np.load(tmp_path / clip["shard"], allow_pickle=False) as z:
        k = clip["key"]
        p = z[f"{k}_left_pressure"]
        assert p.dtype == np.uint8 and p.shape == (clip["frames_100hz"], 16)
        assert z[f"{k}_left_acc"].dtype == np.float16
        assert z[f"{k}_rotations"].shape == (clip["frames_30hz"], 22, 4)
        force, _ = insole.force_and_cop(p * 0.25, clip["insole_size"])
        assert force.max() > 0.8 * clip["body_mass_kg"] * 9.81       # a real load, not empty
    assert all((tmp_path / f"shard_{i:03d}.npz").stat().st_size < 64 * 2**20 for i in range(manifest["shards"]))
    assert {c["licence"] for c in manifest["clips"]}                  # every clip carries its licence
