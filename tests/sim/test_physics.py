# SPDX-License-Identifier: GPL-3.0-or-later
"""Physics sanity checks of the insole simulator (each could fail on a wrong model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import procedural
from step2motion_addon.core import insole
from step2motion_addon.core.sim import SimParams, simulate_insoles

MASS = 70.0
BW = MASS * 9.80665


def ideal(**kw) -> SimParams:
    return SimParams(body_mass_kg=MASS, noise=0.0, pressure_gain_spread=0.0, **kw)


def test_standing_splits_body_weight_and_reads_gravity():
    take = simulate_insoles(procedural.standing(), ideal())
    assert take.meta.device == "simulated" and abs(take.rate - 100.0) < 1e-6
    mid = slice(50, -50)
    total = take.feet["left"].force[mid] + take.feet["right"].force[mid]
    assert np.allclose(total, BW, rtol=0.05)                      # quantisation only
    assert np.allclose(take.feet["left"].force[mid], BW / 2, rtol=0.08)
    for side, f in take.feet.items():
        cop = f.cop[mid]
        assert np.all((cop[:, 0] > -0.3) & (cop[:, 0] < 0.3)), side   # between heel and forefoot
        assert np.abs(f.gyro[mid]).max() < 0.5
        assert np.allclose(f.acc[mid].mean(0), [-0.17, 0.0, 0.98], atol=0.02)
        # Pressure follows the device: quantised, force and COP recomputed from the cells.
        assert np.allclose(f.pressure / insole.PRESSURE_STEP, np.round(f.pressure / insole.PRESSURE_STEP))
        force, cop2 = insole.force_and_cop(f.pressure, take.meta.insole_size)
        assert np.allclose(force, f.force, rtol=1e-4) and np.allclose(cop2, f.cop, atol=1e-5)
    assert not take.events or all(e.kind in ("heel_strike", "toe_off") for e in take.events)


def test_noise_and_bias_are_realistic_but_small():
    take = simulate_insoles(procedural.standing(), SimParams(body_mass_kg=MASS, seed=3))
    gyro = take.feet["right"].gyro[50:-50]
    assert 0.2 < gyro.std(0).max() < 5.0                          # noisy, not ideal, not absurd
    acc = take.feet["right"].acc[50:-50]
    assert np.allclose(acc.mean(0), [-0.17, 0.0, 0.98], atol=0.08)


def test_jump_has_no_force_in_flight_and_a_hard_landing():
    motion, (takeoff, landing) = procedural.jump(apex=0.3)
    take = simulate_insoles(motion, ideal())
    t = take.feet["left"].time
    total = take.feet["left"].force + take.feet["right"].force
    flight = (t > takeoff + 0.08) & (t < landing - 0.08)
    assert flight.sum() > 20
    assert total[flight].max() == 0.0
    after = (t > landing - 0.05) & (t < landing + 0.3)
    assert total[after].max() > 2.0 * BW
    before = t < 0.6
    assert np.allclose(total[before][10:], BW, rtol=0.06)
    kinds = [(e.side, e.kind) for e in take.events]
    assert ("left", "toe_off") in kinds and ("left", "heel_strike") in kinds


def test_shoe_drop_sets_the_accelerometer_pitch():
    take = simulate_insoles(procedural.standing(), ideal(shoe_drop_deg=0.0))
    assert np.allclose(take.feet["left"].acc[50:-50].mean(0), [0.0, 0.0, 1.0], atol=0.02)


def test_mirrored_motion_swaps_feet(shared_data):
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk_normal_001.bvh.gz"))
    a = simulate_insoles(motion, ideal(insole_size=5))
    b = simulate_insoles(motion.mirrored(), ideal(insole_size=5))
    for sa, sb in (("left", "right"), ("right", "left")):
        fa, fb = a.feet[sa], b.feet[sb]
        assert np.abs(fa.force - fb.force).max() < 1.0
        assert np.abs(fa.cop - fb.cop).max() < 1e-3               # insole coordinates are medial-positive on both
        assert np.abs(fa.acc - fb.acc).max() < 1e-3
        assert np.abs(fa.gyro - fb.gyro).max() < 0.05
    # Not trivially equal: the two feet of one take differ.
    assert np.abs(a.feet["left"].force - a.feet["right"].force).max() > 50.0


def test_walking_alternates_with_double_support(shared_data):
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    for clip in ("bandai/dataset-2_walk_normal_001", "cmu/007_01"):
        motion = motion_from_bvh(load_bvh(shared_data / "mocap" / (clip + ".bvh.gz")))
        take = simulate_insoles(motion, SimParams(body_mass_kg=MASS, seed=1))
        left = take.feet["left"].force > 0.05 * BW
        right = take.feet["right"].force > 0.05 * BW
        both, neither = left & right, ~left & ~right
        assert 0.08 < both.mean() < 0.45, clip                     # double support each step
        assert neither.mean() < 0.05, clip                          # walking: no flight
        assert 0.1 < (left & ~right).mean() and 0.1 < (right & ~left).mean(), clip
        heel = [e for e in take.events if e.kind == "heel_strike"]
        sides = [e.side for e in heel]
        alternations = sum(s1 != s2 for s1, s2 in zip(sides, sides[1:]))
        assert len(heel) >= 3 and alternations >= 0.8 * (len(sides) - 1), clip
        peak = max(take.feet["left"].force.max(), take.feet["right"].force.max())
        assert 0.95 * BW < peak < 1.6 * BW, clip
        gyro_y = take.feet["right"].gyro[:, 1]
        assert gyro_y.std() > 2 * take.feet["right"].gyro[:, 0].std()   # pitch dominates, as on the device


def test_walking_rolls_heel_to_toe_with_impacts(shared_data):
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk_normal_001.bvh.gz"))
    take = simulate_insoles(motion, ideal())
    areas = insole.cell_areas(take.meta.insole_size)
    for side, f in take.feet.items():
        load = f.pressure * areas
        loaded = f.force > 0.2 * BW
        toes = load[:, insole.CELL_X > 0.3].sum(1)
        assert np.all(toes[loaded] <= 0.62 * f.force[loaded]), side          # the toes never carry it all
        # COP progresses through each stance: heel early, midfoot, forefoot late.
        on = np.flatnonzero(np.diff((f.force > 0.05 * BW).astype(int)) == 1)
        off = np.flatnonzero(np.diff((f.force > 0.05 * BW).astype(int)) == -1)
        thirds = []
        for s in on:
            e = next((x for x in off if x > s + 30), None)
            if e is not None:
                k = e - s
                thirds.append([f.cop[s + int(q * k), 0] for q in (0.1, 0.5, 0.9)])
        assert thirds, side
        t = np.median(thirds, axis=0)
        assert t[0] < -0.25 and -0.2 < t[1] < 0.2 and t[2] > 0.2, (side, t)
        # Loaded stance leans on the lateral column (medial is +y on both feet): without the
        # simulator's roll the COP stays near the midline (median y ≈ −0.09 here).
        lateral = np.median(f.cop[f.force > 0.5 * BW, 1])
        assert -0.2 < lateral < -0.10, (side, lateral)
        # Heel strikes shake the insole: clear upward spikes above the 1 g of stance.
        assert np.percentile(f.acc[:, 2], 99.5) > 2.5, side


def test_gyro_bias_is_found_in_a_walk_without_a_still_moment(shared_data):
    """Mid-stance moments of a take that never stands still reveal most of the gyro's bias.

    Not all of it: a planted foot in mocap still pivots a little (≈2 dps of yaw
    in mid-stance on this walk, which curves), and that reads as bias. From the
    strides (``tilt_offset="strides"``) pitch and roll are within 1 dps too: the
    part of the yaw offset the mid-stances miss leaks into them a little.
    """
    from step2motion_addon.core.ahrs import gyro_bias
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk_normal_001.bvh.gz"))
    foot = simulate_insoles(motion, ideal()).feet["right"]
    moving = np.flatnonzero(np.linalg.norm(foot.gyro, axis=1) > 30.0)[0]   # cut the standing start
    acc, gyro = foot.acc[moving:].astype(np.float64), foot.gyro[moving:].astype(np.float64)
    bias = np.array([4.0, -4.0, 4.0])
    est = gyro_bias(acc, gyro + bias, 100.0)
    assert np.all(np.abs(est - bias) < 0.6 * np.abs(bias)), est    # zeros without the fallback
    assert np.abs(est[:2] - bias[:2]).max() < 0.6, est             # pitch and roll: nearly exact here
    est = gyro_bias(acc, gyro + bias, 100.0, tilt_offset="strides")
    assert np.abs(est[:2] - bias[:2]).max() < 1.0, est


def test_roll_and_pitch_offsets_are_not_read_from_a_rocking_planted_foot():
    """The demo walk (CMU subject 7): its planted feet rock by several deg/s in mid-stance, which
    the mid-stance median read as 4–10 dps of roll/pitch offset and the filter turned into 20–55°
    of tilt by the end of the 18 s take. The strides' return to the floor does not read it."""
    from step2motion_addon.core import ahrs
    from step2motion_addon.core.motion.motion_file import load_motion
    motion = load_motion(Path(__file__).resolve().parents[2] / "step2motion_addon" / "samples" / "demo_walk_motion.npz")
    truth: dict = {}
    take = simulate_insoles(motion, ideal(), truth=truth)
    bias = np.array([1.5, -2.0, 1.0])
    for side, f in take.feet.items():
        acc, gyro = f.acc.astype(np.float64), f.gyro.astype(np.float64) + bias
        # What the user gets: the filter's tilt against the simulator's true insole orientation
        # (measured: median 15 / 27° mean, 21 / 40° over the last 3 s; strides 3 / 7°, 3 / 11°).
        tilt = {}
        for mode in ("median", "strides"):
            up = ahrs.earth_up(ahrs.estimate_orientation(acc, gyro, 100.0, tilt_offset=mode)[0])
            tilt[mode] = np.degrees(np.arccos(np.clip((up * truth[side]["up"]).sum(axis=1), -1.0, 1.0)))
        assert tilt["median"][-300:].mean() > 15.0, side
        assert tilt["strides"].mean() < 10.0 and tilt["strides"][-300:].mean() < 0.5 * tilt["median"][-300:].mean()
        info = {}
        est = ahrs.gyro_bias(acc, gyro, 100.0, info, tilt_offset="strides")
        assert info["bias_source"] == "stance", side
        stance = ((np.abs(np.linalg.norm(acc, axis=1) - 1.0) < ahrs.STANCE_ACC_G)
                  & (np.linalg.norm(gyro, axis=1) < ahrs.STANCE_GYRO_DPS))
        median = np.median(gyro[stance], axis=0)
        assert np.abs(median[:2] - bias[:2]).max() > 3.0, (side, median)        # what the median reads
        assert np.array_equal(ahrs.gyro_bias(acc, gyro, 100.0), median)         # the default without a set
        # The right foot of this walk has few quiet mid-stances a stride apart: its estimate stays near
        # zero (no worse than not estimating); never the median's several dps in the wrong direction.
        assert np.abs(est[:2] - bias[:2]).max() <= np.abs(bias[:2]).max() + 0.1, (side, est)
        assert np.linalg.norm(est[:2] - bias[:2]) < 0.5 * np.linalg.norm(median[:2] - bias[:2]), side
    # With enough strides the offset is nearly exact (left foot: 0.5 dps per axis).
    f = take.feet["left"]
    est = ahrs.gyro_bias(f.acc.astype(np.float64), f.gyro.astype(np.float64) + bias, 100.0, tilt_offset="strides")
    assert np.abs(est[:2] - bias[:2]).max() < 0.6, est
    with pytest.raises(ValueError, match="tilt_offset"):
        ahrs.gyro_bias(f.acc.astype(np.float64), f.gyro.astype(np.float64), 100.0, tilt_offset="mean")


