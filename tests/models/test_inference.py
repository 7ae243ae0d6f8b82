# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end reconstruction with a tiny random model set (numpy + onnxruntime path)."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.inference import Cancelled, ModelSet, reconstruct
from step2motion_addon.core.inference.sampler import blend_weights, sample_take, stitch, window_starts
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import FootStream, Take


@pytest.fixture(scope="module")
def models(tiny_model_set):
    return ModelSet(tiny_model_set[0], intra_op_threads=1)


@pytest.fixture(scope="module")
def take():
    return synthetic_walk(duration=9.0, seed=4)


def test_outputs_shapes_and_units(models, take):
    r = reconstruct(take, models, seed=1)
    frames = int(take.duration * 30 + 1e-6) + 1
    assert r.rotations.shape == (frames, 22, 4) and r.root_pos.shape == (frames, 3)
    assert r.contact.shape == (frames, 2) and (r.contact >= 0).all() and (r.contact <= 1).all()
    assert np.allclose(np.linalg.norm(r.rotations, axis=-1), 1.0, atol=1e-5)
    assert np.allclose(r.root_pos[0, :2], 0.0, atol=1e-6)
    assert r.info["denoiser_calls"] <= 10 and r.info["windows"] == len(window_starts(frames, 100, models.offline_hop))
    assert models.offline_hop > models.hop and r.info["hop"] == models.offline_hop


def test_seeded_determinism(models, take):
    a = reconstruct(take, models, seed=7)
    b = reconstruct(take, models, seed=7)
    c = reconstruct(take, models, seed=8)
    assert np.array_equal(a.rotations, b.rotations) and np.array_equal(a.root_pos, b.root_pos)
    assert not np.allclose(a.rotations, c.rotations)


def test_temperature_scales_the_starting_noise(models, take):
    # 1 is the default sampler; 0 starts every window from the noise's mean: one estimate
    # whatever the seed; in between, a sample nearer that estimate than the full one.
    full = reconstruct(take, models, seed=7, temperature=1.0)
    assert np.array_equal(full.rotations, reconstruct(take, models, seed=7).rotations)
    zero = [reconstruct(take, models, seed=s, temperature=0.0) for s in (7, 8)]
    assert np.array_equal(zero[0].rotations, zero[1].rotations) and zero[0].info["temperature"] == 0.0
    half = reconstruct(take, models, seed=7, temperature=0.5)
    gap = [np.abs(r.rotations - zero[0].rotations).mean() for r in (half, full)]
    assert 0 < gap[0] < gap[1]
    with pytest.raises(ValueError, match="temperature"):
        reconstruct(take, models, temperature=-0.5)


def test_hypotheses_get_noise_even_from_a_deterministic_set(models):
    from step2motion_addon.core.recon_run import sampling_temperature
    import copy
    det = copy.copy(models)
    det.temperature = 0.0
    assert sampling_temperature(det, 1) == 0.0          # one estimate: the set's deterministic one
    assert sampling_temperature(det, 4) == 1.0          # several: drawn, or they would be identical
    assert sampling_temperature(det, 4, 0.3) == 0.3     # asked for explicitly
    assert sampling_temperature(models, 1) == 1.0       # a set naming none samples at 1


def test_stitching_is_continuous_at_window_seams():
    # Windows that disagree by a constant offset are cross-faded: no jump larger
    # than offset / (overlap + 1) anywhere, and exact where they agree.
    frames, window, hop = 260, 100, 50
    starts = window_starts(frames, window, hop)
    base = np.sin(np.arange(frames) / 10.0)[:, None]
    wins = np.stack([base[s:s + window] + 0.5 * (i % 2) for i, s in enumerate(starts)])
    out = stitch(wins, starts, frames)
    assert np.abs(np.diff(out[:, 0]) - np.diff(base[:, 0])).max() <= 0.5 / 51 + 1e-9
    agree = stitch(np.stack([base[s:s + window] for s in starts]), starts, frames)
    assert np.allclose(agree, base)
    assert (blend_weights(starts, window, frames) > 0).all()


def test_sequential_mode_continues_previous_window(models, take):
    seq = reconstruct(take, models, seed=2, mode="sequential")
    bat = reconstruct(take, models, seed=2, mode="batched")
    assert seq.rotations.shape == bat.rotations.shape
    assert seq.info["denoiser_calls"] == 8 * seq.info["windows"]
    # Continuity at the seams: the frame-to-frame change there is like anywhere else.
    q = seq.rotations
    step = 1.0 - np.abs((q[1:] * q[:-1]).sum(-1)).min(axis=1)
    seams = [s - 1 for s in window_starts(q.shape[0], 100, 50)[1:]]
    assert step[seams].max() <= max(step.max(), 1e-12)


