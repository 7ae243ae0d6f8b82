# SPDX-License-Identifier: GPL-3.0-or-later
"""The Step2Motion open insole frame (version 1): encoder and decoder.

The byte-by-byte specification is ``docs/protocol.md``; this module is its
reference implementation. One frame is one BLE notification, one UDP datagram,
or one u16-length-prefixed record on a stream. Little-endian throughout::

    off size field
     0   1   version (1)
     1   1   flags: bit0 side (0 left, 1 right), bit1 IMU, bit2 force+COP, bits3-7 zero
     2   2   sequence u16 (wraps; a gap is loss)
     4   4   device time u32, microseconds (wraps after 71.6 min)
     8   1   cell count n (0..64)
     9   1   reserved, zero
    10  2n   pressure u16 per cell, 0.01 N/cm² (= 0.1 kPa); 0xFFFF = cell not read
     .  12   if IMU: acc xyz i16 in mg, gyro xyz i16 in 0.1 deg/s
     .   6   if force+COP: force u16 in 0.1 N, COP x, y i16 in 1e-4 (normalised)
     .   2   CRC-16/CCITT-FALSE over every byte before it
"""

from __future__ import annotations

import binascii
import struct

import numpy as np

from .frame import BadChecksum, BadHeader, Frame, TruncatedFrame

VERSION = 1
FLAG_RIGHT = 0x01
FLAG_IMU = 0x02
FLAG_FORCE = 0x04
MAX_CELLS = 64
HEADER_SIZE = 10
IMU_SIZE = 12
FORCE_SIZE = 6
CRC_SIZE = 2
PRESSURE_LSB = 0.01        # N/cm² per count: 0.25 N/cm² steps are exact (25 counts)
PRESSURE_MISSING = 0xFFFF
ACC_LSB = 0.001            # g per count (mg)
GYRO_LSB = 0.1             # deg/s per count
FORCE_LSB = 0.1            # N per count
COP_LSB = 1e-4             # normalised insole units per count
LAYOUT_FOR_CELLS = {16: "moticon16", 6: "orphe6"}

_HEAD = struct.Struct("<BBHIBB")
_IMU = struct.Struct("<6h")
_FORCE = struct.Struct("<Hhh")


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

    ``binascii.crc_hqx`` is exactly this polynomial without reflection, in C.
    """
    return binascii.crc_hqx(data, crc)


def frame_length(cells: int, imu: bool, force: bool) -> int:
    return HEADER_SIZE + 2 * cells + (IMU_SIZE if imu else 0) + (FORCE_SIZE if force else 0) + CRC_SIZE


def required_mtu(cells: int = 16, imu: bool = True, force: bool = True) -> int:
    """ATT MTU a BLE link needs to carry one frame per notification (3-byte ATT header)."""
    return frame_length(cells, imu, force) + 3


def _clip_int(value: float, lsb: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(float(value) / lsb))))


def encode(side: str, seq: int, device_time_us: int, pressure, acc=None, gyro=None,
           force: float | None = None, cop=None) -> bytes:
    """One frame. Values outside a field's range are clipped; NaN pressure → 0xFFFF."""
    pressure = np.asarray(pressure, dtype=np.float64).reshape(-1)
    n = pressure.shape[0]
    if n > MAX_CELLS:
        raise ValueError(f"at most {MAX_CELLS} cells, got {n}")
    imu = acc is not None and gyro is not None
    has_force = force is not None and cop is not None
    flags = (FLAG_RIGHT if side == "right" else 0) | (FLAG_IMU if imu else 0) | (FLAG_FORCE if has_force else 0)
    out = bytearray(_HEAD.pack(VERSION, flags, seq & 0xFFFF, device_time_us & 0xFFFFFFFF, n, 0))
    counts = np.where(np.isfinite(pressure), np.clip(np.round(np.nan_to_num(pressure) / PRESSURE_LSB), 0,
                                                     PRESSURE_MISSING - 1), PRESSURE_MISSING)
    out += counts.astype("<u2").tobytes()
    if imu:
        out += _IMU.pack(*(_clip_int(v, ACC_LSB, -32768, 32767) for v in np.asarray(acc).reshape(3)),
                         *(_clip_int(v, GYRO_LSB, -32768, 32767) for v in np.asarray(gyro).reshape(3)))
    if has_force:
        cx, cy = (0.0 if not np.isfinite(c) else c for c in np.asarray(cop, dtype=float).reshape(2))
        f = force if np.isfinite(force) else 0.0
        out += _FORCE.pack(_clip_int(f, FORCE_LSB, 0, 65535), _clip_int(cx, COP_LSB, -32768, 32767),
                           _clip_int(cy, COP_LSB, -32768, 32767))
    out += struct.pack("<H", crc16_ccitt_false(out))
    return bytes(out)