def test_cop_is_written_only_above_50_newtons_as_on_the_device(shared_data):
    """The OpenGo writes COP (0, 0) while a foot carries less than ≈50 N (all real walks)."""
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk_normal_001.bvh.gz"))
    take = simulate_insoles(motion, ideal())
    for side, f in take.feet.items():
        light = (f.force > 0) & (f.force < 50.0)
        assert light.sum() > 10, side                                      # every step passes through it
        assert np.all(f.cop[light] == 0.0), side
        _, cop = insole.force_and_cop(f.pressure, take.meta.insole_size)
        assert np.allclose(f.cop[f.force >= 50.0], cop[f.force >= 50.0], atol=1e-5), side


def test_landing_foot_loads_from_touch_down_and_rolls_off_gradually(shared_data):
    """Heel strike is a collision (no load on a foot still in the air, then a steep rise);
    toe-off a roll over the toes (the load fades over several samples)."""
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    motion = motion_from_bvh(load_bvh(shared_data / "mocap" / "bandai" / "dataset-2_walk_normal_001.bvh.gz"))
    take = simulate_insoles(motion, ideal())
    rise, fall = [], []
    for f in take.feet.values():
        on = np.flatnonzero((f.force[1:] > 0) & (f.force[:-1] == 0)) + 1
        off = np.flatnonzero((f.force[1:] == 0) & (f.force[:-1] > 0)) + 1
        rise += [f.force[i + 1] for i in on if i + 1 < len(f.force)]           # 2nd loaded sample
        fall += [f.force[i - 2] for i in off if i >= 2]                        # 2nd to last loaded sample
    assert len(rise) >= 6 and len(fall) >= 6
    assert 60.0 < np.median(rise) < 250.0, rise    # real OpenGo walks: 60–140 N one sample after touch-down
    assert np.median(fall) < 60.0, fall