@pytest.mark.parametrize("mode", ["batched", "sequential"])
def test_condition_encoded_once_per_window(models, mode):
    # The sensor streams are encoded once per window; only the denoiser runs at every step.
    rng = np.random.default_rng(0)
    cond = rng.normal(size=(700, 58)).astype(np.float32)
    enc_windows, den_windows = [], []

    def encode(c, m):
        enc_windows.append(c.shape[0])
        return models.run("pose_cond", cond=c, cond_mask=m)

    def denoise(x, t, mem):
        assert mem.shape[0] == x.shape[0]
        den_windows.append(x.shape[0])
        return models.run("pose", x_t=x, t=t, memory=mem)
    sampler = models.meta["sampler"]
    out, info = sample_take(denoise, encode, cond, np.ones(8, np.float32), 100, models.hop, sampler["timesteps"],
                            sampler["alphas_cumprod"], 135, mode=mode, max_batch=4,
                            offline_hop=models.offline_hop)
    hop = models.offline_hop if mode == "batched" else models.hop
    n = len(window_starts(700, 100, hop))
    assert out.shape == (700, 135) and info["windows"] == n
    assert sum(enc_windows) == n                          # every window encoded exactly once
    assert sum(den_windows) == n * len(sampler["timesteps"])
    assert len(den_windows) == info["denoiser_calls"] == len(sampler["timesteps"]) * len(enc_windows)


def test_progress_and_cancel(models, take):
    seen = []
    reconstruct(take, models, progress=lambda d, n: seen.append((d, n)))
    assert seen[-1][0] == seen[-1][1] == 8 and len(seen) == 8
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        reconstruct(take, models, cancel=cancel)


def test_calls_override_changes_the_schedule_only(models, take):
    a = reconstruct(take, models, seed=3)
    b = reconstruct(take, models, seed=3, calls=len(models.meta["sampler"]["timesteps"]))
    assert np.array_equal(a.rotations, b.rotations)          # same schedule as the metadata's
    c = reconstruct(take, models, seed=3, calls=4)
    assert c.info["denoiser_calls"] == 4 and not np.allclose(a.rotations, c.rotations)
    assert np.allclose(a.heading, c.heading)                # the root model does not depend on it
    with pytest.raises(ValueError):
        reconstruct(take, models, calls=11)


@pytest.mark.parametrize("baseline", ["mlp", "transformer"])
def test_baseline_regressor_through_the_same_runtime(models, take, baseline):
    a = reconstruct(take, models, pose_model=baseline, seed=1)
    b = reconstruct(take, models, pose_model=baseline, seed=2)
    d = reconstruct(take, models, seed=1)
    assert a.info["denoiser_calls"] == 0 and a.info["pose_model"] == baseline
    assert np.array_equal(a.rotations, b.rotations)             # a regressor: no noise, no seed
    assert a.rotations.shape == d.rotations.shape and not np.allclose(a.rotations, d.rotations)
    assert np.allclose(a.root_pos[:, :2], d.root_pos[:, :2])    # same root model
    with pytest.raises(ValueError, match="no pose model"):
        reconstruct(take, models, pose_model="pressure")


def test_guidance_uses_null_condition(models, take):
    a = reconstruct(take, models, seed=1, guidance=1.0)
    b = reconstruct(take, models, seed=1, guidance=2.0)
    assert b.info["denoiser_calls"] == 2 * a.info["denoiser_calls"]
    assert not np.allclose(a.rotations, b.rotations)


def test_imu_only_take_gets_estimated_pressure(models):
    n = 600
    t = np.arange(n) / 100.0
    acc = np.tile([0.0, 0.0, 1.0], (n, 1)) + 0.05 * np.sin(t)[:, None]
    gyro = 20 * np.sin(3 * t)[:, None] * np.ones((1, 3))
    feet = {s: FootStream(s, t, np.zeros((n, 0)), acc, gyro) for s in ("left", "right")}
    r = reconstruct(Take(feet), models)
    assert sorted(r.info["estimated_streams"]) == sorted(
        ["left_toes", "left_heel", "left_load", "right_toes", "right_heel", "right_load"])
    assert np.isfinite(r.rotations).all()


def test_short_take_single_padded_window(models):
    r = reconstruct(synthetic_walk(duration=2.0, seed=1), models)
    assert r.frames == 60 and r.info["windows"] == 1


def test_runtime_uses_the_orientation_filter_the_model_was_trained_with(tiny_model_set, take, tmp_path):
    import json
    import shutil
    src = tiny_model_set[0]
    shutil.copytree(src, tmp_path / "set")
    meta = json.loads((src / "model_set.json").read_text())
    meta["features"]["ahrs_backend"] = "complementary"
    (tmp_path / "set" / "model_set.json").write_text(json.dumps(meta))
    r = reconstruct(take, ModelSet(tmp_path / "set", intra_op_threads=1))
    assert r.info["ahrs_backend"] == "complementary" and r.info["warnings"] == []


def test_missing_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(TakeError, match="model_set.json"):
        ModelSet(tmp_path)


