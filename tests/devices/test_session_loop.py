# SPDX-License-Identifier: GPL-3.0-or-later
"""Sessions on a loop they do not own (the Blender add-on's one loop): stop ends only the session."""

from __future__ import annotations

import asyncio
import socket
import threading

from step2motion_addon.devices import open_frame
from step2motion_addon.devices.session import LiveSession, drain
from step2motion_addon.devices.udp import UdpSource

from .conftest import wait_for


def test_sessions_share_a_loop_and_stopping_one_leaves_the_loop_running():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        # Stopped at once, possibly before its task ever ran: it still ends.
        first = LiveSession(UdpSource("127.0.0.1", 0, "open")).start(loop=loop)
        first.stop(timeout=30)
        assert not first.running and loop.is_running()

        source = UdpSource("127.0.0.1", 0, "open")
        second = LiveSession(source).start(loop=loop)
        assert wait_for(lambda: source.bound or not second.running), second.errors
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        frames = []
        for i in range(5):
            sock.sendto(open_frame.encode("left", i, i * 10_000, [1.0] * 16, [0, 0, 1], [0, 0, 0], 50.0, (0, 0)),
                        source.bound)
        sock.close()
        assert wait_for(lambda: frames.extend(drain(second, 100)) or len(frames) >= 5)
        second.stop(timeout=30)
        assert not second.running and second.errors == []
        assert loop.is_running()
        assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