@pytest.mark.parametrize("turn_deg", [90.0, -60.0])
def test_insoles_heading_follows_a_turn_on_the_spot(turn_deg):
    """Stand, turn on the spot (+ = left), stand: both insoles' headings read the turn.

    The simulator's gyros, the left insole's mirrored frame, the orientation filter
    and the heading read while flat must agree in sign and size; with ideal sensors
    the filter integrates the simulated rates exactly (session 11: within 0.3° over
    a 15 s walk from the true start).
    """
    from step2motion_addon.core.features import extract_features
    from step2motion_addon.core.motion import rotations as rot
    fps = 60.0
    motion = procedural.standing(7.0, fps)
    t = np.arange(motion.frames) / fps
    s = np.clip((t - 2.0) / 3.0, 0.0, 1.0)
    angle = np.radians(turn_deg) * 0.5 * (1.0 - np.cos(np.pi * s))   # smooth start and stop
    motion.rotations[:, 0] = rot.from_axis_angle(np.broadcast_to(np.array([0.0, 0, 1]), (motion.frames, 3)), angle)
    take = simulate_insoles(motion, ideal())
    f = extract_features(take, rate=30.0)
    assert set(f.gyro_bias_source.values()) == {"still"}
    for k in range(2):
        assert abs(np.degrees(f.foot_yaw[0, k])) < 0.5
        assert np.degrees(f.foot_yaw[-1, k]) == pytest.approx(turn_deg, abs=1.5), (k, np.degrees(f.foot_yaw[-1]))
