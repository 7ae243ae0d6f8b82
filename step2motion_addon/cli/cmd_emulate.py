# SPDX-License-Identifier: GPL-3.0-or-later
"""``emulate``: stream a take as a live insole pair over UDP (open frames or Moticon vectors)."""

from __future__ import annotations

import json
import os

HELP = "stream a take as a live device over UDP (open frame or Moticon format)"
DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples", "demo_walk.s2m")


def add_arguments(parser) -> None:
    parser.add_argument("take", nargs="?", default=None,
                        help="any recording load_take reads (default: the embedded demo sample)")
    parser.add_argument("--udp", required=True, metavar="HOST:PORT", help="where to send the datagrams")
    parser.add_argument("--format", choices=("open", "moticon"), default="open",
                        help="open frame (one datagram per foot sample) or Moticon 51-value text vector")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1: real time)")
    parser.add_argument("--drop", type=float, default=0.0, metavar="P", help="drop each packet with probability P")
    parser.add_argument("--seed", type=int, default=0, help="random seed for --drop")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--json", default=None, metavar="OUT.json", help="write the send counts here")


def run(args) -> int:
    from ..core.formats import load_take
    from ..devices.emulator import stream_udp
    from ..devices.udp import parse_hostport

    path = args.take or DEMO
    if args.take is None and not os.path.exists(DEMO):
        print("error: no TAKE given and the demo sample is not installed", flush=True)
        return 2
    if not 0.0 <= args.drop < 1.0:
        print("error: --drop must be in [0, 1)")
        return 2
    if args.rate <= 0:
        print("error: --rate must be > 0")
        return 2
    take = load_take(path)
    host, port = parse_hostport(args.udp)
    print(f"streaming {path} ({take.duration:.1f} s, {', '.join(take.sides)}) to {host}:{port} "
          f"as {args.format} at {args.rate:g}x", flush=True)
    try:
        result = stream_udp(take, host, port, args.format, args.rate, args.drop, args.seed, args.duration)
    except KeyboardInterrupt:
        return 130
    print(f"sent {result['sent']} packets, dropped {result['dropped']} on purpose, in {result['elapsed_s']} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0
