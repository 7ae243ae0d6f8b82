# SPDX-License-Identifier: GPL-3.0-or-later
"""The live/emulate UDP options as separate processes over real sockets: --moticon-columns,
emulate --drop, --allow with a name that does not resolve, the warning on a network-wide listener."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take, save_take
from step2motion_addon.core.formats.native import iter_raw_packets
from step2motion_addon.devices.emulator import stream_udp
from step2motion_addon.devices.session import LiveSession
from step2motion_addon.devices.udp import UdpSource

from .conftest import make_take, wait_for

ROOT = Path(__file__).resolve().parents[2]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "step2motion_addon", *map(str, args)]


def raw_count(path) -> int:
    try:
        return sum(1 for _ in iter_raw_packets(path))
    except Exception:           # not created yet / first commit not done
        return -1


# The right foot's pressure and force columns of the default 51-value vector, read as the *left* foot:
# the recording must then hold the take's right-foot pressures under 'left', and no IMU.
RIGHT_AS_LEFT = {"time": 0, "left": {"pressure": list(range(34, 50)), "force": 50}}


def test_live_cli_moticon_column_map_is_applied(tmp_path):
    take = make_take(2.0, 100.0)
    cmap, out, stats = tmp_path / "columns.json", tmp_path / "mapped.s2m", tmp_path / "stats.json"
    cmap.write_text(json.dumps(RIGHT_AS_LEFT))
    proc = subprocess.Popen(cli("live", "--source", "udp://127.0.0.1:0", "--format", "moticon",
                                "--moticon-columns", cmap, "--record", out, "--json", stats),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on udp://"), line + proc.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        sent = stream_udp(take, "127.0.0.1", port, "moticon", rate=4.0)
        assert sent["sent"] == 200
        # every datagram is in the take (raw) before we stop: no sleep-and-hope
        assert wait_for(lambda: raw_count(out) >= sent["sent"]), raw_count(out)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, stderr
    s = json.loads(stats.read_text())
    assert s["feet"]["left"]["received"] == 200 and "right" not in s["feet"]
    assert s["bad_frames"] == 0
    rec = load_take(out)
    assert list(rec.feet) == ["left"]
    got, ref = rec.feet["left"], take.feet["right"]
    np.testing.assert_allclose(got.pressure, ref.pressure, atol=1e-4)
    np.testing.assert_allclose(got.force, ref.force, rtol=1e-5, atol=1e-3)
    assert got.acc is None and got.gyro is None


@pytest.mark.parametrize("spec, expect", [
    ('{"left": {"pressure": [1, 2, -3]}}', "left.pressure[2] must be a column index"),
    ('{"left": {"acc": [1, 2]}}', "left.pressure must be a list"),
    ('{"Left": {"pressure": [1]}}', "unknown key 'Left'"),
    ('{"left": {"pressure": [1]}, "time_scale": 0}', "time_scale must be a positive number"),
    ("[1, 2, 3]", "expected a JSON object"),
    ("FILE:{not json", "not valid JSON"),
    ("MISSING", "cannot read the column map"),
])
def test_live_cli_bad_column_map_is_a_clear_error(tmp_path, spec, expect):
    if spec == "MISSING":
        spec = str(tmp_path / "nowhere.json")
    elif spec.startswith("FILE:"):
        path = tmp_path / "broken.json"
        path.write_text(spec[5:])
        spec = str(path)
    r = subprocess.run(cli("live", "--source", "udp://127.0.0.1:0", "--format", "moticon",
                           "--moticon-columns", spec, "--duration", "5"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--moticon-columns" in r.stderr and expect in r.stderr, r.stderr
    assert "listening" not in r.stdout and "Traceback" not in r.stderr


def test_live_cli_column_map_needs_a_moticon_udp_source(tmp_path):
    r = subprocess.run(cli("live", "--source", "udp://127.0.0.1:0", "--format", "open",
                           "--moticon-columns", '{"left": {"pressure": [1]}}', "--duration", "5"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "moticon" in r.stderr, r.stderr


def test_emulate_cli_drop_loses_about_that_share_of_packets(tmp_path):
    src, counts = tmp_path / "src.s2m", tmp_path / "sent.json"
    save_take(make_take(2.0, 100.0), src)          # 400 open frames (2 feet × 200)
    source = UdpSource("127.0.0.1", 0, "open")
    session = LiveSession(source).start()
    assert wait_for(lambda: source.bound or not session.running), session.errors
    try:
        r = subprocess.run(cli("emulate", src, "--udp", f"127.0.0.1:{source.bound[1]}", "--format", "open",
                               "--rate", "4", "--drop", "0.3", "--json", counts),
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        c = json.loads(counts.read_text())
        assert wait_for(lambda: source.datagrams >= c["sent"])
    finally:
        session.stop()
    st = session.stats()
    received = sum(st["feet"][s]["received"] for s in st["feet"])
    assert c["sent"] + c["dropped"] == 400
    assert f"sent {c['sent']} packets, dropped {c['dropped']}" in r.stdout
    assert received == c["sent"]                   # loopback loses nothing: what is missing was dropped
    # Binomial(400, 0.3): mean 120 dropped, sd 9.2; these bounds are > 8 sd away
    assert 200 <= received <= 355
    assert 45 <= c["dropped"] <= 200
    # the receiver sees the drops as sequence gaps (a drop at the very end of a foot is invisible)
    lost = sum(st["feet"][s]["lost"] for s in st["feet"])
    assert c["dropped"] - 10 <= lost <= c["dropped"]


def test_live_cli_allowed_sender_that_does_not_resolve(tmp_path):
    r = subprocess.run(cli("live", "--source", "udp://127.0.0.1:0", "--allow", "no-such-insole-host.invalid",
                           "--duration", "5"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "no-such-insole-host.invalid" in r.stderr and "does not resolve" in r.stderr, r.stderr
    assert "listening" not in r.stdout


def test_live_cli_warns_when_listening_on_every_interface_without_allow(tmp_path):
    stats = tmp_path / "stats.json"
    r = subprocess.run(cli("live", "--source", "udp://0.0.0.0:0", "--duration", "0.2", "--json", stats),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "WARNING" in r.stderr and "any sender" in r.stderr and "--allow" in r.stderr, r.stderr
    assert len(json.loads(stats.read_text())["warnings"]) == 1
    r = subprocess.run(cli("live", "--source", "udp://0.0.0.0:0", "--allow", "localhost", "--duration", "0.2"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "WARNING" not in r.stderr, r.stderr
