# SPDX-License-Identifier: GPL-3.0-or-later
"""Round trips through the three formats and the bad-input policy (docs/formats.md)."""

import os
import sqlite3

import numpy as np
import pytest

from step2motion_addon.core.errors import TakeError
from step2motion_addon.core.formats import detect, load_take, save_take
from step2motion_addon.core.synthetic import synthetic_walk
from step2motion_addon.core.take import FootStream, Take


@pytest.fixture(scope="module")
def take():
    return synthetic_walk(8.0, seed=11)


def _same(a, b, atol=0.0):
    assert a.sides == b.sides
    for s in a.sides:
        fa, fb = a.feet[s], b.feet[s]
        assert np.allclose(fa.time, fb.time, atol=1e-9, rtol=0)
        for (name, x), (_, y) in zip(fa.channels(), fb.channels()):
            assert np.allclose(x, y, atol=atol, rtol=0, equal_nan=True), name


@pytest.mark.parametrize("ext,atol", [(".s2m", 0.0), (".csv", 0.006), (".txt", 0.006)])
def test_round_trip(take, tmp_path, ext, atol):
    path = tmp_path / ("take" + ext)
    save_take(take, path)
    back = load_take(path)
    _same(take, back, atol)
    assert [(round(e.time, 6), e.side, e.kind) for e in back.events] == \
           [(round(e.time, 6), e.side, e.kind) for e in take.events]
    assert back.meta.insole_size == take.meta.insole_size
    assert back.report == []
    assert detect(path) == {".s2m": "native", ".csv": "csv", ".txt": "moticon"}[ext]


def test_csv_any_column_order_and_missing_channels(tmp_path):
    p = tmp_path / "imu.csv"
    p.write_text("# insole_size: 4\n"
                 "left_gyro_z[dps],time[s],left_acc_x[g],left_acc_y[g],left_acc_z[g],left_gyro_x[dps],left_gyro_y[dps]\n"
                 "3,0.00,0.1,0.2,0.9,1,2\n6,0.01,0.1,0.2,0.9,4,5\n")
    take = load_take(p)
    f = take.feet["left"]
    assert take.sides == ["left"] and f.cells == 0 and f.force is None
    assert np.allclose(f.gyro, [[1, 2, 3], [4, 5, 6]])
    q = tmp_path / "pressure.csv"
    q.write_text("time[s]," + ",".join(f"right_pressure_{i:02d}[N/cm2]" for i in range(1, 17)) + "\n"
                 + "0.0," + ",".join(["1.25"] * 16) + "\n" + "0.01," + ",".join(["2.5"] * 16) + "\n")
    r = load_take(q).feet["right"]
    assert r.cells == 16 and not r.has_imu and r.pressure[1, 3] == 2.5


def test_csv_empty_fields_mean_no_sample(tmp_path):
    p = tmp_path / "two.csv"
    p.write_text("time[s],left_force[N],right_force[N]\n0.00,1,\n0.01,2,5\n0.02,,6\n")
    take = load_take(p)
    assert np.allclose(take.feet["left"].time, [0.0, 0.01])
    assert np.allclose(take.feet["right"].force, [5, 6])


# -- bad input: one clear TakeError (file, line, expectation) or a reported repair ---------

MOTICON_HEAD = ("# Start time: 27.09.2023 10:21:14.922\n# Duration: 00:00.030\n"
                "# Sensor insoles: Left SN1, Right SN2\n# Size: 7\n# Recording type: normal\n"
                "# Name: x\n# Notes: \n# Tag: \n")
COLS = ["time"] + [f"left pressure {i}[N/cm²]" for i in range(1, 17)] + ["left total force[N]"]