def decode(data: bytes, host_ns: int = 0) -> Frame:
    """Decode one frame; raises only FrameError subclasses."""
    size = len(data)
    if size < HEADER_SIZE + CRC_SIZE:
        raise TruncatedFrame(f"{size} bytes is shorter than the smallest frame ({HEADER_SIZE + CRC_SIZE})")
    version, flags, seq, t_us, n, reserved = _HEAD.unpack_from(data, 0)
    if version != VERSION:
        raise BadHeader(f"version {version} (expected {VERSION})")
    if flags & 0xF8 or reserved:
        raise BadHeader(f"reserved bits set (flags 0x{flags:02x}, reserved 0x{reserved:02x})")
    if n > MAX_CELLS:
        raise BadHeader(f"{n} cells (expected at most {MAX_CELLS})")
    imu = bool(flags & FLAG_IMU)
    has_force = bool(flags & FLAG_FORCE)
    expected = frame_length(n, imu, has_force)
    if size != expected:
        raise TruncatedFrame(f"{size} bytes, header announces {expected}")
    body = bytes(data[:-CRC_SIZE])
    (crc,) = struct.unpack_from("<H", data, size - CRC_SIZE)
    if crc16_ccitt_false(body) != crc:
        raise BadChecksum(f"CRC 0x{crc:04x} does not match 0x{crc16_ccitt_false(body):04x}")
    raw = np.frombuffer(body, dtype="<u2", count=n, offset=HEADER_SIZE)
    pressure = raw.astype(np.float32) * np.float32(PRESSURE_LSB)
    if (raw == PRESSURE_MISSING).any():
        pressure[raw == PRESSURE_MISSING] = np.nan
    off = HEADER_SIZE + 2 * n
    acc = gyro = cop = None
    force = None
    if imu:
        v = _IMU.unpack_from(body, off)
        acc = np.array(v[:3], dtype=np.float32) * np.float32(ACC_LSB)
        gyro = np.array(v[3:], dtype=np.float32) * np.float32(GYRO_LSB)
        off += IMU_SIZE
    if has_force:
        f, cx, cy = _FORCE.unpack_from(body, off)
        force = f * FORCE_LSB
        cop = (cx * COP_LSB, cy * COP_LSB)
    return Frame("right" if flags & FLAG_RIGHT else "left", seq, t_us * 1e-6, pressure, acc, gyro,
                 force, cop, LAYOUT_FOR_CELLS.get(n, f"cells{n}"), host_ns)


# -- NUS command channel (central → insole, written to RX) ------------------------
CMD_START = 0x01      # optional u16 LE rate in Hz; no argument = device default
CMD_STOP = 0x02
CMD_TIME_SYNC = 0x03  # u32 LE host time in µs: the device may reset its clock to it
CMD_IDENTIFY = 0x04   # blink/buzz so the user can tell which insole is which


def command_start(rate_hz: int | None = None) -> bytes:
    return bytes([CMD_START]) if rate_hz is None else struct.pack("<BH", CMD_START, rate_hz)


def command_stop() -> bytes:
    return bytes([CMD_STOP])


def command_time_sync(host_us: int) -> bytes:
    return struct.pack("<BI", CMD_TIME_SYNC, host_us & 0xFFFFFFFF)


def command_identify() -> bytes:
    return bytes([CMD_IDENTIFY])


def parse_command(data: bytes) -> tuple[int, int | None]:
    """(command, argument or None) of an RX write; raises BadHeader if unknown."""
    if not data:
        raise BadHeader("empty command")
    cmd = data[0]
    if cmd == CMD_START:
        return cmd, (struct.unpack_from("<H", data, 1)[0] if len(data) >= 3 else None)
    if cmd == CMD_TIME_SYNC:
        if len(data) < 5:
            raise TruncatedFrame("time sync needs a u32 argument")
        return cmd, struct.unpack_from("<I", data, 1)[0]
    if cmd in (CMD_STOP, CMD_IDENTIFY):
        return cmd, None
    raise BadHeader(f"unknown command 0x{cmd:02x}")


# NUS (Nordic UART Service) and advertising names.
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"   # write: commands
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"   # notify: frames
NAME_PREFIX = {"left": "OI-L-", "right": "OI-R-"}


def side_from_name(name: str | None) -> str | None:
    """'left'/'right' from an advertised name ``OI-L-xxxx`` / ``OI-R-xxxx``."""
    if name:
        for side, prefix in NAME_PREFIX.items():
            if name.startswith(prefix):
                return side
    return None
