# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the device tests: a small two-foot take made here (no shared data needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from step2motion_addon.core.take import FootStream, Take, TakeMeta


def make_take(duration: float = 2.0, rate: float = 100.0, seed: int = 0) -> Take:
    """Plausible-looking values in every channel, quantised as a device would."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * rate))
    t = np.arange(n) / rate
    feet = {}
    for k, side in enumerate(("left", "right")):
        phase = 2 * np.pi * (t / 1.1 + 0.5 * k)
        load = np.clip(np.sin(phase), 0, None)
        pressure = np.round((load[:, None] * rng.uniform(2, 30, 16)) / 0.25) * 0.25
        acc = np.stack([0.1 * np.sin(phase), 0.05 * np.cos(phase), 1 + 0.2 * load], 1)
        gyro = np.stack([50 * np.sin(phase), 20 * np.cos(phase), 5 * np.sin(2 * phase)], 1)
        force = pressure.sum(1) * 12.0
        cop = np.stack([0.3 * np.sin(phase), 0.05 * np.cos(phase)], 1)
        feet[side] = FootStream(side, t.copy(), pressure, acc, gyro, force, cop)
    return Take(feet, TakeMeta(device="test", name="device-test"))


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll until predicate() is true; the deadline only guards against a hang (nothing is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def small_take() -> Take:
    return make_take()
