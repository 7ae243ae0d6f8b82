# SPDX-License-Identifier: GPL-3.0-or-later
"""One live capture: a source, its asyncio loop in a daemon thread, a frame queue.

Blender (or the CLI) owns a :class:`LiveSession`, calls :meth:`start`, then on
its main thread calls :func:`drain` from a timer to take the decoded frames,
and :meth:`stop` at the end. Everything device-side runs on the session's own
event loop thread; nothing there may touch ``bpy``. The hand-off queue is
bounded: when the consumer stalls, the oldest frames are dropped from the
*display* queue (and counted) while the recorder still receives every frame.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque

import numpy as np

from .clock import FootClock
from .frame import BadChecksum, BadHeader, BadValue, DecodeStats, Frame, FrameError, TruncatedFrame

SIDES = ("left", "right")
log = logging.getLogger(__name__)

# Why a decoder rejected a packet, as recorded after the '!' of a raw packet's decoder name.
REJECT_REASONS = ((BadChecksum, "crc"), (TruncatedFrame, "truncated"), (BadHeader, "header"), (BadValue, "value"))
REJECT_MARK = "!"


def rejected_decoder(decoder: str, exc: BaseException) -> str:
    """'open_frame' + a CRC error → 'open_frame!crc': the decoder name of a rejected raw packet."""
    reason = next((name for cls, name in REJECT_REASONS if isinstance(exc, cls)), "bad")
    return f"{decoder}{REJECT_MARK}{reason}"


def split_decoder(name: str) -> tuple[str, str | None]:
    """A raw packet's decoder field → (decoder, reason it was rejected, or None for a decoded packet)."""
    decoder, mark, reason = str(name).partition(REJECT_MARK)
    return decoder, (reason if mark else None)


class BadRawBudget:
    """How much of the rejected packets a take keeps: a token bucket of bytes/s and a total cap.

    Rejected packets are rare on a working link; a misconfigured or hostile
    sender can send thousands a second. Beyond ``bytes_per_s`` (with bursts up
    to ``burst`` bytes) or ``total`` bytes in all they are only counted.
    """

    def __init__(self, bytes_per_s: float = 16384, burst: int = 65536, total: int = 8 << 20):
        self.rate, self.burst, self.total = float(bytes_per_s), int(burst), int(total)
        self.tokens = float(burst)
        self.last_ns: int | None = None
        self.kept = self.kept_bytes = self.not_kept = 0

    def allow(self, size: int, now_ns: int) -> bool:
        if self.last_ns is not None and now_ns > self.last_ns:
            self.tokens = min(float(self.burst), self.tokens + (now_ns - self.last_ns) * 1e-9 * self.rate)
        if self.last_ns is None or now_ns > self.last_ns:
            self.last_ns = now_ns
        if size <= self.tokens and self.kept_bytes + size <= self.total:
            self.tokens -= size
            self.kept += 1
            self.kept_bytes += size
            return True
        self.not_kept += 1
        return False

    def as_dict(self) -> dict:
        return {"kept": self.kept, "kept_bytes": self.kept_bytes, "not_kept": self.not_kept}


class FootStats:
    def __init__(self) -> None:
        self.received = 0
        self.lost = 0
        self.late = 0
        self.connects = 0
        self.disconnects = 0
        self.reconnects = 0
        self.first_host: float | None = None
        self.last_host: float | None = None
        # frame times on the host axis from the clock model (device pacing, not arrival bursts)
        self.first_time: float | None = None
        self.last_time: float | None = None
        # the same on the device's own clock, where it sends one (the sampling rate, load-proof)
        self.first_device: float | None = None
        self.last_device: float | None = None
        self.device_clock_restarted = False      # a reconnect may restart it: then the host span
        self.battery: int | None = None
        self.rssi: int | None = None
        self.gaps = 0

    def as_dict(self, clock: FootClock) -> dict:
        span = (self.last_host - self.first_host) if self.first_host is not None else 0.0
        dev_span = (self.last_time - self.first_time) if self.first_time is not None else 0.0
        if (self.first_device is not None and not self.device_clock_restarted
                and self.last_device > self.first_device):
            # The clock model's early fit can place the first frame a stall late on the host axis;
            # the device's own timestamps do not depend on how busy the host was.
            dev_span = self.last_device - self.first_device
        jitter = clock.model.jitter() if clock.model.count else np.zeros(0)
        return {
            "received": self.received, "lost": self.lost, "late_or_duplicate": self.late,
            "connects": self.connects, "disconnects": self.disconnects, "reconnects": self.reconnects,
            "gaps": self.gaps,
            # the insole's own sampling rate; arrival rate shows the link's burstiness
            "rate_hz": round((self.received - 1) / dev_span, 3) if dev_span > 0 else 0.0,
            "arrival_rate_hz": round((self.received - 1) / span, 3) if span > 0 else 0.0,
            "clock_drift_ppm": round((clock.model.slope - 1.0) * 1e6, 1),
            "arrival_jitter_ms_p50": round(float(np.percentile(jitter, 50)) * 1e3, 3) if len(jitter) else None,
            "arrival_jitter_ms_p95": round(float(np.percentile(jitter, 95)) * 1e3, 3) if len(jitter) else None,
            "battery_percent": self.battery, "rssi_dbm": self.rssi,
        }


