# SPDX-License-Identifier: GPL-3.0-or-later
"""Our Moticon reader agrees with Moticon's own moticon_opengo library (test oracle only),
and moticon_opengo reads what our writer produces."""

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take, save_take
from step2motion_addon.core.synthetic import synthetic_walk

txt_export = pytest.importorskip("moticon_opengo.txt_export")


def _oracle(path):
    return txt_export.Measurement(str(path), trim=False, fill_method="keep")


def _compare(ours, m):
    sides = {"left": txt_export.Side.LEFT, "right": txt_export.Side.RIGHT}
    for side, foot in ours.feet.items():
        sd = m.side_data[sides[side]]
        rows = ~np.isnan(sd.pressure[:, 0])
        assert np.allclose(m.time[rows], foot.time)
        assert np.array_equal(sd.pressure[rows].astype(np.float32), foot.pressure)
        assert np.array_equal(sd.acceleration[rows].astype(np.float32), foot.acc)
        assert np.array_equal(sd.angular[rows].astype(np.float32), foot.gyro)
        assert np.array_equal(sd.total_force[rows].astype(np.float32), foot.force)
        assert np.array_equal(sd.cop[rows].astype(np.float32), foot.cop)
    # steps: the oracle pairs heel strike / toe off row indices per side
    ours_steps = {(e.side, e.kind, round(e.time, 6)) for e in ours.events if e.code is not None}
    for step in m.steps:
        side = "left" if step.side == txt_export.Side.LEFT else "right"
        assert (side, "heel_strike", round(float(m.time[step.heel_strike_idx]), 6)) in ours_steps
        assert (side, "toe_off", round(float(m.time[step.toe_off_idx]), 6)) in ours_steps
    theirs = sorted((e.group_name, e.event_name, float(e.value), round(float(e.time), 6)) for e in m.events)
    mine = sorted((e.group, e.kind, e.value, round(e.time, 6)) for e in ours.events if e.group)
    assert mine == theirs


def test_reader_agrees_with_moticon_opengo(moticon_files):
    for path in moticon_files:
        ours = load_take(path)
        m = _oracle(path)
        _compare(ours, m)
        meta = ours.meta
        assert meta.start_time == m.start_time.isoformat(timespec="milliseconds")
        assert [f"{s.capitalize()} {meta.serials[s]}" for s in ("left", "right")] == m.serial_numbers
        assert meta.insole_size == m.sensor_insole_size
        assert meta.recording_type == m.recording_type
        assert meta.name == m.name and meta.notes == m.comment and meta.tag == m.tag
        assert meta.extra["Duration"] == m.duration


def test_event_file_has_events_and_reports_extra_columns(moticon_files):
    path = [p for p in moticon_files if p.name == "walk_events.txt"][0]
    take = load_take(path)
    assert take.meta.start_timestamp_ms == 1663250316241
    assert {e.group for e in take.events} == {"Left Events", "Right Events"}
    assert any("left COP velocity[1]" in line for line in take.report)


def test_oracle_reads_our_writer_and_we_round_trip(moticon_files, tmp_path):
    for path in moticon_files:
        ours = load_take(path)
        out = tmp_path / path.name
        save_take(ours, out)
        _compare(ours, _oracle(out))
        again = load_take(out)
        for side in ours.sides:
            for (name, a), (_, b) in zip(ours.feet[side].channels(), again.feet[side].channels()):
                assert np.array_equal(a, b), name
        assert [(e.time, e.side, e.kind, e.group, e.value) for e in again.events] == \
               [(e.time, e.side, e.kind, e.group, e.value) for e in ours.events]
        # second generation is byte-identical
        out2 = tmp_path / ("2_" + path.name)
        save_take(again, out2)
        assert out.read_bytes() == out2.read_bytes()


def test_oracle_reads_synthetic_export(tmp_path):
    take = synthetic_walk(12.0, seed=3)
    out = tmp_path / "syn.txt"
    save_take(take, out)
    m = _oracle(out)
    assert m.sensor_insole_size == 5
    assert len(m.steps) >= 10
    left = m.side_data[txt_export.Side.LEFT]
    assert np.allclose(left.pressure, take.feet["left"].pressure)
    assert np.allclose(left.total_force, take.feet["left"].force, atol=0.006)
