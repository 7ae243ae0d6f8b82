# SPDX-License-Identifier: GPL-3.0-or-later
"""Live UDP capture over real loopback sockets: loss, fuzzing, sender filter, recording."""

from __future__ import annotations

import random
import socket
import threading
import time

import numpy as np
import pytest

from step2motion_addon.core.formats import load_take
from step2motion_addon.devices import moticon_udp, open_frame
from step2motion_addon.devices.emulator import stream_udp
from step2motion_addon.devices.frame import FrameError
from step2motion_addon.devices.recorder import Recorder
from step2motion_addon.devices.session import LiveSession, drain
from step2motion_addon.devices.udp import UdpSource, parse_hostport

from .conftest import make_take


def start_udp(recorder=None, **kw) -> tuple[LiveSession, UdpSource]:
    source = UdpSource("127.0.0.1", 0, **kw)
    session = LiveSession(source, recorder).start()
    for _ in range(500):
        if source.bound:
            break
        time.sleep(0.01)
    assert source.bound, session.errors
    return session, source


def run_loopback(tmp_path, duration: float, fmt: str = "open"):
    take = make_take(duration, 100.0)
    rec = Recorder(tmp_path / "live.s2m")
    session, source = start_udp(rec, format=fmt)
    frames = []
    sent = stream_udp(take, "127.0.0.1", source.bound[1], fmt)
    time.sleep(0.3)
    frames += drain(session, 10**6)
    session.stop()
    assert not session._thread.is_alive()
    return take, session, sent, frames, rec


@pytest.mark.parametrize("fmt", ["open", "moticon"])
def test_loopback_2x100hz_10s_zero_loss_and_recorded(tmp_path, fmt):
    take, session, sent, frames, rec = run_loopback(tmp_path, 10.0, fmt)
    st = session.stats()
    n = len(take.feet["left"])
    for side in ("left", "right"):
        assert st["feet"][side]["received"] == n
        assert st["feet"][side]["lost"] == 0
        assert st["feet"][side]["rate_hz"] == pytest.approx(100.0, rel=0.02)
    assert st["bad_frames"] == 0 and st["queue_dropped"] == 0
    assert len(frames) == 2 * n
    rec_take = load_take(tmp_path / "live.s2m")
    for side in ("left", "right"):
        got, ref = rec_take.feet[side], take.feet[side]
        assert len(got) == n
        tol = 0.01 if fmt == "open" else 1e-4
        np.testing.assert_allclose(got.pressure, ref.pressure, atol=tol)
        np.testing.assert_allclose(got.force, ref.force, atol=0.1)
        # host-axis times keep the 10 ms spacing (clock model, not arrival jitter)
        assert np.median(np.diff(got.time)) == pytest.approx(0.01, abs=2e-4)
        assert np.all(np.diff(got.time) > 0)
    # raw packets are kept so a better decoder can re-read the take
    assert rec_take.meta.extra.get("raw_packets") == (2 * n if fmt == "open" else n)
    # left/right stay aligned on the common host axis: same sample index, same time within a few ms
    lt, rt = rec_take.feet["left"].time, rec_take.feet["right"].time
    assert np.median(np.abs(lt - rt)) < 0.005


@pytest.mark.slow
def test_loopback_2x100hz_60s_zero_loss(tmp_path):
    take, session, sent, frames, rec = run_loopback(tmp_path, 60.0)
    st = session.stats()
    for side in ("left", "right"):
        assert st["feet"][side]["received"] == 6000 and st["feet"][side]["lost"] == 0
    assert len(load_take(tmp_path / "live.s2m").feet["left"]) == 6000


