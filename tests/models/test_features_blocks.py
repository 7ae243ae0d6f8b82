# SPDX-License-Identifier: GPL-3.0-or-later
"""extract_features column by column (and without (n, 3, 3) matrices) equals the whole-array code.

The reference below is extract_features as it was before the memory work (whole-foot
float64 arrays, quat_to_matrix for 'up', the yaw rate and the flat heading, one astype at
the end), kept verbatim so the bounded-memory version is checked against it on takes
that exercise every branch: two feet, gaps, force from the cells, no IMU, no pressure.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from step2motion_addon.core import ahrs, features
from step2motion_addon.core.features import (FEATURE_DIM, GRAVITY, STREAMS, _fill, _foot_force,
                                             estimate_body_mass, extract_features, stream_slices)
from step2motion_addon.core.insole import HEEL_CELLS, TOE_CELLS, cell_areas
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import SIDES, FootStream, Take

RTOL, ATOL = 1e-5, 1e-6


def reference_resample(time, values, grid, native_rate, rate):
    k = int(round(native_rate / rate)) if native_rate > rate else 1
    v = values
    if k > 1:
        kernel = np.ones(k) / k
        pad = np.pad(v, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
        v = np.stack([np.convolve(pad[:, c], kernel, mode="valid") for c in range(v.shape[1])], axis=1)
    return np.stack([np.interp(grid, time, v[:, c]) for c in range(v.shape[1])], axis=1)


def reference_flat_heading(q, max_tilt_deg=30.0):
    m = ahrs.quat_to_matrix(q)
    yaw = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    flat = np.flatnonzero(m[..., 2, 2] > math.cos(math.radians(max_tilt_deg)))
    if flat.size < 2:
        return np.unwrap(yaw)
    anchored = np.unwrap(yaw[flat])
    return np.interp(np.arange(q.shape[0]), flat, anchored)


def reference_extract_features(take, rate=30.0, body_mass_kg=None, ahrs_backend="auto"):
    start, end = take.start, take.end
    n_frames = int(np.floor((end - start) * rate + 1e-6)) + 1
    grid = start + np.arange(n_frames) / rate
    if body_mass_kg is None:
        if take.meta.body_mass_kg:
            body_mass_kg = float(take.meta.body_mass_kg)
        else:
            body_mass_kg = estimate_body_mass(take) or 70.0
    weight = body_mass_kg * GRAVITY
    areas = cell_areas(take.meta.insole_size)
    sl = stream_slices()
    values = np.zeros((n_frames, FEATURE_DIM), dtype=np.float64)
    mask = np.zeros(len(STREAMS), dtype=bool)
    foot_yaw = np.zeros((n_frames, 2))
    names = [n for n, _ in STREAMS]
    for si, side in enumerate(SIDES):
        foot = take.feet.get(side)
        if foot is None or len(foot) < 2:
            continue
        t = foot.time
        native = foot.rate or rate
        if foot.cells == 16:
            p = _fill(t, foot.pressure, foot.valid) * areas / weight
            r = reference_resample(t, p, grid, native, rate)
            values[:, sl[f"{side}_toes"]] = r[:, list(TOE_CELLS)]
            values[:, sl[f"{side}_heel"]] = r[:, list(HEEL_CELLS)]
            mask[names.index(f"{side}_toes")] = mask[names.index(f"{side}_heel")] = True
        force = _foot_force(foot, take.meta.insole_size)
        if force is not None:
            f = _fill(t, force, foot.valid) / weight
            cop = _fill(t, foot.cop, foot.valid) if foot.cop is not None else np.zeros((len(t), 2))
            values[:, sl[f"{side}_load"]] = reference_resample(t, np.concatenate([f, cop], axis=1), grid,
                                                               native, rate)
            mask[names.index(f"{side}_load")] = True
        if foot.has_imu:
            acc = _fill(t, foot.acc, foot.valid)
            gyro = _fill(t, foot.gyro, foot.valid)
            q, _ = ahrs.estimate_orientation(acc, gyro, native, ahrs_backend)
            rot = ahrs.quat_to_matrix(q)
            up = rot[:, 2, :]
            yaw_rate = np.einsum("nj,nj->n", rot[:, 2, :], gyro)
            yaw = reference_flat_heading(q)
            imu = np.concatenate([acc, gyro, up, yaw_rate[:, None], yaw[:, None]], axis=1)
            r = reference_resample(t, imu, grid, native, rate)
            values[:, sl[f"{side}_imu"]] = r[:, :10]
            foot_yaw[:, si] = -r[:, 10] if side == "left" else r[:, 10]
            mask[names.index(f"{side}_imu")] = True
    return values.astype(np.float32), mask, foot_yaw


def _with_gaps(take):
    # Dropped samples (NaN, valid False) on both feet, one long gap and scattered ones.
    rng = np.random.default_rng(1)
    for k, foot in enumerate(take.feet.values()):
        bad = np.zeros(len(foot), dtype=bool)
        bad[300 + 50 * k:420 + 50 * k] = True
        bad[rng.choice(len(foot), 40, replace=False)] = True
        foot.valid[bad] = False
        for name in ("pressure", "acc", "gyro", "force", "cop"):
            a = getattr(foot, name)
            if a is not None:
                a[bad] = np.nan
    return take


def _variants():
    walk = synthetic_walk(duration=25.0, seed=5)
    yield "walk", walk
    yield "gaps", _with_gaps(synthetic_walk(duration=25.0, seed=6))
    no_force = synthetic_walk(duration=12.0, seed=7, body_mass_kg=82.0)
    for foot in no_force.feet.values():
        foot.force = None                       # force from the cells, no COP
        foot.cop = None
    no_force.meta.body_mass_kg = None           # estimated from the cells' force
    yield "force_from_cells", no_force
    left = synthetic_walk(duration=12.0, seed=8)
    f = left.feet["right"]
    yield "right_without_imu_left_only_pressure", Take({
        "left": FootStream("left", left.feet["left"].time, left.feet["left"].pressure),
        "right": FootStream("right", f.time, f.pressure, force=f.force, cop=f.cop)}, left.meta)
    n = 700
    t = np.arange(n) / 100.0
    rng = np.random.default_rng(2)
    acc = np.tile([0.0, 0.0, 1.0], (n, 1)) + 0.05 * rng.normal(size=(n, 3))
    gyro = 20.0 * rng.normal(size=(n, 3))
    yield "imu_only_one_foot", Take({"left": FootStream("left", t, np.zeros((n, 0)), acc, gyro)})
    yield "60hz", synthetic_walk(duration=10.0, rate=60.0, seed=9)


@pytest.mark.parametrize("name,take", list(_variants()), ids=lambda v: v if isinstance(v, str) else "")
def test_extract_features_equals_whole_array_reference(name, take):
    new = extract_features(take, ahrs_backend="complementary")
    values, mask, foot_yaw = reference_extract_features(take, ahrs_backend="complementary")
    assert new.values.dtype == np.float32 and new.values.shape == values.shape
    assert np.array_equal(new.stream_mask, mask)
    np.testing.assert_allclose(new.values, values, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(new.foot_yaw, foot_yaw, rtol=RTOL, atol=ATOL)


def test_fusion_backend_equals_reference():
    # The shipped model set was trained with Fusion: same check through that filter.
    if not ahrs.has_imufusion():
        pytest.skip("imufusion not installed")
    take = _with_gaps(synthetic_walk(duration=20.0, seed=10))
    new = extract_features(take, ahrs_backend="imufusion")
    values, mask, foot_yaw = reference_extract_features(take, ahrs_backend="imufusion")
    assert new.ahrs_backend == "imufusion" and np.array_equal(new.stream_mask, mask)
    np.testing.assert_allclose(new.values, values, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(new.foot_yaw, foot_yaw, rtol=RTOL, atol=ATOL)


def test_matrix_free_helpers_equal_the_matrix():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(5000, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_allclose(ahrs.earth_up(q), ahrs.quat_to_matrix(q)[:, 2, :], rtol=0, atol=1e-15)
    np.testing.assert_allclose(ahrs.flat_heading(q), reference_flat_heading(q), rtol=1e-12, atol=1e-12)
    take = synthetic_walk(duration=20.0, seed=2)
    foot = take.feet["left"]
    q, _ = ahrs.estimate_orientation(foot.acc, foot.gyro, foot.rate, "complementary")
    np.testing.assert_allclose(ahrs.flat_heading(q), reference_flat_heading(q), rtol=1e-12, atol=1e-12)


def test_gyro_bias_does_not_depend_on_its_block(monkeypatch):
    take = synthetic_walk(duration=30.0, seed=3)
    foot = take.feet["right"]
    acc, gyro = foot.acc.astype(np.float64), foot.gyro.astype(np.float64) + [1.5, -2.0, 0.7]
    whole = ahrs.gyro_bias(acc, gyro, foot.rate)
    monkeypatch.setattr(ahrs, "BIAS_BLOCK", 37)
    assert np.array_equal(ahrs.gyro_bias(acc, gyro, foot.rate), whole)
    assert np.abs(whole - [1.5, -2.0, 0.7]).max() < 0.5


def test_resample_column_is_resample():
    rng = np.random.default_rng(4)
    t = np.arange(900) / 100.0
    v = rng.normal(size=(900, 5))
    grid = np.arange(0, 9.0, 1 / 30.0)
    cols = np.stack([features._resample_column(t, v[:, c], grid, 100.0, 30.0) for c in range(5)], axis=1)
    assert np.array_equal(cols, reference_resample(t, v, grid, 100.0, 30.0))
