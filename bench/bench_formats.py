# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a 1-hour two-foot 100 Hz Moticon export (~360,000 rows) and the same take as .s2m.

Each figure runs in a fresh subprocess; peak memory is tracemalloc's peak (numpy buffers included).
Reference, measured in the same run on the same file: numpy.loadtxt (numpy's C
parser) over the 51 numeric columns.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = float(os.environ.get("BENCH_FORMATS_SECONDS", 3600))

CHILD = r"""
import json, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
import numpy as np
import step2motion_addon.core.formats.moticon, step2motion_addon.core.formats.native
what, path, mem = sys.argv[2], sys.argv[3], sys.argv[4] == "mem"
if mem:
    tracemalloc.start()  # numpy reports its buffers to tracemalloc; ru_maxrss is inherited across exec
t0 = time.perf_counter()
if what == "ours":
    from step2motion_addon.core.formats import load_take
    take = load_take(path)
    rows = sum(len(f) for f in take.feet.values()) // 2
elif what == "loadtxt":
    a = np.loadtxt(path, delimiter="\t", comments="#", usecols=range(51))
    rows = a.shape[0]
elif what == "native":
    from step2motion_addon.core.formats import load_take
    take = load_take(path)
    rows = sum(len(f) for f in take.feet.values()) // 2
dt = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1] / 1e6 if mem else 0.0
print(json.dumps({"s": dt, "rows": rows, "peak_mb": peak, "delta_mb": peak}))
"""


def _run(what: str, path: Path) -> dict:
    """Time from a plain run, peak memory from a second run under tracemalloc (which slows it)."""
    res = {}
    for mode in ("time", "mem"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), what, str(path), mode],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        res.update(r if mode == "time" else {"peak_mb": r["peak_mb"], "delta_mb": r["delta_mb"]})
    return res


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from step2motion_addon.core.formats import save_take
    from step2motion_addon.core.synthetic import synthetic_walk
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        take = synthetic_walk(DURATION, rate=100.0, seed=0)
        gen = time.perf_counter() - t0
        txt, s2m = Path(tmp) / "hour.txt", Path(tmp) / "hour.s2m"
        t0 = time.perf_counter()
        save_take(take, txt)
        write_txt = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_take(take, s2m)
        write_s2m = time.perf_counter() - t0
        del take
        size = txt.stat().st_size / 1e6
        ours, ref, nat = _run("ours", txt), _run("loadtxt", txt), _run("native", s2m)
        print(f"synthetic take: {DURATION:.0f} s, {ours['rows']} rows, generated in {gen:.2f} s; "
              f"Moticon .txt {size:.1f} MB written in {write_txt:.1f} s, .s2m {s2m.stat().st_size / 1e6:.1f} MB "
              f"in {write_s2m:.2f} s")
        print(f"{'what':34s} {'time s':>8s} {'peak MB':>8s} {'peak/file':>9s}")
        rows = [("load_take(.txt) [target <=3 s]", ours), ("numpy.loadtxt (reference)", ref),
                ("load_take(.s2m) [target <=1 s]", nat)]
        for name, r in rows:
            print(f"{name:34s} {r['s']:8.2f} {r['peak_mb']:8.0f} {r['delta_mb'] / size:9.2f}")
        print(f"ratio load_take(.txt) / numpy.loadtxt: {ours['s'] / ref['s']:.2f}  "
              f"(peak memory: {ours['delta_mb']:.0f} MB = {ours['delta_mb'] / size:.2f}x file, target <=4x)")


if __name__ == "__main__":
    main()
