# SPDX-License-Identifier: GPL-3.0-or-later
"""UDP sender filter over real sockets: host names resolved, a clear error for one that is not, and a
warning when the listener is reachable from the network without an allowed sender."""

from __future__ import annotations

import socket

import pytest

from step2motion_addon.devices import open_frame
from step2motion_addon.devices.session import LiveSession, drain
from step2motion_addon.devices.udp import UdpSource, resolve_sender

from .conftest import wait_for

UNRESOLVABLE = "no-such-insole-host.invalid"      # RFC 2606: .invalid never resolves


def start(host: str = "127.0.0.1", **kw) -> tuple[LiveSession, UdpSource]:
    source = UdpSource(host, 0, "open", **kw)
    session = LiveSession(source).start()
    assert wait_for(lambda: source.bound or not session.running), session.errors
    assert source.bound, session.errors
    return session, source


def sender(ip: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, 0))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot send from {ip} here: {exc}")
    return sock


def frame(side: str, i: int) -> bytes:
    return open_frame.encode(side, i, i * 10_000, [float(i % 5)] * 16)


def test_allowed_sender_given_by_name_accepts_its_addresses_and_rejects_others():
    # On Linux the whole of 127/8 is loopback: 127.0.0.2 is a second local sender that 'localhost' is not.
    good, other = sender("127.0.0.1"), sender("127.0.0.2")
    session, source = start(allow="localhost")
    try:
        assert source.allowed_ips is not None and any(str(ip) == "127.0.0.1" for ip in source.allowed_ips)
        addr = ("127.0.0.1", source.bound[1])
        for i in range(30):
            good.sendto(frame("left", i), addr)
            other.sendto(frame("right", i), addr)
        assert wait_for(lambda: source.datagrams >= 60)
        frames = drain(session, 1000)
    finally:
        session.stop()
        good.close()
        other.close()
    st = session.stats()
    assert st["rejected_packets"] == 30
    assert st["feet"]["left"]["received"] == 30 and "right" not in st["feet"]
    assert {f.side for f in frames} == {"left"}
    assert "127.0.0.1" in st["source"]["allowed_senders"]
    assert st["warnings"] == [] and st["errors"] == []


def test_allowed_sender_literal_address_still_works():
    ips = resolve_sender("127.0.0.1")
    assert {str(ip) for ip in ips} == {"127.0.0.1"}
    # IPv4-mapped IPv6 (what a dual-stack socket reports) is the same sender
    source = UdpSource(allow="127.0.0.1")
    assert source.allowed(("::ffff:127.0.0.1", 5000, 0, 0))
    assert not source.allowed(("127.0.0.2", 5000))
    with_port = UdpSource(allow=("localhost", 5000))
    assert with_port.allowed(("127.0.0.1", 5000)) and not with_port.allowed(("127.0.0.1", 5001))


def test_allowed_sender_that_does_not_resolve_is_a_clear_error():
    with pytest.raises(ValueError, match=UNRESOLVABLE.replace(".", r"\.") + ".*does not resolve"):
        resolve_sender(UNRESOLVABLE)
    # started anyway (the Blender operator path): the listener does not open, the error names the host
    source = UdpSource("127.0.0.1", 0, "open", allow=UNRESOLVABLE)
    session = LiveSession(source).start()
    assert session.wait(20)
    session.stop()
    assert source.bound is None
    assert any(UNRESOLVABLE in e and "does not resolve" in e for e in session.errors), session.errors


def test_non_loopback_listener_without_allowed_sender_warns():
    session, source = start("0.0.0.0")
    try:
        # a local sender still gets through: the warning does not change what is accepted
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(frame("left", 0), ("127.0.0.1", source.bound[1]))
        assert wait_for(lambda: source.datagrams >= 1)
    finally:
        session.stop()
    st = session.stats()
    assert len(st["warnings"]) == 1, st["warnings"]
    text = st["warnings"][0]
    assert "0.0.0.0" in text and "any sender" in text and "allowed sender" in text
    assert any(kind == "warning" for _t, _side, kind, _d in st["events"])
    assert st["feet"]["left"]["received"] == 1


@pytest.mark.parametrize("host, allow", [("127.0.0.1", None), ("0.0.0.0", "localhost")])
def test_no_warning_on_loopback_or_with_an_allowed_sender(host, allow):
    session, source = start(host, allow=allow)
    session.stop()
    assert session.stats()["warnings"] == []
