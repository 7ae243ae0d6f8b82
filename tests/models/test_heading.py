# SPDX-License-Identifier: GPL-3.0-or-later
"""Heading sources for the root integration: model turn rate, insoles' headings, fused."""

import numpy as np
import pytest

from step2motion_addon.core.inference.heading import fuse_heading, heading_changes


def test_feet_heading_follows_a_turn_the_model_misses():
    rate, n = 30.0, 300
    true = np.linspace(0.0, np.pi / 2, n)                        # a 90° turn over 10 s
    feet = np.stack([true + 0.1 * np.sin(np.arange(n)), true - 0.1 * np.sin(np.arange(n))], 1)
    model = np.zeros(n)                                          # a model that never turns
    both = np.array([True, True])
    assert np.cumsum(heading_changes("model", model, feet, both, rate))[-1] == pytest.approx(0.0)
    assert np.cumsum(heading_changes("feet", model, feet, both, rate))[-1] == pytest.approx(np.pi / 2, abs=1e-6)
    fused = np.cumsum(heading_changes("fused", model, feet, both, rate, tau_s=1.0))[-1]
    assert abs(fused - np.pi / 2) < 0.2          # lags by about τ × turn rate (0.16 rad here)


def test_fused_keeps_the_models_fast_turns_and_the_feets_slow_truth():
    rate, n = 30.0, 600
    true = np.cumsum(np.where(np.arange(n) % 150 < 10, 0.05, 0.0))  # quick turns, then straight
    model = np.diff(true, prepend=0.0) + 0.002                   # biased: drifts 1.2 rad over the take
    feet = np.stack([true, true], 1) + np.random.default_rng(0).normal(0, 0.05, (n, 2))
    fused = fuse_heading(model, feet.mean(1), rate, tau_s=2.0)
    assert abs(fused[-1] - true[-1]) < 0.15 < abs(np.cumsum(model)[-1] - true[-1])


def test_one_insole_without_imu_and_none():
    n = 50
    feet = np.stack([np.linspace(0, 1, n), np.full(n, 9.0)], 1)   # right column is garbage: no IMU
    out = heading_changes("feet", np.zeros(n), feet, np.array([True, False]), 30.0)
    assert np.cumsum(out)[-1] == pytest.approx(1.0)
    model = np.full(n, 0.01)
    assert np.allclose(heading_changes("feet", model, feet, np.array([False, False]), 30.0), model)
    with pytest.raises(ValueError, match="heading source"):
        heading_changes("compass", model, feet, np.array([True, True]), 30.0)


def _standing_and_walking():
    """A synthetic walk that stands at both ends, and the same walk with only the walking in between."""
    from step2motion_addon.core.synthetic import STAND_S, synthetic_walk
    from step2motion_addon.core.take import Take
    standing = synthetic_walk(duration=12.0, seed=2)
    walking = Take({side: f.select((f.time > f.time[0] + STAND_S + 0.5) & (f.time < f.time[-1] - STAND_S - 0.5))
                    for side, f in standing.feet.items()}, standing.meta)
    return standing, walking


def test_a_take_that_never_stands_still_is_told_its_heading_may_turn(tiny_model_set):
    """The gyro offset pins the heading only from a still moment; without one the user is told why paths curve."""
    from step2motion_addon.core.features import extract_features
    from step2motion_addon.core.inference import ModelSet, reconstruct
    standing, walking = _standing_and_walking()
    assert extract_features(standing).gyro_bias_source == {"left": "still", "right": "still"}
    sources = extract_features(walking).gyro_bias_source
    assert set(sources) == {"left", "right"} and "still" not in sources.values()
    models = ModelSet(tiny_model_set[0], intra_op_threads=1)
    assert not any("never stood still" in w for w in reconstruct(standing, models).info["warnings"])
    told = [w for w in reconstruct(walking, models).info["warnings"] if "never stood still" in w]
    assert len(told) == 1 and "left and right insole" in told[0] and "standing still" in told[0]


def test_the_model_sets_gyro_tilt_offset_reaches_its_features(tiny_model_set, tmp_path):
    """A set trained on stride tilt offsets gets them at run time; older sets keep the median."""
    import json
    import shutil

    from step2motion_addon.core import ahrs
    from step2motion_addon.core.features import extract_features, stream_slices
    from step2motion_addon.core.inference import ModelSet, reconstruct
    standing, walking = _standing_and_walking()
    up = stream_slices()["left_imu"].start + 6
    median, strides = (extract_features(walking, tilt_offset=t) for t in ("median", "strides"))
    assert (median.tilt_offset, strides.tilt_offset) == ("median", "strides")
    assert np.abs(median.values[:, up:up + 3] - strides.values[:, up:up + 3]).max() > 0.01
    for take in (walking, standing):             # a wrong name is an error whether or not it would be used
        with pytest.raises(ValueError, match="tilt_offset"):
            extract_features(take, tilt_offset="mean")

    old = ModelSet(tiny_model_set[0], intra_op_threads=1)
    assert old.meta["features"]["tilt_offset"] == "median" and old.feature_options()["tilt_offset"] == "median"
    new_dir = tmp_path / "strides_set"
    shutil.copytree(tiny_model_set[0], new_dir)
    meta = json.loads((new_dir / "model_set.json").read_text())
    meta["features"]["tilt_offset"] = "strides"
    del meta["features"]["ahrs_backend"]              # and a set that names no filter gets the default one
    (new_dir / "model_set.json").write_text(json.dumps(meta))
    new = ModelSet(new_dir, intra_op_threads=1)
    assert new.feature_options() == {"rate": 30.0, "ahrs_backend": "auto", "tilt_offset": "strides"}
    got = reconstruct(walking, new).info
    assert got["tilt_offset"] == "strides" and got["ahrs_backend"] == ahrs.estimate_orientation(
        np.tile([0.0, 0.0, 1.0], (10, 1)), np.zeros((10, 3)), 100.0)[1]
    told = [w for w in reconstruct(median, new).info["warnings"] if "tilt offset" in w]
    assert told == ["gyro tilt offset from the median differs from the model's (strides)"]
    assert not [w for w in reconstruct(median, old).info["warnings"] if "tilt offset" in w]


def test_each_shipped_set_reads_the_tilt_offset_it_was_trained_on():
    """The demo take never stands still: the best set (trained on stride offsets) gets them, the CMU set the median."""
    from pathlib import Path

    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import ModelSet
    from step2motion_addon.core.recon_run import run_reconstruction
    root = Path(__file__).resolve().parents[2]
    sets = {name: root / "models" / name for name in ("step2motion-best", "step2motion-cmu")}
    if not all((d / "model_set.json").is_file() for d in sets.values()):
        pytest.skip("shipped model sets not present")
    take = load_take(root / "step2motion_addon" / "samples" / "demo_walk.s2m")
    got = {}
    for name, d in sets.items():
        rec = run_reconstruction(take, ModelSet(d, intra_op_threads=1)).recs[0]
        got[name] = (rec.info["tilt_offset"], [w for w in rec.info["warnings"] if "tilt offset" in w])
    assert got == {"step2motion-best": ("strides", []), "step2motion-cmu": ("median", [])}
