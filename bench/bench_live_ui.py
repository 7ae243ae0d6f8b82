# SPDX-License-Identifier: GPL-3.0-or-later
"""Live view latency in Blender: frame arrival (socket) → live insole property set.

A real UDP listener receives the emulator's open frames of the demo take
(2 × 100 Hz, real time) while a 60 Hz loop stands in for the ``bpy.app.timers``
callback (timers do not fire in a bpy-module process) and calls
``drain_into_scene``, then evaluates the depsgraph as a redraw would.
Reference measured in the same run: the session's own hand-off latency
(arrival → taken off the queue), which the drain adds nothing to but the
property writes. Also: main-thread cost per tick.

Then the same stream with **Follow with Character** on (default character,
the model set found like Reconstruct Motion does, else ``runs/smoke/model_set``;
``STEP2MOTION_MODELS`` wins), for hop 10 and hop 50: frame arrival → a pose
covering it exists (worker), newest covered frame → on the bones (main
thread), model window cost, worker CPU per second of input, main-thread cost
with vs without the character. Last, the streaming reconstructor replaying the
demo take as fast as it can against the offline reconstruction of the same
take (accuracy gap and speed).

    .venv/bin/python -m bench live_ui
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

SECONDS = 8.0
TICK = 1.0 / 60.0
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"


def _pct(a, q):
    return float(np.percentile(np.asarray(a) * 1e3, q))


def _model_dir():
    import os
    for d in (os.environ.get("STEP2MOTION_MODELS", ""), ROOT / "models" / "step2motion-best",
              ROOT / "runs" / "smoke" / "model_set"):
        if d and (Path(d) / "model_set.json").is_file():
            return Path(d)
    return None


def _stream(follow_hop=None, models=None, smooth=False):
    """One 8 s real-time UDP stream drained at 60 Hz; with a following character when ``follow_hop``."""
    import bpy

    from step2motion_addon.blender import live
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.devices import emulator
    from step2motion_addon.devices.udp import UdpSource

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    demo = load_take(str(DEMO))
    ctl = live.LiveController()
    source = UdpSource("127.0.0.1", 0, "open")
    ctl.start(source, "udp", "bench", scene=scene, insole_size=demo.meta.insole_size)
    body = ctl.follow(bpy.context, models=models, hop=follow_hop, smooth=smooth) if follow_hop else None
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
    res = {"stats": ctl.session.stats(), "lat": ctl.latency_summary(),
           "set_all": np.concatenate([np.array(ctl.latency[s]) for s in ("left", "right")]),
           "handoff": np.array(ctl.session._drain_delay), "drain": drain_s, "eval": eval_s, "tick": tick_s,
           "sent": out.get("sent"), "body": body.stats() if body else None,
           "body_latency": np.array(body.rec.latency) if body else None,
           "fresh": np.array(body.fresh_latency) if body else None,
           "window": np.array(body.rec.window_cost) if body else None}
    ctl.shutdown()
    return res


def _offline_gap(models):
    """Streaming replay (hop 50, as fast as possible) vs offline sequential reconstruction of the demo."""
    from step2motion_addon.core.formats import load_take
    from step2motion_addon.core.inference import reconstruct
    from step2motion_addon.core.inference.streaming import replay_take
    demo = load_take(str(DEMO))
    t0 = time.perf_counter()
    off = reconstruct(demo, models, mode="sequential")
    t_off = time.perf_counter() - t0
    out = {"offline_s": t_off, "seconds": demo.duration}
    for hop in (50, 10):
        t0 = time.perf_counter()
        rec, poses = replay_take(demo, models, hop=hop, keep_poses=100000,
                                 body_mass_kg=demo.meta.body_mass_kg or None)
        t = time.perf_counter() - t0
        rots = np.stack([p.rotations for p in poses])
        d = np.degrees(2 * np.arccos(np.clip(np.abs((rots[:, 1:] * off.rotations[:, 1:]).sum(-1)), 0, 1)))
        pos = np.stack([p.root_pos for p in poses])
        out[hop] = {"s": t, "rot_mean": float(d.mean()), "rot_p95": float(np.percentile(d, 95)),
                    "height": float(np.abs(pos[:, 2] - off.root_pos[:, 2]).mean()),
                    "ground": float(np.linalg.norm(pos[:, :2] - off.root_pos[:, :2], axis=1).mean()),
                    "path": (float(np.linalg.norm(np.diff(pos[:, :2], axis=0), axis=1).sum()),
                             float(np.linalg.norm(np.diff(off.root_pos[:, :2], axis=0), axis=1).sum())),
                    "cpu": rec.stats()["cpu_s_per_input_s"]}
    return out


def main() -> None:
    base = _stream()
    handoff = base["handoff"]
    received = sum(f["received"] for f in base["stats"]["feet"].values())
    print(f"UDP open frames, demo take, {SECONDS:g} s real time: sent {base['sent']}, received {received}, "
          f"ticks {len(base['tick'])} at {1 / TICK:.0f} Hz")
    print(f"{'stage':52s} {'p50 ms':>8s} {'p95 ms':>8s} {'x reference':>12s}")
    ref50 = _pct(handoff, 50)
    rows = [("hand-off: arrival -> off the queue (reference)", handoff),
            ("arrival -> live property set, newest frame/foot", base["set_all"])]
    for name, a in rows:
        print(f"{name:52s} {_pct(a, 50):8.2f} {_pct(a, 95):8.2f} {_pct(a, 50) / ref50 if ref50 else 0:12.2f}")
    for side, v in base["lat"].items():
        print(f"{'  ' + side + ' (n=' + str(v['n']) + ')':52s} {v['p50_ms']:8.2f} {v['p95_ms']:8.2f}")
    print(f"{'main thread: drain_into_scene per tick':52s} {_pct(base['drain'], 50):8.3f} {_pct(base['drain'], 95):8.3f}")
    print(f"{'main thread: depsgraph update per tick':52s} {_pct(base['eval'], 50):8.3f} {_pct(base['eval'], 95):8.3f}")
    print(f"{'main thread: both, share of a 16.7 ms frame (%)':52s} "
          f"{100 * _pct(base['tick'], 50) / (TICK * 1e3):8.1f} {100 * _pct(base['tick'], 95) / (TICK * 1e3):8.1f}")

    path = _model_dir()
    if path is None:
        print("no model set (models/step2motion-best, runs/smoke/model_set or $STEP2MOTION_MODELS): "
              "body rows skipped")
        return
    from step2motion_addon.core.inference import ModelSet
    models = ModelSet(path, intra_op_threads=1)
    print(f"\nFollow with Character, model set {path.name} ({path}), 1 onnxruntime thread, same stream:")
    print(f"{'stage':52s} {'p50 ms':>8s} {'p95 ms':>8s} {'x reference':>12s}")
    for hop, smooth in ((10, False), (10, True), (50, False)):
        r = _stream(hop, models, smooth)
        b = r["body"]
        ref = _pct(r["handoff"], 50)
        print(f"-- hop {hop} ({hop / models.rate * 1e3:.0f} ms of motion per window){', smooth' if smooth else ''}: "
              f"windows {b['windows']}, "
              f"skipped {b['skipped']} frames, dropped {b['dropped_frames']}, error {b['error'] or 'none'}")
        for name, a in (("hand-off (reference)", r["handoff"]),
                        ("arrival -> a pose covers it (every frame)", r["body_latency"]),
                        ("newest covered frame -> on the bones" + (" (played)" if smooth else ""), r["fresh"]),
                        ("worker: one model window", r["window"])):
            if a is not None and len(a):
                print(f"{name:52s} {_pct(a, 50):8.2f} {_pct(a, 95):8.2f} {_pct(a, 50) / ref if ref else 0:12.2f}")
        print(f"{'main thread: drain + apply per tick':52s} {_pct(r['drain'], 50):8.3f} {_pct(r['drain'], 95):8.3f} "
              f"{_pct(r['drain'], 50) / _pct(base['drain'], 50):12.2f}")
        print(f"{'main thread: depsgraph update per tick':52s} {_pct(r['eval'], 50):8.3f} {_pct(r['eval'], 95):8.3f} "
              f"{_pct(r['eval'], 50) / _pct(base['eval'], 50):12.2f}")
        cpu = b["cpu_s_per_input_s"]
        print(f"{'worker CPU per second of input (s/s)':52s} {cpu:8.3f} {'':8s} "
              f"{'keeps up' if cpu < 1 and not b['skipped'] else 'FALLS BEHIND':>12s}")

    g = _offline_gap(models)
    print(f"\nStreaming replay of the demo take ({g['seconds']:.1f} s) vs offline reconstruct(mode='sequential') "
          f"({g['offline_s']:.2f} s):")
    print(f"{'hop':>4s} {'wall s':>7s} {'x real time':>11s} {'CPU s/s':>8s} {'rot mean deg':>13s} {'rot p95':>8s} "
          f"{'height mm':>10s} {'ground m':>9s} {'path m (stream/offline)':>24s}")
    for hop in (50, 10):
        h = g[hop]
        print(f"{hop:4d} {h['s']:7.2f} {g['seconds'] / h['s']:11.1f} {h['cpu']:8.3f} {h['rot_mean']:13.3f} "
              f"{h['rot_p95']:8.3f} {h['height'] * 1e3:10.1f} {h['ground']:9.3f} "
              f"{h['path'][0]:11.2f} / {h['path'][1]:.2f}")


if __name__ == "__main__":
    main()