class _PeriodGuess:
    """Loss counting for formats without a sequence number: gaps in device time."""

    def __init__(self) -> None:
        self.dts: deque = deque(maxlen=64)
        self.last: float | None = None

    def update(self, t: float) -> int:
        lost = 0
        if self.last is not None:
            dt = t - self.last
            if dt > 0:
                if len(self.dts) >= 8:
                    period = float(np.median(self.dts))
                    if period > 0 and dt > 1.5 * period:
                        lost = int(round(dt / period)) - 1
                self.dts.append(dt)
        self.last = t
        return lost


class LiveSession:
    """A source streaming into a queue (and optionally a recorder) on a private loop thread."""

    def __init__(self, source, recorder=None, maxsize: int = 20000,
                 bad_raw: BadRawBudget | None = None):
        self.source = source
        self.recorder = recorder
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.clocks = {s: FootClock() for s in SIDES}
        self.feet = {s: FootStats() for s in SIDES}
        self.decode_stats: dict[str, DecodeStats] = {}
        self.rejected_packets = 0
        self.queue_dropped = 0
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.bad_raw = bad_raw or BadRawBudget()
        self._period = {s: _PeriodGuess() for s in SIDES}
        self._pending_gap: dict[str, str] = {}
        self._drain_delay: deque = deque(maxlen=5000)
        self.events: deque = deque(maxlen=100)     # (seconds, side, kind, detail): shown in the UI/stats
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._shared = False            # running on a loop owned by someone else (the add-on's)
        self._task: asyncio.Task | None = None
        self._done = threading.Event()
        self.t0_ns = 0
        self.started_wall = 0.0

    # -- lifecycle (any thread) ------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> "LiveSession":
        """Run the source on ``loop`` (a loop already running in another thread, e.g. the
        add-on's service loop, which lives as long as the add-on), or on a private loop in a
        daemon thread of its own (the command line)."""
        if self._thread is not None or self._shared:
            raise RuntimeError("session already started")
        self.t0_ns = time.monotonic_ns()
        self.started_wall = time.time()
        if loop is not None:
            def spawn() -> None:
                self._task = loop.create_task(self._run())
                # Done once the source has disconnected, or if cancelled before it ever ran.
                self._task.add_done_callback(lambda _t: self._done.set())
            self._loop, self._shared = loop, True
            loop.call_soon_threadsafe(spawn)
            return self
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._task = loop.create_task(self._run())
            ready.set()
            try:
                loop.run_until_complete(self._task)
            except BaseException:   # cancelled on stop; errors are kept in self.errors
                pass
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self._done.set()

        # Daemon: a hung device must never keep Blender from quitting.
        self._thread = threading.Thread(target=main, name="step2motion-live", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    async def _run(self) -> None:
        try:
            await self.source.run(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:    # reported, not raised into the loop thread's void
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def submit(self, coro):
        """Run a coroutine on the session loop from another thread (concurrent Future)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @property
    def running(self) -> bool:
        return (self._thread is not None or self._shared) and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source ends by itself (a replay) or timeout; True if it ended."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the source, let it disconnect cleanly, join the thread, close the recorder."""
        if self._thread is None and not self._shared:
            return
        if not self._done.is_set() and self._loop is not None:
            try:                        # our task only: a shared loop goes on
                self._loop.call_soon_threadsafe(lambda: self._task.cancel())
            except RuntimeError:        # loop already closed
                pass
        if self._shared:
            self._done.wait(timeout)
        else:
            self._thread.join(timeout)
        if self.recorder is not None:
            self.recorder.close()

    def now(self) -> float:
        """Seconds since the session started, on the host monotonic clock."""
        return (time.monotonic_ns() - self.t0_ns) * 1e-9

    # -- called by sources, on the loop thread -----------------------------------------
    def ingest(self, frames: list[Frame], raw: bytes | None = None, decoder: str | None = None) -> None:
        if not frames:
            return
        if raw is not None and self.recorder is not None:
            host = (frames[0].host_ns - self.t0_ns) * 1e-9
            self.recorder.raw(frames[0].side, host, raw, decoder or "")
        for frame in frames:
            self._one(frame)

    def _one(self, frame: Frame) -> None:
        side = frame.side
        clock, stats = self.clocks[side], self.feet[side]
        lost = 0
        if frame.seq is not None:
            unwrapped, lost = clock.seq.update(frame.seq)
            if unwrapped is None:
                stats.late += 1
                return
        elif frame.device_time is not None:
            lost = self._period[side].update(frame.device_time)
        host_s = (frame.host_ns - self.t0_ns) * 1e-9
        prev = clock.last_time
        frame.time = clock.host_time(frame.device_time, host_s)
        stats.received += 1
        stats.lost += lost
        if stats.first_host is None:
            stats.first_host = host_s
        stats.last_host = host_s
        if np.isfinite(frame.time):
            if stats.first_time is None:
                stats.first_time = frame.time
            stats.last_time = frame.time
        if frame.device_time is not None and clock.last_device is not None:
            if stats.first_device is None:
                stats.first_device = clock.last_device
            stats.last_device = clock.last_device
        reason = self._pending_gap.pop(side, None)
        if reason is None and lost:
            reason = f"{lost} frame(s) lost"
        if reason is not None and np.isfinite(prev):
            stats.gaps += 1
            if self.recorder is not None:
                self.recorder.gap(side, prev, frame.time, reason)
        try:
            self.queue.put_nowait(frame)
        except queue.Full:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                pass
            self.queue_dropped += 1
            self.queue.put_nowait(frame)
        if self.recorder is not None:
            self.recorder.frame(frame)

    def bad_packet(self, exc: FrameError, decoder: str, raw: bytes | None = None, raw_decoder: str | None = None,
                   side: str = "", host_ns: int | None = None) -> None:
        """Count a rejected packet; with ``raw`` and a recorder, keep its bytes marked as rejected.

        ``decoder`` names the statistics entry, ``raw_decoder`` the decoder name
        stored with the payload (as for good packets, e.g. 'open_frame').
        """
        self.decode_stats.setdefault(decoder, DecodeStats()).count_bad(exc)
        rec = self.recorder
        if raw is None or rec is None or not getattr(rec, "keep_raw", True):
            return
        now = host_ns if host_ns is not None else time.monotonic_ns()
        budget = self.bad_raw
        if budget.allow(len(raw), now):
            rec.raw(side, (now - self.t0_ns) * 1e-9, raw, rejected_decoder(raw_decoder or decoder, exc))
        elif budget.not_kept == 1:
            rec.note(f"{(now - self.t0_ns) * 1e-9:.3f} s: rejected packets beyond {budget.rate / 1024:g} KiB/s "
                     f"or {budget.total >> 20} MiB in all are counted, not kept as raw packets")

    def good_packet(self, decoder: str) -> None:
        self.decode_stats.setdefault(decoder, DecodeStats()).ok += 1

    def reject(self) -> None:
        self.rejected_packets += 1

    def warn(self, text: str) -> None:
        """A non-fatal problem the user should see: kept in ``warnings``, the event log, the log and the take."""
        if text in self.warnings:
            return
        self.warnings.append(text)
        self.events.append((round(self.now(), 3), "", "warning", text))
        log.warning(text)
        if self.recorder is not None:
            self.recorder.note(f"warning: {text}")

    def device_event(self, side: str, kind: str, detail: str = "") -> None:
        """connected / disconnected / stalled / reconnected / battery / rssi."""
        stats = self.feet[side]
        if kind not in ("battery", "rssi"):
            self.events.append((round(self.now(), 3), side, kind, detail))
        if kind == "connected":
            stats.connects += 1
            if stats.connects > 1:
                stats.reconnects += 1
                stats.device_clock_restarted = True
            # A fresh connection may restart the device counters and clock.
            self.clocks[side].seq.reset()
            self.clocks[side].unwrap.reset()
            self.clocks[side].model.reset()
        elif kind in ("disconnected", "stalled"):
            stats.disconnects += 1
            self._pending_gap[side] = f"{kind}{': ' + detail if detail else ''}"
        elif kind == "battery":
            stats.battery = int(detail)
        elif kind == "rssi":
            stats.rssi = int(detail)
        if self.recorder is not None and kind in ("connected", "disconnected", "stalled"):
            self.recorder.note(f"{self.now():.3f} s {side} {kind} {detail}".rstrip())

    # -- statistics (any thread) -------------------------------------------------------
    def stats(self) -> dict:
        delays = np.array(self._drain_delay, dtype=np.float64)
        bad = sum(s.bad_total for s in self.decode_stats.values())
        out = {
            "elapsed_s": round(self.now(), 3),
            "feet": {s: self.feet[s].as_dict(self.clocks[s]) for s in SIDES if self.feet[s].received
                     or self.feet[s].connects},
            "bad_frames": bad,
            "decoders": {k: v.as_dict() for k, v in self.decode_stats.items()},
            "rejected_packets": self.rejected_packets,
            "bad_raw": self.bad_raw.as_dict(),
            "queue_dropped": self.queue_dropped,
            "drain_latency_ms_p50": round(float(np.percentile(delays, 50)) * 1e3, 3) if len(delays) else None,
            "drain_latency_ms_p95": round(float(np.percentile(delays, 95)) * 1e3, 3) if len(delays) else None,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "events": [list(e) for e in self.events],
        }
        source_stats = getattr(self.source, "stats", None)
        if callable(source_stats):
            out["source"] = source_stats()
        return out


def drain(session: LiveSession, max_items: int = 1000) -> list[Frame]:
    """Take up to ``max_items`` decoded frames, oldest first (main-thread side; never blocks)."""
    out = []
    get = session.queue.get_nowait
    now = time.monotonic_ns()
    for _ in range(max_items):
        try:
            frame = get()
        except queue.Empty:
            break
        out.append(frame)
        session._drain_delay.append((now - frame.host_ns) * 1e-9)
    return out
