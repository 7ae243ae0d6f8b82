# SPDX-License-Identifier: GPL-3.0-or-later
"""UDP listener source: open frames or Moticon OpenGo text vectors.

Bound to 127.0.0.1 unless told otherwise, so nothing on the network can feed
a capture by default; with ``allow`` set (an address or a host name, resolved
when the listener starts), datagrams from any other sender are dropped and
counted. A listener on a non-loopback address without ``allow`` accepts
anyone who can reach the port: it says so with a session warning. Datagrams
that fail to decode are counted, never decoded into samples, and handed to the
session to keep as raw packets marked rejected. Every datagram is decoded as
data, never executed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
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
            self.session.reject()       # never stored: a stranger must not be able to fill the take
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
            self.session.bad_packet(exc, fmt, data, "open_frame" if fmt == "open" else "moticon_udp",
                                    host_ns=host_ns)
            return
        self.session.good_packet(fmt)
        self.session.ingest(frames, data, "open_frame" if fmt == "open" else "moticon_udp")

    def error_received(self, exc) -> None:  # ICMP errors etc.: keep listening
        self.source.socket_errors += 1


def _ip(text: str):
    """An address as ``ipaddress`` sees it (IPv4-mapped IPv6 → IPv4); None if not an IP literal."""
    try:
        ip = ipaddress.ip_address(str(text))
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def resolve_sender(host: str) -> frozenset:
    """Every IP address ``host`` (a literal or a name such as 'localhost') stands for.

    Raises ValueError naming the host when it does not resolve.
    """
    ip = _ip(host)
    if ip is not None:
        return frozenset({ip})
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"allowed sender {host!r} does not resolve to an address "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    ips = {_ip(info[4][0]) for info in infos}
    ips.discard(None)
    if not ips:
        raise ValueError(f"allowed sender {host!r} does not resolve to an address")
    return frozenset(ips)


def is_loopback(host: str) -> bool:
    ip = _ip(host)
    return ip is not None and ip.is_loopback


class UdpSource:
    def __init__(self, host: str = "127.0.0.1", port: int = 8888, format: str = "auto",
                 allow: str | tuple | None = None, column_map=moticon_udp.DEFAULT_MAP,
                 rcvbuf: int = 1 << 20):
        if format not in FORMATS:
            raise ValueError(f"format {format!r} (expected one of {FORMATS})")
        self.host, self.port, self.format = host, port, format
        if isinstance(allow, str):
            allow = (allow, None)
        if allow is not None and not str(allow[0]).strip():
            allow = None
        self.allow = allow                 # (host, port or None)
        self.allowed_ips: frozenset | None = None     # resolved from allow[0] at start
        self.column_map = column_map
        self.rcvbuf = rcvbuf
        self.datagrams = 0
        self.socket_errors = 0
        self.bound: tuple | None = None

    def resolve_allow(self) -> frozenset | None:
        """Resolve the allowed sender to its IP addresses (ValueError naming it if it does not resolve)."""
        if self.allow is None:
            self.allowed_ips = None
        else:
            self.allowed_ips = resolve_sender(str(self.allow[0]).strip().strip("[]"))
        return self.allowed_ips

    def allowed(self, addr) -> bool:
        _host, port = self.allow
        if port is not None and addr[1] != port:
            return False
        ips = self.allowed_ips if self.allowed_ips is not None else self.resolve_allow()
        return _ip(addr[0]) in ips

    async def run(self, session) -> None:
        loop = asyncio.get_running_loop()
        if self.allow is not None:
            # Resolved once, off the loop: a name (e.g. 'localhost') stands for all of its addresses.
            await loop.run_in_executor(None, self.resolve_allow)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
        # A large receive buffer absorbs bursts while the loop is busy (e.g. Blender redraws).
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        except OSError:
            pass
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        bound = sock.getsockname()[:2]
        if self.allow is None and not is_loopback(bound[0]):
            session.warn(f"UDP listener on {bound[0]}:{bound[1]} is reachable from the network and accepts "
                         f"datagrams from any sender: set an allowed sender (--allow HOST) to accept only "
                         f"the insoles' computer")
        self.bound = bound
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self, session), sock=sock)
        try:
            await asyncio.Future()          # until cancelled by session.stop()
        finally:
            transport.close()

    def stats(self) -> dict:
        return {"kind": "udp", "bound": list(self.bound) if self.bound else None, "datagrams": self.datagrams,
                "socket_errors": self.socket_errors,
                "allowed_senders": sorted(map(str, self.allowed_ips)) if self.allowed_ips else None}
