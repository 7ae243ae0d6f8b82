# SPDX-License-Identifier: GPL-3.0-or-later
"""Cost of the pose denoiser on this CPU via onnxruntime, against the published sampling cost.

``python -m bench.bench_models`` (needs torch to export a randomly initialised
model of the default architecture; timings do not depend on the weights).
Prints one denoiser call for a 100-frame window at batch 1 and batched, the
few-step offline cost per second of motion, and the published-style cost
(200 calls per window, 50 new frames per window) measured in the same run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _time(fn, repeat):
    fn()                                    # warm-up (allocations, graph optimisation)
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return float(np.median(best))


def main(threads: int = 2) -> dict:
    import onnxruntime as ort
    import torch

    from training import export, models

    cfg = json.loads((ROOT / "training" / "config" / "cpu_default.json").read_text())
    torch.manual_seed(0)
    model = models.build("pose", cfg["models"]["pose"])
    params = models.count_parameters(model)
    window, hop, calls = cfg["window"], cfg["hop"], cfg["diffusion"]["calls"]
    rate = cfg["rate"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pose.onnx"
        export.export_onnx("pose", model, path, window)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)

        def call(b):
            feeds = {"x_t": rng.standard_normal((b, window, 135)).astype(np.float32),
                     "t": np.full(b, 500.0, np.float32),
                     "cond": rng.standard_normal((b, window, 58)).astype(np.float32),
                     "cond_mask": np.ones((b, 8), np.float32)}
            return lambda: sess.run(None, feeds)
        t1 = _time(call(1), 20)
        batched = {b: _time(call(b), 5) for b in (8, 32)}
    new_s = hop / rate                              # seconds of new motion per window
    published = 200 * t1                            # 200 sequential calls per window
    ours_seq = calls * t1                           # few-step, sequential (streaming)
    ours_batch = calls * batched[32] / 32           # few-step, 32 windows per call (offline)
    rows = [
        ("parameters (pose denoiser)", f"{params:,}", ""),
        ("1 call, 100-frame window, batch 1", f"{t1 * 1e3:.1f} ms", ""),
        ("1 call, batch 8 (per window)", f"{batched[8] / 8 * 1e3:.1f} ms", f"{t1 / (batched[8] / 8):.1f}x vs batch 1"),
        ("1 call, batch 32 (per window)", f"{batched[32] / 32 * 1e3:.1f} ms", f"{t1 / (batched[32] / 32):.1f}x vs batch 1"),
        ("published: 200 calls / window (50 new frames)", f"{published:.2f} s", f"{new_s / published:.2f}x real time"),
        (f"ours streaming: {calls} calls / window", f"{ours_seq * 1e3:.0f} ms", f"{new_s / ours_seq:.1f}x real time"),
        (f"ours offline: {calls} calls, 32 windows batched", f"{ours_batch * 1e3:.1f} ms/window",
         f"{new_s / ours_batch:.0f}x real time"),
        ("speed-up offline vs published", f"{published / ours_batch:.0f}x", ""),
    ]
    print(f"Pose denoiser on onnxruntime, {threads} threads, window {window}, hop {hop} @ {rate:g} Hz")
    for name, value, ratio in rows:
        print(f"  {name:<48s} {value:>16s}  {ratio}")
    return {"params": params, "call_b1_s": t1, "call_b8_s": batched[8], "call_b32_s": batched[32],
            "published_window_s": published, "ours_stream_window_s": ours_seq, "ours_offline_window_s": ours_batch}


if __name__ == "__main__":
    main()
