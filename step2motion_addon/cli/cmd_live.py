# SPDX-License-Identifier: GPL-3.0-or-later
"""``live``: headless capture from BLE insoles, a UDP stream or a replayed take, recorded to .s2m."""

from __future__ import annotations

import json
import signal
import threading
import time

HELP = "capture live insole data (BLE, UDP or replay) into a .s2m take"


def add_arguments(parser) -> None:
    parser.add_argument("--source", required=True,
                        help="ble (open frame over NUS) | ble-orphe (ORPHE INSOLE/CORE) | "
                             "udp://HOST:PORT (HOST defaults to 127.0.0.1) | replay:TAKE")
    parser.add_argument("--record", default=None, metavar="OUT.s2m", help="write everything received here")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT.s2m if it exists")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: Ctrl-C, or the end of a replay)")
    parser.add_argument("--json", default=None, metavar="STATS.json", help="write capture statistics here")
    parser.add_argument("--format", choices=("auto", "open", "moticon"), default="auto", help="UDP payload format")
    parser.add_argument("--allow", default=None, metavar="HOST",
                        help="UDP: accept datagrams only from this sender address")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    parser.add_argument("--adapter", default=None, help="BLE adapter (Linux: hci0, ...)")
    parser.add_argument("--scan-timeout", type=float, default=20.0, help="BLE: seconds to find both insoles")
    parser.add_argument("--feet", default="left,right", help="BLE: which insoles to wait for")
    parser.add_argument("--no-raw", action="store_true", help="do not keep raw packets in the take")


def make_source(args):
    src = args.source
    if src.startswith("udp://") or src.startswith("udp:"):
        from ..devices.udp import UdpSource, parse_hostport
        host, port = parse_hostport(src.split(":", 1)[1].lstrip("/"))
        return UdpSource(host, port, args.format, allow=args.allow)
    if src.startswith("replay:"):
        from ..core.formats import load_take
        from ..devices.replay import ReplaySource
        return ReplaySource(load_take(src[len("replay:"):]), rate=args.rate)
    if src in ("ble", "ble-orphe"):
        from ..devices.ble import BleSource, OrpheBleSource
        cls = OrpheBleSource if src == "ble-orphe" else BleSource
        return cls(feet=tuple(s.strip() for s in args.feet.split(",") if s.strip()),
                   adapter=args.adapter, scan_timeout=args.scan_timeout)
    raise SystemExit(f"error: unknown --source {src!r} "
                     "(expected ble, ble-orphe, udp://HOST:PORT or replay:TAKE)")


def run(args) -> int:
    from ..core.take import TakeMeta
    from ..devices.recorder import Recorder
    from ..devices.session import LiveSession

    source = make_source(args)
    recorder = None
    if args.record:
        meta = TakeMeta(device=f"live {args.source.split(':')[0]}", recording_type="live",
                        start_time=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        start_timestamp_ms=int(time.time() * 1000), notes=f"source {args.source}")
        recorder = Recorder(args.record, meta, overwrite=args.overwrite, keep_raw=not args.no_raw)
    session = LiveSession(source, recorder)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    session.start()
    if hasattr(source, "port"):
        # Port 0 asks the OS for a free port: report the real one (tests and scripts read this line).
        for _ in range(200):
            if source.bound or not session.running:
                break
            time.sleep(0.01)
        if source.bound:
            print(f"listening on udp://{source.bound[0]}:{source.bound[1]}", flush=True)
    else:
        print(f"capturing from {args.source}", flush=True)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    from ..devices.session import drain
    while not stop.is_set() and session.running:
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(0.05)
        drain(session, 100000)        # headless: keep the display queue empty, measure its latency
    session.stop()
    stats = session.stats()
    if recorder is not None:
        stats["recording"] = recorder.close()
    for side, f in stats["feet"].items():
        print(f"{side}: {f['received']} frames, {f['lost']} lost, {f['reconnects']} reconnects, "
              f"{f['rate_hz']} Hz")
    print(f"bad frames {stats['bad_frames']}, rejected {stats['rejected_packets']}"
          + (f", errors: {'; '.join(stats['errors'])}" if stats["errors"] else ""))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(stats, fh, indent=2)
    return 1 if stats["errors"] and not stats["feet"] else 0
