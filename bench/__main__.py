# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m bench [topic ...]``: run every bench/bench_*.py main() in turn, or the named ones."""

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(p.stem[len("bench_"):] for p in here.glob("bench_*.py"))
    chosen = [a.removeprefix("bench_") for a in argv] or names
    unknown = [c for c in chosen if c not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {names}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"== bench_{name}")
        importlib.import_module(f"bench.bench_{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