def malformed_packets(count: int, seed: int = 1) -> list[bytes]:
    """Corrupted frames, truncations, garbage and hostile text; each one verified undecodable."""
    rng = random.Random(seed)
    good = [open_frame.encode("left", i, i * 10000, [i % 7] * 16, [0, 0, 1], [0, 0, 0], 100.0, (0, 0))
            for i in range(64)]
    out = []
    while len(out) < count:
        kind = rng.randrange(6)
        base = bytearray(rng.choice(good))
        if kind == 0:
            base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
            p = bytes(base)
        elif kind == 1:
            p = bytes(base[:rng.randrange(len(base))])
        elif kind == 2:
            p = bytes(base) + bytes(rng.randrange(1, 20))
        elif kind == 3:
            p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120)))
        elif kind == 4:
            p = rng.choice([b"__import__('os').system('true')", b"1 2 3 nan", b"\x80\x04\x95 pickle",
                            b" ".join([b"1e5"] * 30), "ü".encode() * 40])
        else:
            p = bytes([1, rng.randrange(256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(70)))
        if not p:
            continue
        try:
            if p[:1] == b"\x01":
                open_frame.decode(p)
            else:
                moticon_udp.decode(p)
        except FrameError:
            out.append(p)
    return out


def test_10000_malformed_packets_dropped_counted_valid_still_arrive():
    bad = malformed_packets(10_000)
    session, source = start_udp()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", source.bound[1])
    valid = 0
    for i, p in enumerate(bad):
        sock.sendto(p, addr)
        if i % 20 == 0:
            sock.sendto(open_frame.encode("right", valid, valid * 10_000, [1.0] * 16), addr)
            valid += 1
        if i % 200 == 0:
            time.sleep(0.005)     # pace: the test is about decoding, not about socket buffers
    time.sleep(0.5)
    frames = drain(session, 10**6)
    session.stop()
    st = session.stats()
    assert st["bad_frames"] == 10_000
    assert st["errors"] == []
    assert st["feet"]["right"]["received"] == valid == len(frames)
    assert st["feet"]["right"]["lost"] == 0
    assert sum(st["decoders"][k]["ok"] for k in st["decoders"]) == valid


def test_listener_rejects_packets_from_other_senders():
    allowed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    allowed.bind(("127.0.0.1", 0))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    session, source = start_udp(allow=allowed.getsockname())
    addr = ("127.0.0.1", source.bound[1])
    for i in range(50):
        allowed.sendto(open_frame.encode("left", i, i * 10_000, [2.0] * 16), addr)
        other.sendto(open_frame.encode("right", i, i * 10_000, [9.0] * 16), addr)
    time.sleep(0.3)
    frames = drain(session, 1000)
    session.stop()
    assert session.stats()["rejected_packets"] == 50
    assert {f.side for f in frames} == {"left"} and len(frames) == 50


def test_default_bind_is_loopback_only():
    assert UdpSource().host == "127.0.0.1"
    assert parse_hostport("udp://:9000") == ("127.0.0.1", 9000)
    assert parse_hostport("0.0.0.0:8888") == ("0.0.0.0", 8888)


def test_dropped_packets_counted_as_loss_and_gaps_recorded(tmp_path):
    take = make_take(3.0, 100.0)
    rec = Recorder(tmp_path / "lossy.s2m")
    session, source = start_udp(rec)
    sent = stream_udp(take, "127.0.0.1", source.bound[1], "open", rate=2.0, drop=0.05, seed=3)
    time.sleep(0.3)
    session.stop()
    st = session.stats()
    received = sum(st["feet"][s]["received"] for s in ("left", "right"))
    lost = sum(st["feet"][s]["lost"] for s in ("left", "right"))
    assert received == sent["sent"]
    # loss at the very end of a foot's stream is invisible to a sequence counter
    assert sent["dropped"] - 4 <= lost <= sent["dropped"]
    summary = rec.close()
    assert summary["gaps"] == st["feet"]["left"]["gaps"] + st["feet"]["right"]["gaps"] > 0


def test_stop_joins_and_drain_is_nonblocking():
    session, source = start_udp()
    t = time.perf_counter()
    assert drain(session, 10) == []
    assert time.perf_counter() - t < 0.05
    session.stop(timeout=5)
    assert not session.running and not session._thread.is_alive()
