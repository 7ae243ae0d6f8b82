# SPDX-License-Identifier: GPL-3.0-or-later
"""Training on the simulator's shards: a 3-clip set built from real shared mocap, read back, trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from training import data, dataset, train  # noqa: E402
from step2motion_addon.core.features import FEATURE_DIM, extract_features  # noqa: E402
from step2motion_addon.core.inference.pose import POSE_DIM, ROOT_DIM  # noqa: E402

CLIPS = {"dataset-2_walk_normal_001.bvh.gz": "train", "dataset-2_walk_youthful_001.bvh.gz": "val",
         "dataset-2_walk_elderly_001.bvh.gz": "test"}


@pytest.fixture(scope="module")
def shards(shared_data, tmp_path_factory):
    src = shared_data / "mocap" / "bandai"
    if not all((src / n).is_file() for n in CLIPS):
        pytest.skip("Bandai walking clips absent from shared data")
    mocap = tmp_path_factory.mktemp("mocap")
    (mocap / "bandai").mkdir()
    for name in CLIPS:
        (mocap / "bandai" / name).symlink_to(src / name)
    out = tmp_path_factory.mktemp("shards")
    manifest = dataset.build(mocap, out)
    assert {c["split"] for c in manifest["clips"]} == {"train", "val", "test"}
    return out


def test_clips_read_back_as_take_and_motion(shards):
    got = {e["split"]: (take, motion, e) for split in ("train", "val", "test")
           for take, motion, e in data.iter_clips(shards, split)}
    assert set(got) == {"train", "val", "test"}
    take, motion, e = got["train"]
    assert len(take.feet["left"]) == e["frames_100hz"] and motion.frames == e["frames_30hz"]
    assert take.meta.body_mass_kg == pytest.approx(e["body_mass_kg"])
    # The stored pressures (0.25 N/cm² steps) still carry the body weight while standing/walking.
    total = (take.feet["left"].force + take.feet["right"].force).mean()
    assert 0.6 < total / (e["body_mass_kg"] * 9.81) < 1.4
    assert np.allclose(np.linalg.norm(motion.rotations, axis=-1), 1.0, atol=2e-3)
    assert extract_features(take).stream_mask.all()


def test_load_split_caches_and_matches(shards, tmp_path):
    a = data.load_split(shards, "train", cache_dir=tmp_path, log=lambda s: None)
    assert len(list(tmp_path.glob("clips_train_*.npz"))) == 1
    b = data.load_split(shards, "train", cache_dir=tmp_path, log=lambda s: None)
    assert len(a) == len(b) == 1
    for k in ("features", "pose", "root", "offsets"):
        assert np.array_equal(a[0][k], b[0][k]), k
    c = a[0]
    assert c["features"].shape[1] == FEATURE_DIM and c["pose"].shape[1] == POSE_DIM
    assert c["root"].shape == (len(c["pose"]), ROOT_DIM) and len(c["features"]) == len(c["pose"])
    assert c["source"].startswith("bandai/")
    src = data.sources(shards)
    assert src[0]["name"] == "bandai" and "non-commercial" in src[0]["licence"]


def test_train_command_on_shards(shards, tmp_path, tiny_cfg):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(tiny_cfg))
    run = tmp_path / "run"
    assert train.main(["--config", str(cfg_path), "--model", "root", "--data", str(shards),
                       "--out", str(run), "--steps", "6", "--cache", str(tmp_path / "cache")]) == 0
    m = json.loads((run / "metrics_root.json").read_text())
    assert m["steps"] == 6 and m["train_clips"] == 1 and m["val_clips"] == 1
    assert json.loads((run / "sources.json").read_text())[0]["name"] == "bandai"
    assert np.array(json.loads((run / "offsets.json").read_text())).shape == (22, 3)


def test_evaluate_command_on_shards(shards, tiny_model_set, tmp_path):
    from training import evaluate
    out = tmp_path / "metrics.json"
    assert evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "val",
                          "--calls", "4", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    pooled, clip = res["pooled"], res["clips"][0]
    assert pooled["clips"] == 1 and pooled["calls"] == 4 and pooled["split"] == "val"
    for k in ("mpjpe_m", "end_effector_m", "legs_mpjpe_m", "legs_mpjve_mps", "root_error_m"):
        assert np.isfinite(pooled[k]) and pooled[k] >= 0, k
    assert 0.01 < pooled["mpjpe_m"] < 2.0          # random weights: wrong, but on a human scale
    # The heading-free comparison is exact for the truth itself.
    _, motion, _ = next(data.iter_clips(shards, "val"))
    from step2motion_addon.core.inference.pose import heading
    from step2motion_addon.core.motion.skeleton import Motion
    from step2motion_addon.core.motion import rotations as rot
    true = rot.normalize(motion.rotations)
    psi = np.unwrap(heading(true[:, 0]))
    q = evaluate.heading_free(true, psi)
    assert np.allclose(heading(q[:, 0]), 0.0, atol=1e-6)
    fk = Motion(30.0, motion.offsets, q, np.zeros((motion.frames, 3))).fk()
    assert evaluate.pose_metrics(fk, fk, 30.0)["mpjpe_m"] == 0.0
    assert clip["frames"] == pooled["frames"]


def test_force_and_cop_recomputed_when_a_shard_omits_them(shards):
    class Arrays(dict):
        @property
        def files(self):
            return list(self)
    manifest = data.load_manifest(shards)
    e = manifest["clips"][0]
    with np.load(shards / e["shard"], allow_pickle=False) as z:
        full = Arrays({k: z[k] for k in z.files if k.startswith(e["key"] + "_")})
    stored, _ = data.clip_from_arrays(full, e["key"], e)
    slim = Arrays({k: v for k, v in full.items() if not k.endswith(("_force", "_cop"))})
    derived, _ = data.clip_from_arrays(slim, e["key"], e)
    for side in ("left", "right"):
        a, b = stored.feet[side], derived.feet[side]
        assert np.allclose(a.force, b.force, rtol=2e-3, atol=0.5)      # stored as float16
        assert np.allclose(a.cop, b.cop, atol=2e-3)


def test_evaluate_reports_skating_jitter_categories_and_ablations(shards, tiny_model_set, tmp_path):
    from training import evaluate
    out = tmp_path / "m.json"
    assert evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "val",
                          "--calls", "2", "--json", str(out)]) == 0
    full = json.loads(out.read_text())
    for k in ("jitter_mps3", "true_jitter_mps3", "foot_skate_mps", "root_drift_pct", "root_drift_aligned_pct"):
        assert k in full["pooled"], k
    assert full["pooled"]["true_jitter_mps3"] > 0
    assert set(full["categories"]) == {full["clips"][0]["category"]}
    # Without the pressure streams the pose model sees different inputs: the result must change.
    assert evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "val",
                          "--calls", "2", "--drop", "pressure", "--json", str(out)]) == 0
    ablated = json.loads(out.read_text())["pooled"]
    assert ablated["drop"] == "pressure"
    assert ablated["mpjpe_m"] != full["pooled"]["mpjpe_m"]


def test_drop_streams_masks_only_the_named_modality():
    from training.evaluate import drop_streams
    from step2motion_addon.core.features import STREAMS
    from step2motion_addon.core.synthetic import synthetic_walk
    feats = extract_features(synthetic_walk(duration=4.0), rate=30.0)
    names = [n for n, _ in STREAMS]
    no_p = drop_streams(feats, "pressure")
    assert [no_p.stream_mask[names.index(n)] for n in names] == [n.endswith("_imu") for n in names]
    no_i = drop_streams(feats, "imu")
    assert [no_i.stream_mask[names.index(n)] for n in names] == [not n.endswith("_imu") for n in names]
    assert np.array_equal(no_i.values[:, :16], feats.values[:, :16])


def test_skating_and_jitter_measure_what_they_say():
    from training.evaluate import foot_skating, jitter
    t = np.arange(60) / 30.0
    world = np.zeros((60, 22, 3))
    world[:, :, 0] = 0.5 * t[:, None]                 # everything slides at 0.5 m/s
    contact = np.ones((60, 2))
    assert abs(foot_skating(world, contact, 30.0) - 0.5) < 1e-9
    assert np.isnan(foot_skating(world, np.zeros((60, 2)), 30.0))
    assert jitter(world, 30.0) < 1e-6                 # constant velocity: no jerk
    noisy = world + np.random.default_rng(0).normal(0, 0.01, world.shape)
    assert jitter(noisy, 30.0) > 100.0


def test_root_drift_and_its_aligned_diagnostic():
    from training.evaluate import root_metrics
    n = 301
    true = np.zeros((n, 3))
    true[:, 1] = -np.linspace(0.0, 10.0, n)            # 10 m straight ahead (facing −Y)
    assert root_metrics(true, true)["root_drift_pct"] == 0.0
    # The whole path turned by 3° about its start: a start askew, no wander.
    a = np.radians(3.0)
    askew = true.copy()
    askew[:, 0], askew[:, 1] = -np.sin(a) * true[:, 1], np.cos(a) * true[:, 1]
    m = root_metrics(askew, true)
    assert abs(m["root_drift_pct"] - 100 * 2 * np.sin(a / 2)) < 1e-6      # 1° ≈ 1.75 % of the distance
    assert m["root_aligned_final_error_m"] < 1e-9
    # A heading that wanders as the take goes on (an arc turning 6° by the end): aligning
    # the first 2 m removes only the little turn there, the drift stays.
    turn = np.radians(6.0) * np.linspace(0.0, 1.0, n)
    step = np.diff(true[:, 1])
    arc = np.zeros((n, 3))
    arc[1:, 0] = np.cumsum(-np.sin(turn[1:]) * step)
    arc[1:, 1] = np.cumsum(np.cos(turn[1:]) * step)
    m = root_metrics(arc, true)
    assert m["root_drift_pct"] > 4.0
    assert m["root_aligned_final_error_m"] > 0.6 * m["root_final_error_m"]

def test_pressure_metrics_on_a_real_recording(moticon_files, tiny_model_set):
    from training.evaluate import pressure_metrics
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import ModelSet
    res = pressure_metrics(load_take(moticon_files[0]), ModelSet(tiny_model_set[0]))
    for side in ("left", "right", "pooled"):
        assert -1.0 <= res[side]["force_corr"] <= 1.0
        assert 0.0 <= res[side]["stance_f1"] <= 1.0
    assert res["pooled"]["seconds"] > 5.0


def test_still_start_protocol_pins_the_gyro_offset(shards, shared_data, tiny_model_set, tmp_path):
    """--still-start: the same clip simulated again after a standing second; pose metrics skip it."""
    from step2motion_addon.core.features import extract_features
    from training import evaluate
    take0, motion0, _ = next(data.iter_clips(shards, "val"))
    take1, motion1, e = next(evaluate._resimulated_clips(shards, "val", None, shared_data / "mocap", 1.0))
    assert e["still_frames"] == 30 and motion1.frames - motion0.frames in (29, 30, 31)
    assert np.allclose(motion1.rotations[:30], motion1.rotations[0])
    # The shard's clip starts mid-stride: no still moment; the held start gives one to both insoles.
    assert set(extract_features(take0).gyro_bias_source.values()) != {"still"}
    assert extract_features(take1).gyro_bias_source == {"left": "still", "right": "still"}
    out = tmp_path / "still.json"
    assert evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "val", "--calls", "2",
                          "--still-start", "1", "--mocap-root", str(shared_data / "mocap"), "--json", str(out)]) == 0
    pooled = json.loads(out.read_text())["pooled"]
    assert pooled["still_start_s"] == 1.0 and abs(pooled["frames"] - motion0.frames) <= 1
    with pytest.raises(SystemExit, match="needs the source clips"):
        evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "val",
                       "--still-start", "1", "--mocap-root", str(tmp_path)])


def _colour_pixels(png, hex_colour: str, tol: float = 0.06) -> int:
    import matplotlib.image as mpimg
    img = mpimg.imread(str(png))[..., :3]
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img - rgb).max(axis=-1) < tol).sum())


def test_model_figures_drawn_from_the_test_split(shards, tiny_model_set, tmp_path):
    """tools/plot_model_figures.py: bars per category, the median clip's path and its knee, all drawn."""
    import importlib.util
    from training import evaluate
    path = Path(__file__).resolve().parents[2] / "tools" / "plot_model_figures.py"
    spec = importlib.util.spec_from_file_location("plot_model_figures", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    files = []
    for kind in ("pose", "mlp"):
        files.append(tmp_path / f"{kind}.json")
        assert evaluate.main(["--models", str(tiny_model_set[0]), "--data", str(shards), "--split", "test",
                              "--calls", "2", "--pose-model", kind, "--json", str(files[-1])]) == 0
    clip = json.loads(files[0].read_text())["clips"][0]
    assert tool.median_clips(json.loads(files[0].read_text())) == {clip["category"]: clip["clip"]}
    out = tmp_path / "img"
    assert tool.main(["--data", str(shards), "--models", str(tiny_model_set[0]), "--out", str(out),
                      "--eval", *map(str, files)]) == 0
    c = tool.COLOURS
    bars = out / "models_categories.png"
    assert _colour_pixels(bars, c["pose"]) > 500 and _colour_pixels(bars, c["mlp"]) > 500
    assert _colour_pixels(bars, c["transformer"]) == 0          # no Transformer file given: no bars for it
    for name in ("models_paths.png", "models_knee.png"):
        assert _colour_pixels(out / name, c["truth"]) > 100 and _colour_pixels(out / name, c["pose"]) > 100, name
    assert _colour_pixels(out / "models_knee.png", c["mlp"]) > 100
    with pytest.raises(SystemExit, match="pose diffusion"):
        tool.main(["--data", str(shards), "--out", str(out), "--eval", str(files[1])])
