# SPDX-License-Identifier: GPL-3.0-or-later
"""Live view latency in Blender: frame arrival (socket) → live insole property set.

A real UDP listener receives the emulator's open frames of the demo take
(2 × 100 Hz, real time) while a 60 Hz loop stands in for the ``bpy.app.timers``
callback (timers do not fire in a bpy-module process) and calls
``drain_into_scene``, then evaluates the depsgraph as a redraw would.
Reference measured in the same run: the session's own hand-off latency
(arrival → taken off the queue), which the drain adds nothing to but the
property writes. Also: main-thread cost per tick.

    .venv/bin/python -m bench live_ui
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

SECONDS = 8.0
TICK = 1.0 / 60.0


def _pct(a, q):
    return float(np.percentile(np.asarray(a) * 1e3, q))


def main() -> None:
    import bpy

    from step2motion_addon.blender import live
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.devices import emulator
    from step2motion_addon.devices.udp import UdpSource

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    demo = load_take(str(Path(__file__).resolve().parent.parent / "step2motion_addon" / "samples" / "demo_walk.s2m"))
    ctl = live.LiveController()
    source = UdpSource("127.0.0.1", 0, "open")
    ctl.start(source, "udp", "bench", scene=scene, insole_size=demo.meta.insole_size)
    out = {}
    th = threading.Thread(target=lambda: out.update(emulator.stream_udp(
        demo, "127.0.0.1", source.bound[1], "open", duration=SECONDS)), daemon=True)
    th.start()
    drain_s, eval_s, tick_s = [], [], []
    next_tick = time.perf_counter()
    while th.is_alive():
        t0 = time.perf_counter()
        live.drain_into_scene(scene, ctl, live.MAX_FRAMES)
        t1 = time.perf_counter()
        bpy.context.evaluated_depsgraph_get().update()      # what the redraw after the timer evaluates
        t2 = time.perf_counter()
        drain_s.append(t1 - t0)
        eval_s.append(t2 - t1)
        tick_s.append(t2 - t0)
        next_tick += TICK
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    time.sleep(0.05)
    live.drain_into_scene(scene, ctl, live.MAX_FRAMES)
    stats = ctl.session.stats()
    lat = ctl.latency_summary()
    set_all = np.concatenate([np.array(ctl.latency[s]) for s in ("left", "right")])
    handoff = np.array(ctl.session._drain_delay)
    ctl.shutdown()

    received = sum(f["received"] for f in stats["feet"].values())
    print(f"UDP open frames, demo take, {SECONDS:g} s real time: sent {out.get('sent')}, received {received}, "
          f"ticks {len(tick_s)} at {1 / TICK:.0f} Hz")
    print(f"{'stage':52s} {'p50 ms':>8s} {'p95 ms':>8s} {'x reference':>12s}")
    ref50 = _pct(handoff, 50)
    rows = [("hand-off: arrival -> off the queue (reference)", handoff),
            ("arrival -> live property set, newest frame/foot", set_all)]
    for name, a in rows:
        print(f"{name:52s} {_pct(a, 50):8.2f} {_pct(a, 95):8.2f} {_pct(a, 50) / ref50 if ref50 else 0:12.2f}")
    for side, v in lat.items():
        print(f"{'  ' + side + ' (n=' + str(v['n']) + ')':52s} {v['p50_ms']:8.2f} {v['p95_ms']:8.2f}")
    print(f"{'main thread: drain_into_scene per tick':52s} {_pct(drain_s, 50):8.3f} {_pct(drain_s, 95):8.3f}")
    print(f"{'main thread: depsgraph update per tick':52s} {_pct(eval_s, 50):8.3f} {_pct(eval_s, 95):8.3f}")
    print(f"{'main thread: both, share of a 16.7 ms frame (%)':52s} "
          f"{100 * _pct(tick_s, 50) / (TICK * 1e3):8.1f} {100 * _pct(tick_s, 95) / (TICK * 1e3):8.1f}")


if __name__ == "__main__":
    main()
