# SPDX-License-Identifier: GPL-3.0-or-later
"""Packets a decoder rejects are kept in the take as raw packets marked 'DECODER!reason' (real UDP),
never decoded into samples, and within a byte budget so a flood cannot grow the file without limit."""

from __future__ import annotations

import socket
import time

from step2motion_addon.core.formats import load_take
from step2motion_addon.core.formats.native import iter_raw_packets
from step2motion_addon.devices import open_frame
from step2motion_addon.devices.recorder import Recorder
from step2motion_addon.devices.session import BadRawBudget, LiveSession, split_decoder
from step2motion_addon.devices.udp import UdpSource

from .conftest import wait_for


def start(recorder, **kw) -> tuple[LiveSession, UdpSource]:
    source = UdpSource("127.0.0.1", 0, "auto")
    session = LiveSession(source, recorder, **kw).start()
    assert wait_for(lambda: source.bound or not session.running), session.errors
    assert source.bound, session.errors
    return session, source


def good(i: int) -> bytes:
    return open_frame.encode("left", i, i * 10_000, [float(i % 9)] * 16, [0, 0, 1], [0, 0, 0], 50.0, (0, 0))


def corrupt(i: int) -> tuple[bytes, str]:
    """A rejected packet and the decoder name it must be kept under."""
    p = bytearray(good(1000 + i))
    kind = i % 4
    if kind == 0:
        p[12] ^= 0x10                   # a flipped bit in a pressure: CRC mismatch
        return bytes(p), "open_frame!crc"
    if kind == 1:
        return bytes(p[:30]), "open_frame!truncated"
    if kind == 2:
        p[1] = 0xF0                     # reserved flag bits
        return bytes(p), "open_frame!header"
    return "ü not numbers".encode() * 3, "moticon_udp!value"     # auto: not an open frame → Moticon text


def test_rejected_packets_are_kept_raw_and_marked_never_decoded(tmp_path):
    path = tmp_path / "mixed.s2m"
    rec = Recorder(path)
    session, source = start(rec)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", source.bound[1])
    sent_bad = []
    n_good = 60
    for i in range(n_good):
        sock.sendto(good(i), addr)
        if i % 3 == 0:
            payload, name = corrupt(i // 3)
            sock.sendto(payload, addr)
            sent_bad.append((payload, name))
    sock.close()
    total = n_good + len(sent_bad)
    assert wait_for(lambda: source.datagrams >= total)
    session.stop()
    st = session.stats()
    assert st["errors"] == [] and st["bad_frames"] == len(sent_bad)
    assert st["bad_raw"] == {"kept": len(sent_bad), "kept_bytes": sum(len(p) for p, _ in sent_bad),
                             "not_kept": 0}
    rows = list(iter_raw_packets(path))
    kept_good = [r for r in rows if split_decoder(r[2])[1] is None]
    kept_bad = [r for r in rows if split_decoder(r[2])[1] is not None]
    assert len(kept_good) == n_good and all(r[2] == "open_frame" for r in kept_good)
    # every rejected packet, byte for byte, in arrival order, with why it was rejected
    assert [(bytes(r[3]), r[2]) for r in kept_bad] == sent_bad
    assert {split_decoder(r[2]) for r in kept_bad} == {("open_frame", "crc"), ("open_frame", "truncated"),
                                                       ("open_frame", "header"), ("moticon_udp", "value")}
    assert all(r[0] == "" and r[1] >= 0 for r in kept_bad)       # side unknown for a bad UDP frame
    # only the good packets became samples
    take = load_take(path)
    assert len(take.feet["left"]) == n_good and "right" not in take.feet
    assert take.meta.extra["raw_packets"] == len(rows) == total


def test_a_flood_of_garbage_is_bounded_and_what_is_not_kept_is_counted(tmp_path):
    path = tmp_path / "flood.s2m"
    rec = Recorder(path)
    # the total cap is what this test checks; the per-second rate is left out of it (no timing here)
    budget = BadRawBudget(bytes_per_s=1e12, burst=10**12, total=3000)
    session, source = start(rec, bad_raw=budget)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", source.bound[1])
    garbage = bytes([1, 0xF0]) + bytes(98)              # 100 bytes, a bad open-frame header
    for i in range(200):
        sock.sendto(garbage, addr)
        if i % 10 == 0:
            sock.sendto(good(i // 10), addr)
        if i % 50 == 0:
            time.sleep(0.002)       # pace: the test is about the budget, not about socket buffers
    sock.close()
    assert wait_for(lambda: source.datagrams >= 220)
    session.stop()
    st = session.stats()
    assert st["errors"] == [] and st["bad_frames"] == 200
    assert st["bad_raw"] == {"kept": 30, "kept_bytes": 3000, "not_kept": 170}
    rows = list(iter_raw_packets(path))
    assert sum(1 for r in rows if r[2] == "open_frame!header") == 30
    assert sum(1 for r in rows if r[2] == "open_frame") == 20
    take = load_take(path)
    assert len(take.feet["left"]) == 20
    assert any("not kept as raw packets" in line for line in take.report), take.report


def test_budget_rate_and_total_with_an_explicit_clock():
    b = BadRawBudget(bytes_per_s=1000, burst=1000, total=2500)
    s = 1_000_000_000
    assert b.allow(600, 0)
    assert not b.allow(600, 0)                  # 400 bytes left in the bucket
    assert b.allow(600, s // 2)                 # +500 bytes after 0.5 s
    assert b.allow(1000, 10 * s)                # refilled, capped at the burst
    assert not b.allow(1000, 20 * s)            # the total cap: 2200 + 1000 > 2500
    assert b.allow(300, 20 * s)
    assert b.as_dict() == {"kept": 4, "kept_bytes": 2500, "not_kept": 2}


def test_no_raw_means_rejected_packets_are_not_kept_either(tmp_path):
    path = tmp_path / "noraw.s2m"
    rec = Recorder(path, keep_raw=False)
    session, source = start(rec)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(corrupt(0)[0], ("127.0.0.1", source.bound[1]))
        sock.sendto(good(0), ("127.0.0.1", source.bound[1]))
    assert wait_for(lambda: source.datagrams >= 2)
    session.stop()
    assert session.stats()["bad_frames"] == 1
    assert list(iter_raw_packets(path)) == []
