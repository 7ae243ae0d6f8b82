# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes a live capture, as it arrives, to a native ``.s2m`` take.

The session calls :meth:`Recorder.frame`/``raw``/``gap``/``note`` from its
loop thread; those only enqueue. A writer thread batches them every
``flush_interval`` into :class:`~..core.formats.native.NativeWriter`, which
commits at least every 0.2 s, so a killed process loses well under 0.5 s.
Raw packets are kept too, so a better decoder can re-read the take later.
Stopping closes the file, which is then an ordinary take (``load_take``).
"""

from __future__ import annotations

import queue
import threading

import numpy as np

from ..core.take import TakeMeta


class Recorder:
    def __init__(self, path, meta: TakeMeta | None = None, overwrite: bool = False,
                 flush_interval: float = 0.1, keep_raw: bool = True):
        from ..core.formats.native import NativeWriter
        self.path = str(path)
        self.meta = meta or TakeMeta(device="live", recording_type="live")
        self.writer = NativeWriter(self.path, self.meta, overwrite=overwrite)
        self.keep_raw = keep_raw
        self.flush_interval = flush_interval
        self._ops: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self.frames_written = {"left": 0, "right": 0}
        self.raw_written = 0
        self.gaps_written = 0
        self.rejected = 0
        self.errors: list[str] = []
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="step2motion-recorder", daemon=True)
        self._thread.start()

    # -- producer side (session loop thread): never blocks on disk
    def frame(self, frame) -> None:
        self._ops.put(("frame", frame))

    def raw(self, side: str, host_time: float, payload: bytes, decoder: str) -> None:
        if self.keep_raw:
            self._ops.put(("raw", (side, host_time, bytes(payload), decoder)))

    def gap(self, side: str, t0: float, t1: float, reason: str) -> None:
        self._ops.put(("gap", (side, t0, t1, reason)))

    def note(self, text: str) -> None:
        self._ops.put(("note", text))

    # -- writer thread
    def _work(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        frames: dict[str, list] = {"left": [], "right": []}
        others = []
        while True:
            try:
                kind, item = self._ops.get_nowait()
            except queue.Empty:
                break
            if kind == "frame":
                frames[item.side].append(item)
            else:
                others.append((kind, item))
        for side, items in frames.items():
            if items:
                self._write_frames(side, items)
        w = self.writer
        for kind, item in others:
            try:
                if kind == "raw":
                    w.append_raw(*item)
                    self.raw_written += 1
                elif kind == "gap":
                    w.mark_gap(*item)
                    self.gaps_written += 1
                else:
                    w.note(item)
            except Exception as exc:  # a full disk must not kill the capture thread silently
                self._error(exc)

    def _write_frames(self, side: str, items: list) -> None:
        # Consecutive frames with the same channels go in one append.
        start = 0
        for i in range(1, len(items) + 1):
            if i == len(items) or _signature(items[i]) != _signature(items[start]):
                self._append(side, items[start:i])
                start = i

    def _append(self, side: str, items: list) -> None:
        f0 = items[0]
        try:
            self.writer.append(
                side, np.array([f.time for f in items]), np.stack([f.pressure for f in items]),
                acc=None if f0.acc is None else np.stack([f.acc for f in items]),
                gyro=None if f0.gyro is None else np.stack([f.gyro for f in items]),
                force=None if f0.force is None else np.array([f.force for f in items], dtype=np.float32),
                cop=None if f0.cop is None else np.array([f.cop for f in items], dtype=np.float32),
                layout=f0.layout)
            self.frames_written[side] += len(items)
        except ValueError as exc:          # channels changed mid-take, time not increasing
            self.rejected += len(items)
            self._error(exc)

    def _error(self, exc: Exception) -> None:
        if len(self.errors) < 20:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self) -> dict:
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._thread.join()
            self.writer.close()
        return {"path": self.path, "frames": dict(self.frames_written), "raw_packets": self.raw_written,
                "gaps": self.gaps_written, "rejected_frames": self.rejected, "errors": list(self.errors)}


def _signature(f) -> tuple:
    return (len(f.pressure), f.layout, f.acc is None, f.gyro is None, f.force is None, f.cop is None)