def _moticon(tmp_path, rows, cols=COLS, name="m.txt"):
    p = tmp_path / name
    p.write_text(MOTICON_HEAD + "# " + "\t".join(cols) + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return p


def _row(t, v="1.00", force="100.00"):
    return "\t".join([t] + [v] * 16 + [force])


def _error(path):
    with pytest.raises(TakeError) as exc:
        load_take(path)
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg
    return exc.value


def test_good_minimal_moticon(tmp_path):
    take = load_take(_moticon(tmp_path, [_row("0.00"), _row("0.01"), _row("0.02")]))
    assert len(take.feet["left"]) == 3 and "right" not in take.feet


def test_empty_file(tmp_path):
    p = tmp_path / "e.txt"
    p.write_bytes(b"")
    assert "empty" in str(_error(p))


def test_header_only(tmp_path):
    err = _error(_moticon(tmp_path, []))
    assert "no data rows" in str(err)


def test_truncated_last_line_is_dropped_and_reported(tmp_path):
    p = _moticon(tmp_path, [_row("0.00"), _row("0.01")])
    p.write_bytes(p.read_bytes() + b"0.02\t1.00\t1.0")
    take = load_take(p)
    assert len(take.feet["left"]) == 2
    assert "truncated last line 12" in take.report[0]


def test_wrong_field_count_mid_file(tmp_path):
    err = _error(_moticon(tmp_path, [_row("0.00"), "0.01\t1.00", _row("0.02")]))
    assert err.line == 11 and "fields" in str(err)


def test_non_numeric_field(tmp_path):
    err = _error(_moticon(tmp_path, [_row("0.00"), _row("0.01", v="abc")]))
    assert err.line == 11 and "abc" in str(err)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_nan_inf_fields(tmp_path, bad):
    err = _error(_moticon(tmp_path, [_row("0.00"), _row("0.01", force=bad)]))
    assert err.line == 11 and "finite" in str(err)


@pytest.mark.parametrize("big", ["1e39", "-3.5e38", "1" + "0" * 40 + ".0"])
def test_numbers_beyond_float32_are_refused_not_loaded_as_inf(tmp_path, big):
    err = _error(_moticon(tmp_path, [_row("0.00"), _row("0.01"), _row("0.02", force=big)]))
    assert err.line == 12 and "32-bit" in str(err)


def test_non_monotonic_time(tmp_path):
    err = _error(_moticon(tmp_path, [_row("0.00"), _row("0.02"), _row("0.01")]))
    assert err.line == 12 and "backwards" in str(err)


def test_duplicated_timestamps_dropped_and_reported(tmp_path):
    take = load_take(_moticon(tmp_path, [_row("0.00"), _row("0.01"), _row("0.01"), _row("0.01"), _row("0.02")]))
    assert len(take.feet["left"]) == 3
    assert "dropped 2 rows" in take.report[0] and "lines 12, 13" in take.report[0]


def test_missing_and_renamed_columns(tmp_path):
    cols = [c for c in COLS if c != "left pressure 7[N/cm²]"]
    err = _error(_moticon(tmp_path, ["\t".join(["0.00"] + ["1"] * 16)], cols=cols))
    assert "pressure column 7" in str(err) and err.line == 9
    cols = ["t"] + COLS[1:]
    assert "time" in str(_error(_moticon(tmp_path, [_row("0.00")], cols=cols, name="b.txt")))
    cols = COLS[:-1] + ["left total force[kg]"]
    assert "unit" in str(_error(_moticon(tmp_path, [_row("0.00")], cols=cols, name="c.txt")))


def test_columns_mapped_by_name_not_position(tmp_path):
    cols = [COLS[0], COLS[-1]] + COLS[1:-1]
    take = load_take(_moticon(tmp_path, ["\t".join(["0.00", "250.00"] + ["2.00"] * 16)], cols=cols))
    assert take.feet["left"].force[0] == 250.0 and take.feet["left"].pressure[0, 0] == 2.0


def test_partly_empty_foot_row(tmp_path):
    row = "\t".join(["0.01"] + ["1.00"] * 15 + ["", "100.00"])
    err = _error(_moticon(tmp_path, [_row("0.00"), row]))
    assert err.line == 11 and "partly empty" in str(err)


def test_missing_foot(tmp_path):
    cols = COLS + [c.replace("left", "right") for c in COLS[1:]]
    rows = ["\t".join(["0.00"] + ["1.00"] * 17 + [""] * 17), "\t".join(["0.01"] + ["1.00"] * 17 + [""] * 17)]
    take = load_take(_moticon(tmp_path, rows, cols=cols))
    assert take.sides == ["left"] and "right foot has columns but no samples" in take.report[0]
    rows = ["\t".join(["0.00"] + [""] * 34)]
    assert "neither foot" in str(_error(_moticon(tmp_path, rows, cols=cols, name="n.txt")))


def test_wrong_extension_is_read_by_content_and_noted(tmp_path):
    p = _moticon(tmp_path, [_row("0.00"), _row("0.01")], name="really_moticon.csv")
    take = load_take(p)
    assert "extension '.csv' does not match" in take.report[-1]


def test_unknown_content_and_binary(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello world\n1,2,3\n")
    assert "not a recording" in str(_error(p))
    q = tmp_path / "y.s2m"
    q.write_bytes(bytes(range(256)) * 8)
    assert "binary" in str(_error(q))


def test_huge_garbage_file_fails_fast(tmp_path):
    p = tmp_path / "huge.txt"
    try:
        with open(p, "wb") as fh:
            fh.write(b"\x00garbage")
            fh.truncate(2 * 1024 ** 3)         # sparse: 2 GB on paper, nothing on disk
        err = _error(p)
        assert "binary" in str(err)
        q = tmp_path / "huge2.txt"
        with open(q, "wb") as fh:
            fh.write(MOTICON_HEAD.encode() + b"# " + "\t".join(COLS).encode() + b"\n\x00")
            fh.truncate(2 * 1024 ** 3)
        # a valid Moticon header followed by 2 GB of NULs: refused from the first 4 KB
        err = _error(q)
        assert "binary" in str(err) and err.line == 10
    finally:
        for f in tmp_path.iterdir():
            f.unlink()


def test_foreign_and_corrupt_sqlite(tmp_path):
    p = tmp_path / "foreign.s2m"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert "not a Step2Motion take" in str(_error(p))
    good = tmp_path / "good.s2m"
    save_take(synthetic_walk(3.0), good)
    data = bytearray(good.read_bytes())
    bad = tmp_path / "corrupt.s2m"
    bad.write_bytes(data[: len(data) // 3])
    _error(bad)
    data[200:4000] = os.urandom(3800)
    bad.write_bytes(data)
    _error(bad)


def test_save_take_rejects_unknown_extension(tmp_path, take):
    with pytest.raises(TakeError):
        save_take(take, tmp_path / "x.bvh")


def test_invalid_samples_are_not_written_as_data(tmp_path):
    t = np.arange(5) / 100
    valid = np.array([1, 1, 0, 1, 1], bool)
    f = FootStream("left", t, np.ones((5, 16)), force=np.full(5, 10.0), valid=valid)
    take = Take({"left": f})
    for ext in (".txt", ".csv"):
        save_take(take, tmp_path / ("v" + ext))
        back = load_take(tmp_path / ("v" + ext))
        assert np.allclose(back.feet["left"].time, t[valid])
    save_take(take, tmp_path / "v.s2m")
    assert np.array_equal(load_take(tmp_path / "v.s2m").feet["left"].valid, valid)
