# SPDX-License-Identifier: GPL-3.0-or-later
"""``live``: headless capture from BLE insoles, a UDP stream or a replayed take, recorded to .s2m."""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
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
                        help="UDP: accept datagrams only from this sender (an address or a host name, "
                             "resolved at start)")
    parser.add_argument("--moticon-columns", default=None, metavar="MAP.json",
                        help="UDP Moticon: which column of the OpenGo vector holds what, as a JSON file (or "
                             "inline JSON), e.g. {\"time\": 0, \"left\": {\"pressure\": [9, ..., 24], "
                             "\"force\": 25}}; default: the full 51-value vector (docs/live.md)")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    parser.add_argument("--adapter", default=None, help="BLE adapter (Linux: hci0, ...)")
    parser.add_argument("--scan-timeout", type=float, default=20.0, help="BLE: seconds to find both insoles")
    parser.add_argument("--feet", default="left,right", help="BLE: which insoles to wait for")
    parser.add_argument("--no-raw", action="store_true", help="do not keep raw packets in the take")


_MAP_KEYS = ("time", "time_scale", "left", "right", "comment")
_FOOT_KEYS = {"acc": 3, "gyro": 3, "cop": 2, "pressure": None, "force": 1}
_MAX_COLUMN = 2048          # a datagram is at most 4096 bytes: no more values than this


def _column(value, what: str, problems: list) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COLUMN:
        problems.append(f"{what} must be a column index 0..{_MAX_COLUMN - 1}, not {json.dumps(value)}")


def column_map_problems(spec) -> list[str]:
    """What is wrong with a Moticon column map given as JSON data (empty list: nothing)."""
    if not isinstance(spec, dict):
        return ["expected a JSON object such as {\"time\": 0, \"left\": {\"pressure\": [9, 10, ...]}}"]
    problems = [f"unknown key {k!r} (expected {', '.join(_MAP_KEYS)})" for k in spec if k not in _MAP_KEYS]
    if spec.get("time") is not None:
        _column(spec["time"], "time", problems)
    scale = spec.get("time_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        problems.append(f"time_scale must be a positive number (seconds per time unit), not {json.dumps(scale)}")
    sides = [s for s in ("left", "right") if s in spec]
    if not sides:
        problems.append("no foot: give \"left\" and/or \"right\"")
    for side in sides:
        foot = spec[side]
        if not isinstance(foot, dict):
            problems.append(f"{side} must be an object of channels ({', '.join(_FOOT_KEYS)})")
            continue
        problems += [f"{side}: unknown channel {k!r} (expected {', '.join(_FOOT_KEYS)})"
                     for k in foot if k not in _FOOT_KEYS]
        pressure = foot.get("pressure")
        if not isinstance(pressure, list) or not 1 <= len(pressure) <= 64:
            problems.append(f"{side}.pressure must be a list of 1 to 64 column indices")
        else:
            for i, col in enumerate(pressure):
                _column(col, f"{side}.pressure[{i}]", problems)
        for name, n in _FOOT_KEYS.items():
            value = foot.get(name)
            if name == "pressure" or value is None:
                continue
            if n == 1:
                _column(value, f"{side}.{name}", problems)
            elif not isinstance(value, list) or len(value) != n:
                problems.append(f"{side}.{name} must be a list of {n} column indices or null")
            else:
                for i, col in enumerate(value):
                    _column(col, f"{side}.{name}[{i}]", problems)
    return problems


def load_column_map(text: str):
    """--moticon-columns: a JSON file (or inline JSON) → ColumnMap; ValueError saying what is wrong."""
    from ..devices.moticon_udp import ColumnMap
    text = text.strip()
    if text[:1] in ("{", "["):          # inline JSON
        where, raw = "--moticon-columns", text
    else:
        where = f"--moticon-columns {text}"
        try:
            with open(text, encoding="utf-8") as fh:
                raw = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: cannot read the column map ({getattr(exc, 'strerror', None) or exc})") \
                from None
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from None
    problems = column_map_problems(spec)
    if problems:
        raise ValueError(f"{where}: bad Moticon column map: {'; '.join(problems)}")
    return ColumnMap.from_dict(spec)


def make_source(args):
    src = args.source
    columns = getattr(args, "moticon_columns", None)
    is_udp = src.startswith("udp://") or src.startswith("udp:")
    if columns is not None and (not is_udp or args.format == "open"):
        raise ValueError("--moticon-columns applies to a UDP source in the moticon (or auto) format")
    if is_udp:
        from ..devices import moticon_udp
        from ..devices.udp import UdpSource, parse_hostport
        host, port = parse_hostport(src.split(":", 1)[1].lstrip("/"))
        cmap = load_column_map(columns) if columns is not None else moticon_udp.DEFAULT_MAP
        source = UdpSource(host, port, args.format, allow=args.allow, column_map=cmap)
        source.resolve_allow()          # a sender name that does not resolve: say so now, not after start
        return source
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

    # Session warnings (a listener open to the network, ...) go through logging: show them on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        source = make_source(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
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
    bad_raw = stats["bad_raw"]
    print(f"bad frames {stats['bad_frames']}"
          + (f" ({bad_raw['kept']} kept as raw packets, {bad_raw['not_kept']} not)" if recorder is not None
             and not args.no_raw and stats["bad_frames"] else "")
          + f", rejected {stats['rejected_packets']}"
          + (f", errors: {'; '.join(stats['errors'])}" if stats["errors"] else ""))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(stats, fh, indent=2)
    return 1 if stats["errors"] and not stats["feet"] else 0
