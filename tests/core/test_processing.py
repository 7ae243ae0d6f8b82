# SPDX-License-Identifier: GPL-3.0-or-later
"""Processing steps return new takes, respect the valid mask and report what they changed."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core import insole, processing
from step2motion_addon.core.formats import load_take
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import FootStream, Take

ROOT = Path(__file__).resolve().parents[2]


def _stream(t, valid=None):
    return FootStream("left", t, np.outer(t * 100, np.ones(16)), force=t * 100, valid=valid)


def test_resample_linear_and_never_across_invalid_spans():
    t = np.arange(0, 1.0, 0.01)
    valid = np.ones(t.size, bool)
    valid[40:60] = False                              # a 0.2 s invalid span
    take = Take({"left": _stream(t, valid)})
    out = processing.resample(take, 200.0)
    f = out.feet["left"]
    assert f.time.size == 199 and np.allclose(np.diff(f.time), 0.005)
    ok = f.valid
    assert np.allclose(f.force[ok], f.time[ok] * 100, atol=1e-3)
    assert not ok[(f.time > 0.395) & (f.time < 0.6)].any()
    assert np.isnan(f.force[~ok]).all()
    assert take.feet["left"].time.size == 100 and "resampled" in out.report[-1]


def test_fill_short_gaps_keep_long_ones():
    t = np.arange(0, 2.0, 0.01)
    drop = np.zeros(t.size, bool)
    drop[50:53] = True          # 30 ms hole → filled
    drop[100:130] = True        # 300 ms hole → kept invalid
    take = Take({"left": _stream(t[~drop])})
    out = processing.fill_gaps(take)
    f = out.feet["left"]
    assert f.time.size == t.size
    assert f.valid[50:53].all() and np.allclose(f.force[50:53], t[50:53] * 100, atol=1e-3)
    assert not f.valid[100:130].any()
    assert any("filled 1 gaps" in r for r in out.report) and any("kept 1 longer" in r for r in out.report)


def test_zero_pressure_removes_offset_and_recomputes_force():
    take = synthetic_walk(10.0, seed=1)
    shifted = processing._clone(take)
    f = shifted.feet["left"]
    f.pressure = f.pressure + 0.5
    f.force, f.cop = [x.astype(np.float32) for x in insole.force_and_cop(f.pressure, take.meta.insole_size)]
    out = processing.zero_pressure(shifted)
    g = out.feet["left"]
    assert abs(float(np.median(g.pressure[g.force < 5]))) < 0.01
    force, cop = insole.force_and_cop(g.pressure, take.meta.insole_size)
    assert np.allclose(force, g.force, atol=0.01)
    assert np.allclose(g.force, take.feet["left"].force, atol=3.0 + 0.02 * take.feet["left"].force.max())
    assert any("zeroed pressure" in r for r in out.report)


def test_body_weight_from_mass_and_estimated():
    take = synthetic_walk(20.0, body_mass_kg=80.0, seed=2)
    out = processing.normalise_body_weight(take)
    assert abs(out.feet["left"].force.max() - take.feet["left"].force.max() / (80 * 9.80665)) < 1e-4
    take.meta.body_mass_kg = None
    bw, how = processing.body_weight(take)
    assert abs(bw / (80 * 9.80665) - 1.0) < 0.1 and "estimated" in how
    est = processing.normalise_body_weight(take)
    assert est.meta.extra["force_unit"] == "BW" and "estimated" in est.report[-1]


def test_align_shifts_both_feet_and_events():
    take = synthetic_walk(5.0)
    for f in take.feet.values():
        f.time = f.time + 3.0
    for e in take.events:
        e.time += 3.0
    out = processing.align(take, offsets={"right": 0.01})
    assert out.start == 0.0 and abs(out.feet["right"].time[0] - 0.01) < 1e-9
    assert take.start == 3.0


def test_info_command(tmp_path):
    sample = ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"
    r = subprocess.run([sys.executable, "-m", "step2motion_addon", "info", str(sample), "--json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == "native" and 15 <= info["duration_s"] <= 20 and info["rate_hz"] == 100
    assert info["feet"]["left"]["samples"] > 1500 and info["feet"]["left"]["peak_force_n"] > 600
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing here\n")
    r = subprocess.run([sys.executable, "-m", "step2motion_addon", "info", str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "bad.txt:1" in r.stderr


def test_demo_sample_is_small_and_regenerates_identically(tmp_path, shared_data):
    # The sample is simulated from CMU clips, so regenerating it needs ../shared/data.
    sample = ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"
    assert sample.stat().st_size < 1024 * 1024
    out = tmp_path / "demo.s2m"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_sample.py"), str(out)], check=True,
                   capture_output=True)
    # Same take, value for value. Not byte for byte: numpy's vector sin/exp differ in the last bit
    # between CPUs (AVX-512 vs AVX2), which moved a few accelerations by 1e-12 g.
    new, old = load_take(out), load_take(sample)
    assert new.events == old.events and new.rate == old.rate
    assert dataclasses.replace(new.meta, source_path="", extra={}) == dataclasses.replace(old.meta, source_path="",
                                                                                         extra={})
    flat = [{k: v for k, v in m.extra.items() if k != "foot_length_m"} for m in (new.meta, old.meta)]
    assert flat[0] == pytest.approx(flat[1], rel=1e-9)
    assert new.meta.extra["foot_length_m"] == pytest.approx(old.meta.extra["foot_length_m"], rel=1e-9)
    for side in old.sides:
        for f in dataclasses.fields(old.feet[side]):
            a, b = getattr(new.feet[side], f.name), getattr(old.feet[side], f.name)
            if isinstance(b, np.ndarray) and b.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=f"{side} {f.name}")
            else:
                assert np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b, f"{side} {f.name}"
    motion_new, motion_old = np.load(tmp_path / "demo_motion.npz"), np.load(sample.with_name("demo_walk_motion.npz"))
    assert sorted(motion_new) == sorted(motion_old)
    for k in motion_old:
        if motion_old[k].dtype.kind == "f":
            np.testing.assert_allclose(motion_new[k], motion_old[k], rtol=1e-6, atol=1e-9, err_msg=k)
        else:
            assert np.array_equal(motion_new[k], motion_old[k]), k
