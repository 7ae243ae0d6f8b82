# SPDX-License-Identifier: GPL-3.0-or-later
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from step2motion_addon.devices import open_frame as of
from step2motion_addon.devices.frame import BadChecksum, BadHeader, FrameError, TruncatedFrame

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def example_frame() -> bytes:
    """The worked example of docs/protocol.md."""
    pressure = [0, 0.25, 1.5, 12.75, 64.0, 0, 0, 3.0, 10.5, 22.25, 0, 0, 0, 7.75, 0.5, 0]
    return of.encode("left", 513, 1_234_567, pressure, acc=[0.012, -0.034, 0.981],
                     gyro=[-12.3, 45.6, 0.7], force=412.7, cop=(-0.1234, 0.0567))


def test_crc_check_value():
    assert of.crc16_ccitt_false(b"123456789") == 0x29B1


def test_full_frame_is_62_bytes_and_needs_mtu_65():
    assert len(example_frame()) == 62 == of.frame_length(16, True, True)
    assert of.required_mtu() == 65


def test_roundtrip_exact_at_quantisation():
    f = of.decode(example_frame())
    assert f.side == "left" and f.seq == 513 and f.device_time == pytest.approx(1.234567)
    assert f.pressure[4] == pytest.approx(64.0) and f.pressure[3] == pytest.approx(12.75)
    np.testing.assert_allclose(f.acc, [0.012, -0.034, 0.981], atol=1e-6)
    np.testing.assert_allclose(f.gyro, [-12.3, 45.6, 0.7], atol=1e-5)
    assert f.force == pytest.approx(412.7) and f.cop == pytest.approx((-0.1234, 0.0567))


def test_pressure_unit_covers_range_and_resolution():
    values = np.arange(0, 64.25, 0.25)[:64]
    f = of.decode(of.encode("right", 0, 0, values))
    np.testing.assert_array_equal(f.pressure, values.astype(np.float32))
    assert f.side == "right" and f.acc is None and f.force is None


def test_nan_pressure_is_missing_and_survives():
    f = of.decode(of.encode("left", 1, 2, [1.0, np.nan, 3.0]))
    assert np.isnan(f.pressure[1]) and f.pressure[2] == pytest.approx(3.0)


def test_worked_example_in_protocol_doc_matches_code():
    text = DOC.read_text()
    block = re.search(r"<!-- example-hex -->\s*```\s*(.*?)```", text, re.S).group(1)
    assert bytes.fromhex(" ".join(block.split())) == example_frame()


def test_each_corruption_is_a_frame_error():
    good = example_frame()
    with pytest.raises(TruncatedFrame):
        of.decode(good[:-1])
    with pytest.raises(TruncatedFrame):
        of.decode(good + b"\0")
    flipped = bytearray(good)
    flipped[20] ^= 0x04
    with pytest.raises(BadChecksum):
        of.decode(bytes(flipped))
    wrong_version = bytearray(good)
    wrong_version[0] = 2
    with pytest.raises(BadHeader):
        of.decode(bytes(wrong_version))


def test_every_single_bit_flip_is_detected():
    good = example_frame()
    for i in range(len(good) * 8):
        b = bytearray(good)
        b[i // 8] ^= 1 << (i % 8)
        with pytest.raises(FrameError):
            of.decode(bytes(b))


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=200))
def test_decode_raises_only_frame_errors(data):
    try:
        of.decode(data)
    except FrameError:
        pass


def test_commands_roundtrip():
    assert of.parse_command(of.command_start(100)) == (of.CMD_START, 100)
    assert of.parse_command(of.command_start()) == (of.CMD_START, None)
    assert of.parse_command(of.command_time_sync(123456)) == (of.CMD_TIME_SYNC, 123456)
    assert of.parse_command(of.command_stop()) == (of.CMD_STOP, None)
    with pytest.raises(FrameError):
        of.parse_command(b"\x7f")
    assert of.side_from_name("OI-R-1a2b") == "right" and of.side_from_name("INS123") is None