def test_a_model_set_with_an_impossible_temperature_is_a_clear_error(tiny_model_set, tmp_path):
    import json
    import shutil
    shutil.copytree(tiny_model_set[0], tmp_path / "set")
    meta = json.loads((tmp_path / "set" / "model_set.json").read_text())
    meta["sampler"]["temperature"] = -1
    (tmp_path / "set" / "model_set.json").write_text(json.dumps(meta))
    with pytest.raises(TakeError, match=r"model_set.json: sampler temperature must be 0\.\.2, not -1"):
        ModelSet(tmp_path / "set")


def test_sampling_a_schedule_trained_model_off_its_schedule_warns():
    from pathlib import Path
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import ModelSet, reconstruct
    root = Path(__file__).resolve().parents[2]
    models = ModelSet(root / "models" / "step2motion-best")
    assert models.meta["sampler"]["train_timesteps"] == "schedule"
    take = load_take(root / "step2motion_addon" / "samples" / "demo_walk.s2m")
    assert any("sampled here with 4 calls" in w for w in reconstruct(take, models, calls=4).info["warnings"])
    assert not any("sampler timesteps" in w for w in reconstruct(take, models).info["warnings"])


def test_translation_source_only_moves_the_root(models, take):
    a = reconstruct(take, models, seed=1, translation="model")
    b = reconstruct(take, models, seed=1, translation="fused")
    c = reconstruct(take, models, seed=1, translation="strides")
    d = reconstruct(take, models, seed=1, translation="strides_feet")
    assert [r.info["translation_source"] for r in (a, b, c, d)] == ["model", "fused", "strides", "strides_feet"]
    for r in (b, c, d):
        assert np.array_equal(a.rotations, r.rotations) and np.array_equal(a.root_pos[:, 2], r.root_pos[:, 2])
    assert not np.allclose(a.root_pos[:, :2], b.root_pos[:, :2])      # the walk's planted feet moved it
    assert not np.allclose(b.root_pos[:, :2], c.root_pos[:, :2])      # the insoles' own strides moved it
    assert not np.allclose(c.root_pos[:, :2], d.root_pos[:, :2])      # turned by where the feet point
    with pytest.raises(ValueError, match="translation"):
        reconstruct(take, models, translation="gps")


@pytest.mark.parametrize("pose_model", ["pose", "mlp"])
def test_mirror_average_makes_the_pose_of_a_mirrored_take_the_mirror_image(models, take, pose_model):
    # Averaging each estimate with its mirror image's, mirrored back, makes the pose model
    # exactly left/right symmetric (a random model is not): the mirrored take's pose is the
    # original's mirror image. The root joint (heading from the root model) is left out.
    import dataclasses
    from step2motion_addon.core.features import extract_features, mirror_values
    from step2motion_addon.core.motion.skeleton import MIRROR_INDEX
    feats = extract_features(take, **models.feature_options())
    mirrored = dataclasses.replace(feats, values=mirror_values(feats.values),
                                   stream_mask=mirror_values(feats.stream_mask), foot_yaw=-feats.foot_yaw[:, ::-1])

    def reflected(r):
        q = r.rotations[:, list(MIRROR_INDEX)] * np.array([1.0, 1.0, -1.0, -1.0])
        return np.where(np.sum(q * r.rotations, axis=-1, keepdims=True) < 0, -q, q)[:, 1:]

    calls = []
    runs = {m: [reconstruct(f, models, seed=3, mirror=m, pose_model=pose_model,
                            progress=lambda d, t: calls.append((d, t))) for f in (feats, mirrored)]
            for m in (False, True)}
    a, b = runs[True]
    assert a.info["mirror_average"] and not runs[False][0].info["mirror_average"]
    assert np.abs(b.rotations[:, 1:] - reflected(a)).max() < 1e-4
    assert np.abs(b.contact - a.contact[:, ::-1]).max() < 1e-5
    a0, b0 = runs[False]
    assert np.abs(b0.rotations[:, 1:] - reflected(a0)).max() > 1e-2          # without it, not symmetric
    if pose_model == "pose":
        # A short take: every denoiser call carries the take's and its mirror image's windows.
        assert a.info["denoiser_calls"] == a0.info["denoiser_calls"]
        assert calls[-1][0] == calls[-1][1] and max(d for d, _ in calls) == calls[-1][1]


def test_a_model_set_with_a_bad_mirror_average_is_a_clear_error(tiny_model_set, tmp_path):
    import json
    import shutil
    shutil.copytree(tiny_model_set[0], tmp_path / "set")
    meta = json.loads((tmp_path / "set" / "model_set.json").read_text())
    meta["mirror_average"] = "yes"
    (tmp_path / "set" / "model_set.json").write_text(json.dumps(meta))
    with pytest.raises(TakeError, match="mirror_average must be true or false, not 'yes'"):
        ModelSet(tmp_path / "set")
    meta["mirror_average"] = True
    (tmp_path / "set" / "model_set.json").write_text(json.dumps(meta))
    assert ModelSet(tmp_path / "set").mirror_average is True
