# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np
import pytest

from step2motion_addon.devices.clock import ClockModel, FootClock, SequenceTracker, TimeUnwrapper


def test_sequence_unwrap_across_wrap_counts_loss_and_late():
    s = SequenceTracker()
    seqs = list(range(65530, 65536)) + [0, 1, 4, 3, 5]
    out = [s.update(x) for x in seqs]
    assert [u for u, _ in out][:8] == list(range(65530, 65538))
    assert out[8] == (65540, 2)          # 2 and 3 missing...
    assert out[9] == (None, 0)           # ...3 arrives late: dropped, counted
    assert s.lost == 2 and s.late == 1 and s.received == 10


def test_sequence_restart_after_reboot():
    s = SequenceTracker()
    for x in range(5000, 5100):
        s.update(x)
    assert s.update(0) == (0, 0) and s.restarts == 1 and s.lost == 0


def test_device_time_unwrap():
    u = TimeUnwrapper(wrap=100.0)
    assert [u(t) for t in (98.0, 99.5, 0.5, 2.0)] == [98.0, 99.5, 100.5, 102.0]


def test_clock_fit_recovers_drift_and_offset_under_bursty_latency():
    rng = np.random.default_rng(0)
    n = 6000                                    # 60 s at 100 Hz
    device = np.arange(n) * 0.01 + 1000.0       # device epoch far from host's
    true_host = 5.0 + (1 + 80e-6) * (device - 1000.0)
    # latency: 3 ms floor + exponential jitter + bursts of 40 ms every ~0.5 s (BLE connection events)
    latency = 0.003 + rng.exponential(0.004, n) + (rng.random(n) < 0.02) * 0.04
    m = ClockModel(window=3000)
    for d, h in zip(device, true_host + latency):
        m.add(d, h)
    m.fit()
    assert (m.slope - 1) * 1e6 == pytest.approx(80, abs=20)
    err = np.array([m.to_host(d) for d in device[-1000:]]) - true_host[-1000:]
    # mapped times sit on the latency floor, far tighter than the arrival jitter
    assert np.abs(err - 0.003).max() < 0.002
    assert np.std(np.diff(err)) < 1e-4


def test_foot_clock_time_strictly_increasing_even_with_duplicates():
    c = FootClock()
    times = [c.host_time(0.01 * i, 0.01 * i + (0.05 if i % 10 == 0 else 0.0)) for i in range(300)]
    assert np.all(np.diff(times) > 0)


def test_session_rate_is_the_devices_own_even_when_the_host_stalled_at_the_start():
    """A loaded host delivers the first frame 0.3 s late: the sampling rate must not read 3 % high."""
    from step2motion_addon.devices.frame import Frame
    from step2motion_addon.devices.session import LiveSession
    session = LiveSession(source=None)
    n = 1000                                             # 10 s at 100 Hz
    for i in range(n):
        host = i * 0.01 + 0.002 + (0.3 if i == 0 else 0.0)   # the first packet waits behind a stall
        session.ingest([Frame("left", i, i * 0.01, np.zeros(16, np.float32), host_ns=int(host * 1e9))])
    st = session.stats()["feet"]["left"]
    assert st["received"] == n and st["lost"] == 0
    assert abs(st["rate_hz"] - 100.0) < 0.01
    # After a reconnect the device clock may restart: the host span is used instead.
    session.device_event("left", "connected")
    session.device_event("left", "connected")
    for i in range(10):
        session.ingest([Frame("left", i, i * 0.01, np.zeros(16, np.float32), host_ns=int((10.5 + i * 0.01) * 1e9))])
    assert session.stats()["feet"]["left"]["rate_hz"] > 0
