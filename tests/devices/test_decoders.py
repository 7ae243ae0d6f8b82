# SPDX-License-Identifier: GPL-3.0-or-later
"""Moticon UDP text vectors and ORPHE notifications, built here from the documented layouts."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from step2motion_addon.devices import moticon_udp, orphe
from step2motion_addon.devices.frame import FrameError


def moticon_vector(t=1.25):
    v = [t]
    for base in (0, 100):
        v += [0.01 + base, 0.02, 0.98, 1.5, -2.5, 3.5, 0.1, -0.05]
        v += [base + 0.25 * i for i in range(16)]
        v += [700.5 + base]
    return " ".join(str(x) for x in v).encode()


def test_moticon_default_map_51_values():
    assert moticon_udp.DEFAULT_MAP.width == 51
    left, right = moticon_udp.decode(moticon_vector())
    assert left.side == "left" and right.side == "right" and left.device_time == 1.25
    np.testing.assert_allclose(left.acc, [0.01, 0.02, 0.98], atol=1e-6)
    np.testing.assert_allclose(left.gyro, [1.5, -2.5, 3.5])
    assert left.cop == (0.1, -0.05) and left.force == 700.5
    assert right.pressure[3] == pytest.approx(100.75) and right.force == 800.5


def test_moticon_encode_decode_roundtrip():
    data = moticon_udp.encode(2.5, {"pressure": np.arange(16) * 0.5, "force": 99.0, "acc": [0, 0, 1]}, None)
    left, right = moticon_udp.decode(data)
    np.testing.assert_allclose(left.pressure, np.arange(16) * 0.5)
    assert left.force == 99.0 and right.force == 0.0


def test_moticon_custom_column_map():
    cmap = moticon_udp.ColumnMap.from_dict({"time": 0, "time_scale": 0.001,
                                             "right": {"pressure": list(range(1, 17)), "force": 17}})
    frames = moticon_udp.decode(" ".join(["1500"] + ["2"] * 16 + ["64"]).encode(), cmap)
    assert len(frames) == 1 and frames[0].side == "right" and frames[0].device_time == 1.5
    assert frames[0].acc is None and frames[0].force == 64


@pytest.mark.parametrize("data", [b"", b"1 2 3", "é".encode() * 60, b"__import__('os') " * 51,
                                  b"nan " * 51, b"1e999 " * 51, b"1 " * 5000])
def test_moticon_rejects_without_evaluating(data):
    with pytest.raises(FrameError):
        moticon_udp.decode(data)


def orphe_100hz(counter=7, t=(13, 45, 30, 250)):
    head = struct.pack(">BHBBBH", 56, counter, *t)
    samples = b""
    for k in range(2):
        samples += struct.pack(">4h3h3h6H", 16384, 0, 0, 0, 100 * (k + 1), -200, 300, 0, 0, 2048,
                               *(1000 * (k + 1) + c for c in range(6)))
    return head + samples


def test_orphe_100hz_two_samples_oldest_first():
    cfg = orphe.OrpheConfig(side="right", acc_range_g=16, gyro_range_dps=2000)
    a, b = orphe.decode(orphe_100hz(), cfg)
    # offset 40 carries the header time, offset 8 the sample 10 ms later
    assert a.device_time == pytest.approx(13 * 3600 + 45 * 60 + 30.25)
    assert b.device_time == pytest.approx(a.device_time + 0.010)
    assert a.pressure.tolist() == [2000, 2001, 2002, 2003, 2004, 2005]
    assert b.pressure.tolist() == [1000, 1001, 1002, 1003, 1004, 1005]
    assert a.acc[2] == pytest.approx(1.0) and a.gyro[0] == pytest.approx(200 * 2000 / 32768)
    assert (a.seq, b.seq) == (14, 15) and a.layout == "orphe6" and a.side == "right"


def test_orphe_200hz_four_samples():
    head = struct.pack(">BHBBBH", 54, 3, 0, 0, 1, 0)
    body = b"".join(struct.pack(">3h3h6H", 0, 0, 0, 0, 0, 0, *(s,) * 6) for s in range(4))
    frames = orphe.decode(head + body)
    assert len(frames) == 4
    assert [f.pressure[0] for f in frames] == [3, 2, 1, 0]
    assert np.allclose(np.diff([f.device_time for f in frames]), 0.005)


def test_orphe_rejects_short_and_unknown():
    with pytest.raises(FrameError):
        orphe.decode(orphe_100hz()[:60])
    with pytest.raises(FrameError):
        orphe.decode(b"\x63" + orphe_100hz()[1:])
    with pytest.raises(FrameError):
        orphe.decode(struct.pack(">BHBBBH", 56, 0, 25, 0, 0, 0) + bytes(64))


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=120))
def test_orphe_and_moticon_raise_only_frame_errors(data):
    for decode in (orphe.decode, moticon_udp.decode):
        try:
            decode(data)
        except FrameError:
            pass
