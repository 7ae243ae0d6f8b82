# SPDX-License-Identifier: GPL-3.0-or-later
"""ORPHE INSOLE / ORPHE CORE sensor notifications (facts from ORPHE's public SDK).

SENSOR_VALUES notifications are big-endian. Header (8 bytes): u8 packet type,
u16 packet counter, device time h, m, s (u8 each) and u16 milliseconds.

* type 56 (realtime 100 Hz, ≥ 72 bytes): 2 samples of 32 bytes at offsets 8
  and 40: quaternion w,x,y,z i16 (/16384), gyro xyz i16, acc xyz i16
  (/32768 × range), 6 pressures u16. The sample at offset 40 is the header
  time, the one at offset 8 is 10 ms later.
* type 54/55 (200 Hz, ≥ 104 bytes): 4 samples of 24 bytes at 8 + 24·s (gyro,
  acc, 6 pressures; no quaternion); sample s is (3 − s) × 5 ms after the header.

Pressure cells are raw ADC counts in the SDK order toe-medial, mid-medial,
toe-lateral, centre, mid-lateral, heel (layout ``orphe6``); a per-device
calibration turns them into force, so ``pressure_scale`` converts counts to
N/cm² when known (1.0 keeps counts). The side comes from the device's mount
position (DEVICE_INFORMATION bit 0), not from the packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..core.insole import ORPHE6_CELLS
from .frame import BadHeader, Frame, TruncatedFrame

SERVICE_INFO = "01a9d6b5-ff6e-444a-b266-0be75e85c064"
CHAR_DEVICE_INFORMATION = "24354f22-1c46-430e-a4ab-a1eeabbcdfc0"
CHAR_DATE_TIME = "f53eeeb1-b2e8-492a-9673-10e0f1c29026"
SERVICE_SENSOR = "db1b7aca-cda5-4453-a49b-33a53d3f0833"
CHAR_SENSOR_VALUES = "f3f9c7ce-46ee-4205-89ac-abe64e626c0f"
CHAR_STEP_ANALYSIS = "4eb776dc-cf99-4af7-b2d3-ad0f791a79dd"
NAME_PREFIX = "INS"
CMD_MODE = 0x0D                       # write [0x0D, mode] to DEVICE_INFORMATION; mode 4 = 100 Hz
CELL_NAMES = ORPHE6_CELLS     # the packets' cell order (core.insole draws them on the 16-cell insole)

TYPE_100HZ = 56
TYPES_200HZ = (54, 55)
LEN_100HZ = 72
LEN_200HZ = 104
_HEADER = struct.Struct(">BHBBBH")
_S100 = struct.Struct(">4h3h3h6H")
_S200 = struct.Struct(">3h3h6H")


@dataclass(frozen=True)
class OrpheConfig:
    side: str = "left"
    acc_range_g: float = 16.0
    gyro_range_dps: float = 2000.0
    pressure_scale: float = 1.0


def decode(data: bytes, config: OrpheConfig = OrpheConfig(), host_ns: int = 0) -> list[Frame]:
    """Samples of one notification, oldest first; raises only FrameError subclasses."""
    if len(data) < 8:
        raise TruncatedFrame(f"{len(data)} bytes, an ORPHE header needs 8")
    kind, counter, h, m, s, ms = _HEADER.unpack_from(data, 0)
    if h > 23 or m > 59 or s > 59 or ms > 999:
        raise BadHeader(f"device time {h}:{m}:{s}.{ms} is not a time of day")
    base = h * 3600 + m * 60 + s + ms / 1000.0
    acc_k = config.acc_range_g / 32768.0
    gyro_k = config.gyro_range_dps / 32768.0
    out = []
    if kind == TYPE_100HZ:
        if len(data) < LEN_100HZ:
            raise TruncatedFrame(f"{len(data)} bytes, a type-56 packet needs {LEN_100HZ}")
        for slot, dt in ((1, 0.0), (0, 0.010)):          # offset 40 first: it is the older sample
            v = _S100.unpack_from(data, 8 + 32 * slot)
            out.append(_frame(config, counter, 2, 1 - slot, base + dt, v[4:7], v[7:10], v[10:16], acc_k, gyro_k,
                              host_ns))
    elif kind in TYPES_200HZ:
        if len(data) < LEN_200HZ:
            raise TruncatedFrame(f"{len(data)} bytes, a type-{kind} packet needs {LEN_200HZ}")
        for slot in (3, 2, 1, 0):
            v = _S200.unpack_from(data, 8 + 24 * slot)
            out.append(_frame(config, counter, 4, 3 - slot, base + (3 - slot) * 0.005, v[0:3], v[3:6], v[6:12],
                              acc_k, gyro_k, host_ns))
    else:
        raise BadHeader(f"packet type {kind} (expected 54, 55 or 56)")
    return out


def _frame(config, counter, per_packet, index, t, gyro, acc, cells, acc_k, gyro_k, host_ns) -> Frame:
    # The sequence counts samples, not packets, so that loss accounting is per sample.
    seq = (counter * per_packet + index) & 0xFFFF
    return Frame(config.side, seq, t, np.array(cells, dtype=np.float32) * np.float32(config.pressure_scale),
                 np.array(acc, dtype=np.float32) * np.float32(acc_k),
                 np.array(gyro, dtype=np.float32) * np.float32(gyro_k), None, None, "orphe6", host_ns)
