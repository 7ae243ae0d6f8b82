# SPDX-License-Identifier: GPL-3.0-or-later
"""Feature pipeline: layout, units, orientation from the insole's own IMU, real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from step2motion_addon.core import ahrs
from step2motion_addon.core.features import (FEATURE_DIM, STREAMS, Normaliser, estimate_body_mass,
                                             extract_features, feature_names, stream_slices)
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import FootStream, Take


def test_layout_is_eight_streams_in_published_order():
    assert [n for n, _ in STREAMS] == ["left_toes", "left_heel", "left_imu", "left_load",
                                       "right_toes", "right_heel", "right_imu", "right_load"]
    assert FEATURE_DIM == 58 == len(feature_names())
    sl = stream_slices()
    assert feature_names()[sl["left_toes"]][0] == "left_p09"      # toes = cells 9–16
    assert feature_names()[sl["right_heel"]][-1] == "right_p08"   # heel = cells 1–8


def test_walk_features_rate_units_and_mask():
    take = synthetic_walk(duration=10.0, rate=100.0, body_mass_kg=80.0, seed=2)
    f = extract_features(take)
    assert f.rate == 30.0 and f.frames == int(take.duration * 30.0 + 1e-6) + 1 == 300
    assert f.values.shape == (300, FEATURE_DIM) and f.time[-1] <= take.duration
    assert f.stream_mask.all() and np.isfinite(f.values).all()
    sl = stream_slices()
    # Force in body weights: left + right averages ≈ 1 over a walk (insole under-reads allowed).
    total = f.values[:, sl["left_load"]][:, 0] + f.values[:, sl["right_load"]][:, 0]
    assert 0.8 < total.mean() < 1.1
    # Cells sum to the foot's force (same unit, resampled the same way).
    cells = f.values[:, sl["left_toes"]].sum(1) + f.values[:, sl["left_heel"]].sum(1)
    assert np.allclose(cells, f.values[:, sl["left_load"]][:, 0], atol=0.02)
    # 'up' in the insole frame is a unit vector; heading starts at 0.
    up = f.values[:, sl["left_imu"]][:, 6:9]
    assert np.allclose(np.linalg.norm(up, axis=1), 1.0, atol=0.02)
    assert abs(f.foot_yaw[0, 0]) < 1e-3


def test_body_mass_from_forces():
    take = synthetic_walk(duration=20.0, body_mass_kg=90.0, seed=0)
    assert estimate_body_mass(take) == pytest.approx(90.0, rel=0.15)
    take.meta.body_mass_kg = None
    assert extract_features(take).body_mass_source == "estimated"


def test_imu_only_foot_masks_pressure_streams():
    n = 300
    t = np.arange(n) / 100.0
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    feet = {s: FootStream(s, t, np.zeros((n, 0)), acc, np.zeros((n, 3))) for s in ("left", "right")}
    f = extract_features(Take(feet))
    mask = dict(zip([n for n, _ in STREAMS], f.stream_mask))
    assert mask["left_imu"] and mask["right_imu"]
    assert not mask["left_toes"] and not mask["right_load"]


def _rotating_imu(rate=100.0, seconds=20.0, seed=0):
    """IMU signals of a known orientation trajectory (tilting ±30°, turning), with gyro bias."""
    rng = np.random.default_rng(seed)
    t = np.maximum(np.arange(int(seconds * rate)) / rate - 1.0, 0.0)    # still for the first second
    roll = 0.5 * np.sin(2 * np.pi * 0.7 * t)
    pitch = 0.4 * np.sin(2 * np.pi * 0.45 * t + 1.0)
    yaw = 0.8 * t
    q = np.stack([np.cos(yaw / 2), 0 * t, 0 * t, np.sin(yaw / 2)], -1)
    def mul(a, b):
        w1, x1, y1, z1 = a.T; w2, x2, y2, z2 = b.T
        return np.stack([w1*w2-x1*x2-y1*y2-z1*z2, w1*x2+x1*w2+y1*z2-z1*y2,
                         w1*y2-x1*z2+y1*w2+z1*x2, w1*z2+x1*y2-y1*x2+z1*w2], -1)
    q = mul(q, np.stack([np.cos(pitch / 2), 0 * t, np.sin(pitch / 2), 0 * t], -1))
    q = mul(q, np.stack([np.cos(roll / 2), np.sin(roll / 2), 0 * t, 0 * t], -1))
    r = ahrs.quat_to_matrix(q)
    # Body angular velocity from consecutive orientations: R_k^T R_{k+1} ≈ I + [ω]× dt.
    d = np.einsum("nji,njk->nik", r[:-1], r[1:])
    w = np.stack([d[:, 2, 1] - d[:, 1, 2], d[:, 0, 2] - d[:, 2, 0], d[:, 1, 0] - d[:, 0, 1]], -1) / 2 * rate
    gyro = np.degrees(np.vstack([w, w[-1:]])) + np.array([2.0, -3.0, 2.5])      # Moticon-like bias
    acc = r[:, 2, :] + rng.normal(0, 0.01, (len(t), 3))                          # gravity only
    return acc, gyro, r, rate


@pytest.mark.parametrize("backend", ["complementary", "imufusion"])
def test_orientation_tracks_known_tilt(backend):
    if backend == "imufusion" and not ahrs.has_imufusion():
        pytest.skip("imufusion not installed")
    acc, gyro, r_true, rate = _rotating_imu()
    q, used = ahrs.estimate_orientation(acc, gyro, rate, backend)
    assert used == backend
    up = ahrs.quat_to_matrix(q)[:, 2, :]
    err = np.degrees(np.arccos(np.clip((up * r_true[:, 2, :]).sum(1), -1, 1)))
    assert np.percentile(err, 95) < 3.0
    assert abs(ahrs.yaw_of(q[0])) < 1e-9            # heading relative to the start


def test_normaliser_round_trip():
    x = np.random.default_rng(0).normal(3, 2, (500, 4)).astype(np.float32)
    n = Normaliser.fit([x[:200], x[200:]])
    assert np.allclose(n.apply(x).mean(0), 0, atol=1e-5)
    assert np.allclose(Normaliser.from_dict(n.to_dict()).invert(n.apply(x)), x, atol=1e-4)


def test_real_moticon_gravity_at_rest(moticon_files):
    formats = pytest.importorskip("step2motion_addon.core.formats")
    for path in moticon_files:
        take = formats.load_take(path)
        f = extract_features(take)
        sl = stream_slices()
        for side in take.sides:
            foot = take.feet[side]
            if not foot.has_imu:
                continue
            imu = f.values[:, sl[f"{side}_imu"]]
            acc, up = imu[:, 0:3], imu[:, 6:9]
            an = np.linalg.norm(acc, axis=1)
            still = (np.linalg.norm(imu[:, 3:6], axis=1) < 10) & (np.abs(an - 1) < 0.03)
            if still.sum() < 5:
                continue
            ang = np.degrees(np.arccos(np.clip((up[still] * acc[still]).sum(1) / an[still], -1, 1)))
            assert np.median(ang) < 3.0, (path.name, side)


def test_mirror_image_reads_as_the_feet_swapped(shared_data):
    """features.mirror_values / pose.mirror_pose / mirror_root equal simulating and reading the mirrored motion."""
    from step2motion_addon.core.features import extract_features, mirror_values
    from step2motion_addon.core.inference.pose import mirror_pose, mirror_root, pose_from_motion, root_from_motion
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    from step2motion_addon.core.sim import SimParams, simulate_insoles
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk-turn-left_normal_001.bvh.gz"))
    params = SimParams(body_mass_kg=70.0, insole_size=5, noise=0.0, pressure_gain_spread=0.0)
    a = extract_features(simulate_insoles(motion, params), tilt_offset="strides")
    b = extract_features(simulate_insoles(motion.mirrored(), params), tilt_offset="strides")
    n = min(a.frames, b.frames)
    scale = np.abs(a.values[:n]).max(axis=0) + 1e-6
    assert (np.abs(mirror_values(a.values[:n]) - b.values[:n]) / scale).max() < 1e-3
    assert np.array_equal(mirror_values(a.stream_mask), b.stream_mask)
    assert np.abs(a.foot_yaw[:n, ::-1] + b.foot_yaw[:n]).max() < 1e-3      # a left turn becomes a right turn
    # Not trivially equal: the feet of one take differ, and the take turns.
    assert (np.abs(a.values[:n] - b.values[:n]) / scale).max() > 0.3
    assert abs(a.foot_yaw[n - 1].mean()) > 1.0
    m = motion.resampled(30.0)
    assert np.abs(mirror_pose(pose_from_motion(m)) - pose_from_motion(m.mirrored())).max() < 1e-5
    assert np.abs(mirror_root(root_from_motion(m)) - root_from_motion(m.mirrored())).max() < 1e-6
    pose = pose_from_motion(m)
    assert np.array_equal(mirror_pose(mirror_pose(pose)), pose)
    with pytest.raises(ValueError, match="57"):
        mirror_values(np.zeros((3, 57)))


@pytest.mark.parametrize("samples", [1, 2, 7, 64, 115])
def test_ordered_product_is_the_samples_multiplied_in_order(samples):
    # The stride fit's gyro integral, in pairwise rounds instead of sample by sample.
    from step2motion_addon.core.motion import rotations as rot
    q = np.random.default_rng(samples).normal(size=(5, samples, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    seq = np.tile([1.0, 0.0, 0.0, 0.0], (5, 1))
    for t in range(samples):
        seq = rot.mul(seq, q[:, t])
    assert np.abs(ahrs.ordered_product(q) - seq).max() < 1e-12
    swapped = q.copy()
    swapped[:, [0, -1]] = q[:, [-1, 0]]
    if samples > 1:                                    # order matters: not a sum
        assert np.abs(ahrs.ordered_product(swapped) - seq).max() > 1e-3
