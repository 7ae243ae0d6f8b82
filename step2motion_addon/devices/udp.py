# SPDX-License-Identifier: GPL-3.0-or-later
"""UDP listener source: open frames or Moticon OpenGo text vectors.

Bound to 127.0.0.1 unless told otherwise, so nothing on the network can feed
a capture by default; with ``allow`` set, datagrams from any other sender are
dropped and counted. Every datagram is decoded as data, never executed.
"""

from __future__ import annotations

import asyncio
import time

from . import moticon_udp, open_frame
from .frame import FrameError

FORMATS = ("auto", "open", "moticon")


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' → (host, port)."""
    text = text.strip()
    if text.startswith("udp://"):
        text = text[6:]
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or default_host
    try:
        port_n = int(port)
    except ValueError:
        raise ValueError(f"bad port in {text!r} (expected HOST:PORT)") from None
    if not 0 <= port_n < 65536:
        raise ValueError(f"port {port_n} out of range")
    return host, port_n


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, source: "UdpSource", session) -> None:
        self.source = source
        self.session = session

    def datagram_received(self, data: bytes, addr) -> None:
        host_ns = time.monotonic_ns()
        src = self.source
        src.datagrams += 1
        if src.allow is not None and not src.allowed(addr):
            self.session.reject()
            return
        fmt = src.format
        if fmt == "auto":
            # Open frames start with version byte 1; Moticon vectors are ASCII text.
            fmt = "open" if data[:1] == b"\x01" else "moticon"
        try:
            if fmt == "open":
                frames = [open_frame.decode(data, host_ns)]
            else:
                frames = moticon_udp.decode(data, src.column_map, host_ns)
        except FrameError as exc:
            self.session.bad_packet(exc, fmt)
            return
        self.session.good_packet(fmt)
        self.session.ingest(frames, data, "open_frame" if fmt == "open" else "moticon_udp")

    def error_received(self, exc) -> None:  # ICMP errors etc.: keep listening
        self.source.socket_errors += 1


class UdpSource:
    def __init__(self, host: str = "127.0.0.1", port: int = 8888, format: str = "auto",
                 allow: str | tuple | None = None, column_map=moticon_udp.DEFAULT_MAP,
                 rcvbuf: int = 1 << 20):
        if format not in FORMATS:
            raise ValueError(f"format {format!r} (expected one of {FORMATS})")
        self.host, self.port, self.format = host, port, format
        if isinstance(allow, str):
            allow = (allow, None)
        self.allow = allow                 # (host, port or None)
        self.column_map = column_map
        self.rcvbuf = rcvbuf
        self.datagrams = 0
        self.socket_errors = 0
        self.bound: tuple | None = None

    def allowed(self, addr) -> bool:
        host, port = self.allow
        return addr[0] == host and (port is None or addr[1] == port)

    async def run(self, session) -> None:
        import socket
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
        # A large receive buffer absorbs bursts while the loop is busy (e.g. Blender redraws).
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        except OSError:
            pass
        sock.bind((self.host, self.port))
        self.bound = sock.getsockname()[:2]
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self, session), sock=sock)
        try:
            await asyncio.Future()          # until cancelled by session.stop()
        finally:
            transport.close()

    def stats(self) -> dict:
        return {"kind": "udp", "bound": list(self.bound) if self.bound else None, "datagrams": self.datagrams,
                "socket_errors": self.socket_errors}
