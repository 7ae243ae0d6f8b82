# SPDX-License-Identifier: GPL-3.0-or-later
"""The live/emulate commands as separate processes: durability under kill -9, replay, emulate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take, save_take
from step2motion_addon.devices.emulator import open_frame_packets
from step2motion_addon.devices.session import LiveSession, drain
from step2motion_addon.devices.udp import UdpSource

from .conftest import make_take

ROOT = Path(__file__).resolve().parents[2]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "step2motion_addon", *map(str, args)]


def test_kill_9_mid_take_keeps_everything_up_to_half_a_second_before(tmp_path):
    out = tmp_path / "killed.s2m"
    proc = subprocess.Popen(cli("live", "--source", "udp://127.0.0.1:0", "--record", out), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on udp://"), line + proc.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        take = make_take(20.0, 100.0)
        import socket
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent_at = []           # (monotonic send time, side, index)
        start = time.monotonic()
        for t, side, payload in open_frame_packets(take):
            if t > 3.0:
                break
            wait = start + t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sock.sendto(payload, ("127.0.0.1", port))
            sent_at.append((time.monotonic(), side))
        kill_time = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    rec = load_take(out)
    for side in ("left", "right"):
        must_have = sum(1 for t, s in sent_at if s == side and t <= kill_time - 0.5)
        got = len(rec.feet[side])
        assert got >= must_have, f"{side}: {got} samples on disk, {must_have} sent ≥0.5 s before the kill"
        np.testing.assert_allclose(rec.feet[side].pressure, take.feet[side].pressure[:got], atol=0.01)


def test_live_replay_cli_records_a_take_and_stats(tmp_path):
    src = tmp_path / "src.s2m"
    save_take(make_take(2.0, 100.0), src)
    out, stats = tmp_path / "replayed.s2m", tmp_path / "stats.json"
    r = subprocess.run(cli("live", "--source", f"replay:{src}", "--rate", "4", "--record", out, "--json", stats),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    s = json.loads(stats.read_text())
    assert s["feet"]["left"]["received"] == 200 and s["feet"]["right"]["lost"] == 0
    assert s["feet"]["left"]["rate_hz"] == pytest.approx(400, rel=0.05)
    rec = load_take(out)
    assert len(rec.feet["left"]) == 200 and rec.duration == pytest.approx(0.5, abs=0.03)


def test_emulate_cli_streams_to_a_listener(tmp_path):
    src = tmp_path / "src.s2m"
    take = make_take(2.0, 100.0)
    save_take(take, src)
    source = UdpSource("127.0.0.1", 0, "moticon")
    session = LiveSession(source).start()
    while not source.bound:
        time.sleep(0.01)
    r = subprocess.run(cli("emulate", src, "--udp", f"127.0.0.1:{source.bound[1]}", "--format", "moticon",
                           "--rate", "2"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    time.sleep(0.3)
    frames = drain(session, 10_000)
    session.stop()
    assert r.returncode == 0, r.stderr
    assert "sent 200 packets" in r.stdout
    st = session.stats()
    assert st["feet"]["left"]["received"] == st["feet"]["right"]["received"] == 200
    assert len(frames) == 400 and st["bad_frames"] == 0


def test_emulate_rejects_bad_arguments(tmp_path):
    src = tmp_path / "src.s2m"
    save_take(make_take(0.5, 100.0), src)
    r = subprocess.run(cli("emulate", src, "--udp", "127.0.0.1:9", "--drop", "1.5"), cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
