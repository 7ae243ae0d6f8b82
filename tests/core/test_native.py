# SPDX-License-Identifier: GPL-3.0-or-later
"""NativeWriter: append-only recording, self-describing schema, durability against SIGKILL."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take
from step2motion_addon.core.formats.native import NativeWriter, iter_raw_packets
from step2motion_addon.core.take import Event, TakeMeta

ROOT = Path(__file__).resolve().parents[2]


def test_writer_tables_and_reader(tmp_path):
    path = tmp_path / "rec.s2m"
    with NativeWriter(path, TakeMeta(device="test", insole_size=6)) as w:
        for k in range(10):
            t = (k * 5 + np.arange(5)) / 100
            w.append("left", t, np.full((5, 16), k, np.float32), acc=np.zeros((5, 3)), gyro=np.ones((5, 3)))
            w.append("right", t + 0.003, np.full((5, 16), -k, np.float32), acc=np.zeros((5, 3)),
                     gyro=np.ones((5, 3)), valid=np.arange(5) != 2)
        w.append_raw("left", 12.5, b"\x01\x02", "open-frame")
        w.add_event(Event(0.2, "left", "heel_strike"))
        w.mark_gap("right", 0.1, 0.2, "stall")
        w.note("hello")
    take = load_take(path)
    assert take.meta.device == "test" and take.meta.insole_size == 6
    assert len(take.feet["left"]) == 50 and take.feet["left"].pressure[-1, 0] == 9
    assert (~take.feet["right"].valid).sum() == 10
    assert take.events[0].kind == "heel_strike"
    assert take.meta.extra["gaps"][0]["reason"] == "stall"
    assert "note: hello" in take.report
    assert list(iter_raw_packets(path)) == [("left", 12.5, "open-frame", b"\x01\x02")]
    assert not os.path.exists(str(path) + "-wal")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0] == "step2motion-take"
    assert con.execute("SELECT count(*) FROM schema").fetchone()[0] > 20
    # live blocks hold at most 0.25 s of samples
    spans = con.execute("SELECT max(t1 - t0) FROM blocks").fetchone()[0]
    assert spans < 0.25


def test_writer_refuses_bad_appends(tmp_path):
    with NativeWriter(tmp_path / "a.s2m") as w:
        w.append("left", [0.0, 0.01], np.zeros((2, 16)))
        with pytest.raises(ValueError):
            w.append("left", [0.005], np.zeros((1, 16)))          # goes back in time
        with pytest.raises(ValueError):
            w.append("left", [0.02], np.zeros((1, 6)))            # cells change
    with pytest.raises(FileExistsError):
        NativeWriter(tmp_path / "a.s2m")


CHILD = r"""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from step2motion_addon.core.formats.native import NativeWriter
from step2motion_addon.core.take import TakeMeta
w = NativeWriter(sys.argv[1], TakeMeta(device="crash test"))
k = 0
t_start = time.time()
while True:
    now = time.time() - t_start
    w.append("left", [k / 100.0], np.full((1, 16), k, np.float32), force=[float(k)])
    sys.stdout.write(f"{k} {time.time():.6f}\n"); sys.stdout.flush()
    k += 1
    time.sleep(0.01)
"""


def test_sigkill_loses_at_most_half_a_second(tmp_path):
    path = tmp_path / "crash.s2m"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.time() + 30
        while len(lines) < 150 and time.time() < deadline:    # ~1.5 s of appends
            lines.append(proc.stdout.readline())
        kill_time = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    sent = [tuple(map(float, ln.split())) for ln in lines if ln.strip()]
    take = load_take(path)
    got = take.feet["left"]
    last_k = int(round(got.time[-1] * 100))
    assert np.array_equal(got.force, np.arange(last_k + 1, dtype=np.float32))   # nothing reordered or torn
    # every sample appended more than 0.5 s before the kill is on disk
    old_enough = [k for k, t in sent if t < kill_time - 0.5]
    assert old_enough and last_k >= max(old_enough)


def test_non_finite_channels_are_zeroed_marked_invalid_and_reported(tmp_path):
    path = tmp_path / "nan.s2m"
    acc = np.zeros((20, 3))
    acc[5, 1] = np.nan
    force = np.full(20, 100.0)
    force[9] = np.inf
    with NativeWriter(path, TakeMeta(device="test")) as w:
        w.append("left", np.arange(20) / 100, np.ones((20, 16)), acc=acc, gyro=np.zeros((20, 3)), force=force)
    take = load_take(path)
    foot = take.feet["left"]
    assert len(foot) == 20                              # nothing recorded is lost
    assert np.flatnonzero(~foot.valid).tolist() == [5, 9]
    assert np.isfinite(foot.acc[foot.valid]).all() and np.isfinite(foot.force[foot.valid]).all()
    assert any("non-finite acc/force" in r and "0.050 s" in r for r in take.report)
