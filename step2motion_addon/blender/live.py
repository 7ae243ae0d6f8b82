# SPDX-License-Identifier: GPL-3.0-or-later
"""Live capture inside Blender: one session at a time, its hand-off, and the live insole view.

Threads: the device session runs its own asyncio loop in a daemon thread
(``devices.session``); BLE scans run on a small service loop thread owned
here. Neither touches ``bpy``. On the main thread a ``bpy.app.timers``
callback calls :func:`drain_into_scene`, a plain function (tests call it
directly: timers never fire in a bpy-module process), which takes a bounded
number of frames and *sets* the custom properties of a dedicated pair of
"live" insoles. The timer runs whatever the timeline does, so recording goes
on while the animation plays.

Why a separate live pair and not the imported take's insoles: the live pair
is built with the ordinary scene builder (same heatmap, COP marker, arrow,
legend) and then its action is removed, keeping only the drivers. Nothing
keyed can override the values we set on a frame change, and the user's
imported takes are never touched (muting their F-curves would leak into their
files and undo history).
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import threading
import time
import types
from collections import deque

import bpy
import numpy as np

from ..core import insole
from ..core.take import FootStream, Take, TakeMeta
from ..devices.ble import ensure_mta
from ..devices.session import SIDES, LiveSession, drain
from . import insole_scene
from .insole_scene import CONTACT_N, SceneOptions, pressure_prop

LIVE_NAME = "Live"
TICK_S = 1.0 / 60.0             # display refresh while frames flow
IDLE_TICK_S = 0.25              # after the source ended: only status updates
MAX_FRAMES = 2000               # frames taken per tick: 10 s of two 100 Hz feet
STATUS_EVERY_S = 0.25
HISTORY = 1000                  # frames kept per foot for zeroing (≈10 s at 100 Hz)
ZERO_WINDOW_S = 0.5
ZERO_MAX_FORCE_N = 100.0        # above this the foot is standing on the insole: refuse to zero
G = 9.80665
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON_ID = __package__.rpartition(".")[0] or __package__


class LiveError(Exception):
    """A one-line, user-facing reason why a live action could not be done."""


# -- the service loop (live sessions, BLE scans) ---------------------------------------------
class ServiceLoop:
    """The add-on's asyncio loop in a daemon thread: live sessions and the panel's BLE scans."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started on first use; it lives until the add-on is disabled)."""
        if self._thread is None or not self._thread.is_alive():
            ready = threading.Event()

            def main():
                ensure_mta()                    # bleak on Windows: once, before any scan or capture
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                self._loop = loop
                ready.set()
                try:
                    loop.run_forever()
                finally:
                    for task in asyncio.all_tasks(loop):
                        task.cancel()
                    loop.run_until_complete(asyncio.sleep(0))
                    loop.close()

            self._thread = threading.Thread(target=main, name="step2motion-service", daemon=True)
            self._thread.start()
            ready.wait()
        return self._loop

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            def cancel_all():
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.call_soon(loop.stop)
            try:
                loop.call_soon_threadsafe(cancel_all)
            except RuntimeError:
                pass
        self._thread.join(timeout)
        self._thread = None
        self._loop = None


async def ble_scan(seconds: float, adapter: str | None = None) -> list[dict]:
    """Every device advertising the Nordic UART Service: name, address, RSSI, guessed side."""
    from bleak import BleakScanner

    from ..devices import open_frame as of
    kw = {"bluez": {"adapter": adapter}} if adapter else {}
    found = await BleakScanner.discover(timeout=seconds, return_adv=True, service_uuids=[of.NUS_SERVICE], **kw)
    out = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        out.append({"name": name, "address": device.address, "rssi": adv.rssi,
                    "side": of.side_from_name(name) or ""})
    out.sort(key=lambda d: (d["side"] == "", d["name"], d["address"]))
    return out


def picked_ble_source(picked: dict, adapter: str | None = None, **kw):
    """A BleSource that connects to the devices the user picked (side -> address)."""
    from ..devices.ble import BleSource

    class PickedBleSource(BleSource):
        async def _scan(self, wanted, timeout):
            if not picked:
                return await super()._scan(wanted, timeout)
            from bleak import BleakScanner
            want = {s: picked[s].upper() for s in wanted if s in picked}
            found: dict = {}
            done = asyncio.Event()

            def seen(device, adv):
                for side, addr in want.items():
                    if side not in found and device.address.upper() == addr:
                        found[side] = (device, adv)
                        if found.keys() >= want.keys():
                            done.set()

            from ..devices import open_frame as of
            async with BleakScanner(seen, service_uuids=[of.NUS_SERVICE], **self._kw()):
                try:
                    await asyncio.wait_for(done.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            return found

    feet = tuple(s for s in SIDES if s in picked) or SIDES
    return PickedBleSource(feet=feet, adapter=adapter, **kw)


# -- the controller -----------------------------------------------------------------------------
class LiveController:
    """Everything live for the add-on's lifetime; all methods are for the main thread."""

    def __init__(self) -> None:
        self.session: LiveSession | None = None
        self.kind = ""                      # "udp" | "replay" | "ble"
        self.label = ""
        self.insole_size = insole.DEFAULT_SIZE
        self.recorder = None
        self.record_path = ""
        self.record_started = 0.0           # monotonic
        self.last_recording = ""
        self.last_summary: dict = {}
        self.latest: dict = {}              # side -> newest Frame shown
        self.history = {s: deque(maxlen=HISTORY) for s in SIDES}   # (host s, pressure, force, acc)
        self.baseline: dict = {}            # side -> (cells,) N/cm² subtracted from the live view
        self.calibration: dict | None = None
        self._calib: dict | None = None
        self.view: dict = {}                # "collection"/"root"/side -> datablock name
        self.latency = {s: deque(maxlen=5000) for s in SIDES}   # s, arrival -> property set
        self.drain_cost = deque(maxlen=2000)                  # s per drain_into_scene call
        self.display_dropped = 0
        self.frames_drained = 0
        self.status: dict = {}
        self._status_at = 0.0
        self.messages: deque = deque(maxlen=6)
        self.service = ServiceLoop()
        self.scan_state = ""                # "" | "scanning" | "done" | error text
        self.scan_results: list[dict] = []
        self.picked: dict = {}              # side -> address
        self._scan_future = None
        self.body_preview = None            # hook: callable(latest frames dict, controller); see docs
        self.body = None                    # live_body.BodyPreview while "Follow with Character" is on

    # -- sessions
    @property
    def active(self) -> bool:
        return self.session is not None

    def start(self, source, kind: str, label: str, scene=None, insole_size: int | None = None,
              wait_bound: float = 2.0) -> LiveSession:
        """Start ``source``; UDP sources are waited for until bound so errors reach the caller."""
        if self.session is not None:
            raise LiveError(f"a live source is already running ({self.label}): stop it first")
        if insole_size:
            self.insole_size = int(insole_size)
        self._reset_stream_state()
        # On the add-on's one service loop (also the panel's BLE scans), not a loop per capture.
        session = LiveSession(source).start(loop=self.service.loop())
        if kind == "udp":
            deadline = time.monotonic() + wait_bound
            while source.bound is None and session.running and time.monotonic() < deadline:
                time.sleep(0.005)
            if source.bound is None:
                errors = list(session.errors)
                session.stop()
                raise LiveError(udp_error_message(source.host, source.port, errors))
            label = f"udp://{source.bound[0]}:{source.bound[1]} ({source.format})"
        self.session, self.kind, self.label = session, kind, label
        if scene is not None:
            self.ensure_view(scene)
        self.note(f"started {label}")
        ensure_timer()
        return session

    def _reset_stream_state(self) -> None:
        self.latest = {}
        for d in (*self.history.values(), *self.latency.values()):
            d.clear()
        self.drain_cost.clear()
        self.display_dropped = self.frames_drained = 0
        self._calib = None
        self.status = {}

    def stop(self) -> dict:
        """Stop recording (if any) and the source; returns the recording summary or {}."""
        summary = self.stop_recording() if self.recorder is not None else {}
        self.stop_follow()
        if self.session is not None:
            self.session.stop()
            self.note(f"stopped {self.label}")
        self.session = None
        self._calib = None
        self.refresh_status(force=True)
        return summary

    def shutdown(self) -> None:
        """Add-on unregister: nothing may survive (threads, open files, timers)."""
        try:
            self.stop()
        finally:
            if self._scan_future is not None:
                self._scan_future.cancel()
            self.service.stop()
            stop_timer()

    # -- the character following live
    def follow(self, context, arm=None, mapping: dict | None = None, models=None, models_dir: str = "",
               hop: int = 10, in_place: bool = False, smooth: bool = False):
        """Start the body preview on ``arm`` (default: the selected rig / scene character / a new one).

        The streaming model runs on its own worker thread; each drain hands it the
        frames and copies its latest pose onto the pose bones (no keyframes).
        """
        from . import live_body
        from ..core.errors import TakeError
        if self.session is None:
            raise LiveError("start a live source first, then follow it with a character")
        self.stop_follow()
        try:
            if models is None:
                models, _path = live_body.load_live_models(models_dir)
            if arm is None:
                arm, mapping = live_body.follow_target(context)
            elif mapping is None:
                from .retarget import detect_bone_map
                mapping = detect_bone_map(arm).mapping
            src = self.session.source
            scale = float(getattr(src, "rate", 1.0)) if self.kind == "replay" else 1.0
            mass = self.calibration["body_mass_kg"] if self.calibration else None
            body = live_body.BodyPreview(models, arm, mapping, hop=hop, time_scale=scale, body_mass_kg=mass,
                                         insole_size=self.insole_size, in_place=in_place, smooth=smooth)
        except (TakeError, ValueError, KeyError) as exc:
            raise LiveError(f"cannot follow with a character: {exc}") from None
        self.body = body.start()
        self.body_preview = _apply_body
        self.note(f"{arm.name} follows the insoles (pose every {body.rec.hop} model frames)")
        return body

    def stop_follow(self) -> None:
        body, self.body = self.body, None
        if body is not None:
            body.stop()
            if self.body_preview is _apply_body:
                self.body_preview = None
            self.note(f"{body.arm_name} stopped following")

    # -- recording
    def start_recording(self, folder: str, name: str = "") -> str:
        if self.session is None:
            raise LiveError("start a live source first (UDP, replay or Bluetooth)")
        if self.recorder is not None:
            raise LiveError(f"already recording to {self.record_path}")
        from ..devices.recorder import Recorder
        folder = os.path.abspath(bpy.path.abspath(folder) if folder else default_record_folder())
        if _inside(folder, PACKAGE_DIR):
            raise LiveError(f"{folder} is inside the add-on's own files: choose another folder")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise LiveError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
        path = unique_take_path(folder, name)
        meta = TakeMeta(device=f"live {self.kind}", recording_type="live", insole_size=self.insole_size,
                        start_time=time.strftime("%Y-%m-%dT%H:%M:%S"), start_timestamp_ms=int(time.time() * 1000),
                        name=os.path.splitext(os.path.basename(path))[0], notes=f"source {self.label}")
        self._meta_extras(meta)
        try:
            recorder = Recorder(path, meta)
        except OSError as exc:
            raise LiveError(f"cannot write {path}: {exc.strerror or exc}") from None
        for side, base in self.baseline.items():
            recorder.note(_zero_note(side, base))
        if self.calibration:
            recorder.note(_calibration_note(self.calibration))
        self._set_recorder(recorder)
        self.recorder, self.record_path, self.record_started = recorder, path, time.monotonic()
        self.note(f"recording to {path}")
        return path

    def _meta_extras(self, meta: TakeMeta) -> None:
        if self.calibration:
            meta.body_mass_kg = self.calibration["body_mass_kg"]
            meta.extra["calibration"] = dict(self.calibration)
        if self.baseline:
            meta.extra["zero_baseline"] = {s: [round(float(v), 4) for v in b] for s, b in self.baseline.items()}

    def _set_recorder(self, recorder) -> None:
        """Swap the session's recorder on its own loop, between two ingested packets."""
        session = self.session
        if session is None:
            return

        async def swap():
            session.recorder = recorder
        if session.running:
            try:
                session.submit(swap()).result(2.0)
                return
            except Exception:       # loop ended meanwhile: nothing ingests any more
                pass
        session.recorder = recorder

    def stop_recording(self) -> dict:
        if self.recorder is None:
            return {}
        recorder = self.recorder
        self._set_recorder(None)
        self.recorder = None
        summary = recorder.close()
        self.last_recording, self.last_summary = recorder.path, summary
        frames = sum(summary["frames"].values())
        self.note(f"recorded {frames} frames to {os.path.basename(recorder.path)}")
        return summary

    def recording_elapsed(self) -> float:
        return time.monotonic() - self.record_started if self.recorder is not None else 0.0

    # -- zero and calibration
    def zero(self, sides=SIDES) -> dict:
        """Per-foot baseline from the last 0.5 s, while the foot is unloaded."""
        if self.session is None:
            raise LiveError("start a live source first")
        out = {}
        for side in sides:
            hist = self.history[side]
            if not hist:
                raise LiveError(f"no {side} frames yet: cannot zero the {side} insole")
            t_end = hist[-1][0]
            window = [p for (t, p, _f, _a) in hist if t >= t_end - ZERO_WINDOW_S]
            base = np.nanmean(np.stack(window), axis=0)
            base = np.nan_to_num(base)
            force = float(insole.force_and_cop(base, self.insole_size)[0]) if len(base) == 16 else 0.0
            if force > ZERO_MAX_FORCE_N:
                raise LiveError(f"the {side} foot is loaded ({force:.0f} N): lift it, then zero again")
            out[side] = base.astype(np.float32)
        self.baseline.update(out)
        for side, base in out.items():
            self.note(f"zeroed {side} (mean residual {float(base.mean()):.2f} N/cm²)")
            if self.recorder is not None:
                self.recorder.note(_zero_note(side, base))
        if self.recorder is not None:
            self._update_recording_meta()
        return out

    def clear_zero(self) -> None:
        self.baseline.clear()

    def start_calibration(self, seconds: float) -> None:
        if self.session is None or not self.session.running:
            raise LiveError("start a live source first, then stand still on both feet")
        if seconds <= 0:
            raise LiveError("the calibration needs a positive duration")
        now = self.session.now()
        self._calib = {"start": now, "until": now + float(seconds), "seconds": float(seconds),
                       "force": {s: [] for s in SIDES}, "acc": {s: [] for s in SIDES}}
        self.note(f"calibrating: stand still for {seconds:g} s")

    def calibrating(self) -> float:
        """Seconds of calibration left (0 when none runs)."""
        if self._calib is None or self.session is None:
            return 0.0
        return max(0.0, self._calib["until"] - self.session.now())

    def _finish_calibration(self) -> None:
        c, self._calib = self._calib, None
        sides = [s for s in SIDES if c["force"][s]]
        if not sides:
            self.note("calibration failed: no frames arrived")
            return
        force = {s: np.asarray(c["force"][s]) for s in sides}
        weight = float(sum(f.mean() for f in force.values()))
        spread = float(max(f.std() / max(f.mean(), 1e-6) for f in force.values()))
        result = {"seconds": c["seconds"], "weight_n": round(weight, 2),
                  "body_mass_kg": round(weight / G, 2), "feet": sides,
                  "force_n": {s: round(float(force[s].mean()), 2) for s in sides},
                  "force_variation": round(spread, 4)}
        gravity = {}
        for s in sides:
            if c["acc"][s]:
                g = np.mean(np.stack(c["acc"][s]), axis=0)
                norm = float(np.linalg.norm(g))
                if norm > 0:
                    gravity[s] = [round(float(v), 5) for v in g / norm]
        result["gravity_direction"] = gravity
        self.calibration = result
        warn = "" if spread < 0.1 and len(sides) == 2 else " (check: not both feet, or not still)"
        self.note(f"calibration: {result['body_mass_kg']:.1f} kg{warn}")
        if self.recorder is not None:
            self.recorder.note(_calibration_note(result))
            self._update_recording_meta()

    def _update_recording_meta(self) -> None:
        writer = self.recorder.writer
        meta = writer.meta
        self._meta_extras(meta)
        writer.set_meta(meta)       # the writer is lock-protected: safe from the main thread

    # -- the live view
    def ensure_view(self, scene) -> dict:
        """The live insole pair in ``scene`` (built once, then reused)."""
        objs = self.view_objects()
        if objs:
            coll = bpy.data.collections.get(self.view.get("collection", ""))
            if coll is not None:
                coll.hide_viewport = coll.hide_render = False
            return objs
        created = build_live_view(scene, self.insole_size)
        self.view = {"collection": created["collection"].name, "root": created["root"].name}
        for side in SIDES:
            self.view[side] = created[f"insole_{side}"].name
        return self.view_objects()

    def view_objects(self) -> dict:
        out = {}
        for side in SIDES:
            ob = bpy.data.objects.get(self.view.get(side, ""))
            if ob is not None and ob.get("s2m_live"):
                out[side] = ob
        return out

    def view_root(self):
        ob = bpy.data.objects.get(self.view.get("root", ""))
        return ob if ob is not None and ob.get("s2m_live") else None

    def hide_view(self) -> None:
        coll = bpy.data.collections.get(self.view.get("collection", ""))
        if coll is not None:
            coll.hide_viewport = coll.hide_render = True

    # -- per-frame bookkeeping (main thread, from drain_into_scene)
    def _observe(self, frame, host_s: float) -> None:
        self.history[frame.side].append((host_s, frame.pressure, frame.force, frame.acc))
        c = self._calib
        if c is not None and c["start"] <= host_s <= c["until"]:
            p = self._corrected(frame)
            c["force"][frame.side].append(self._force_cop(frame, p)[0])
            if frame.acc is not None:
                c["acc"][frame.side].append(np.asarray(frame.acc, dtype=np.float64))

    def _corrected(self, frame) -> np.ndarray:
        p = frame.pressure
        base = self.baseline.get(frame.side)
        if base is not None and len(base) == len(p):
            p = np.maximum(np.nan_to_num(p) - base, 0.0)
        return p

    def _force_cop(self, frame, p) -> tuple[float, float, float]:
        """Force and COP for the view: the device's own, unless zeroing changed the pressures or the
        frame has none (then from the cells, an ORPHE insole's through :data:`insole.ORPHE6_REGIONS`)."""
        if frame.force is not None and frame.cop is not None and frame.side not in self.baseline:
            return float(frame.force), float(frame.cop[0]), float(frame.cop[1])
        q = insole.as_moticon16(p)                  # 16 cells, or an ORPHE insole's 6 on their regions
        if q is not None:
            f, cop = insole.force_and_cop(np.nan_to_num(q), self.insole_size)
            return float(f), float(cop[0]), float(cop[1])
        return (float(frame.force or 0.0), *(map(float, frame.cop) if frame.cop is not None else (0.0, 0.0)))

    # -- status for the panel (cached: stats() computes percentiles)
    def refresh_status(self, force: bool = False) -> dict:
        now = time.monotonic()
        if not force and now - self._status_at < STATUS_EVERY_S:
            return self.status
        self._status_at = now
        st: dict = {"source": self.label, "kind": self.kind, "running": False, "feet": {}, "errors": [],
                    "warnings": []}
        s = self.session
        if s is not None:
            stats = s.stats()
            st["running"] = s.running
            st["errors"] = stats["errors"]
            st["warnings"] = stats.get("warnings", [])
            st["elapsed_s"] = stats["elapsed_s"]
            st["queue_dropped"] = stats["queue_dropped"]
            st["bad_frames"] = stats["bad_frames"]
            st["rejected"] = stats["rejected_packets"]
            last_event = {}
            for _t, side, kind, detail in s.events:
                last_event[side] = kind
            for side in SIDES:
                f = stats["feet"].get(side)
                if f is None:
                    continue
                last = s.feet[side].last_host
                fresh = last is not None and s.now() - last < 0.5
                state = "streaming" if fresh else last_event.get(side, "waiting")
                if not s.running:
                    state = "ended"
                lat = np.array(self.latency[side]) if self.latency[side] else None
                total = f["received"] + f["lost"]
                st["feet"][side] = {
                    "state": state, "rate_hz": f["rate_hz"], "received": f["received"], "lost": f["lost"],
                    "loss_pct": 100.0 * f["lost"] / total if total else 0.0,
                    "battery": f["battery_percent"], "rssi": f["rssi_dbm"], "reconnects": f["reconnects"],
                    "latency_ms": float(np.percentile(lat, 50)) * 1e3 if lat is not None else None,
                    "zeroed": side in self.baseline}
        if self.recorder is not None:
            st["recording"] = {"path": self.record_path, "elapsed_s": self.recording_elapsed(),
                               "frames": dict(self.recorder.frames_written)}
        self.status = st
        return st

    def latency_summary(self) -> dict:
        """Median / 95th percentile (ms) from frame arrival to the property being set, per foot."""
        out = {}
        for side, d in self.latency.items():
            if d:
                a = np.array(d) * 1e3
                out[side] = {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95))}
        return out

    def note(self, text: str) -> None:
        self.messages.append(text)

    # -- BLE scan (runs on the service loop)
    def scan(self, seconds: float = 5.0, adapter: str | None = None) -> None:
        if self._scan_future is not None and not self._scan_future.done():
            raise LiveError("a Bluetooth scan is already running")
        try:
            import bleak  # noqa: F401
        except ImportError:
            raise LiveError("Bluetooth needs the 'bleak' package, which is not installed") from None
        self.scan_state = "scanning"
        self.scan_results = []

        def done(fut):          # service thread: plain attributes only, never bpy
            if fut.cancelled():
                self.scan_state = "cancelled"
                return
            exc = fut.exception()
            if exc is not None:
                self.scan_state = f"scan failed: {type(exc).__name__}: {exc}".splitlines()[0]
            else:
                self.scan_results = fut.result()
                self.scan_state = "done"
        self._scan_future = self.service.submit(ble_scan(seconds, adapter))
        self._scan_future.add_done_callback(done)

    def pick(self, side: str, address: str) -> None:
        if side not in SIDES:
            raise LiveError(f"side must be left or right, not {side!r}")
        self.picked[side] = address


def _zero_note(side: str, base) -> str:
    return f"zero {side}: baseline N/cm² " + " ".join(f"{float(v):.3f}" for v in base)


def _calibration_note(c: dict) -> str:
    grav = "; ".join(f"{s} gravity {v}" for s, v in c.get("gravity_direction", {}).items())
    return (f"stand-still calibration {c['seconds']:g} s: weight {c['weight_n']:.1f} N, body mass "
            f"{c['body_mass_kg']:.1f} kg" + (f"; {grav}" if grav else ""))


def udp_error_message(host: str, port: int, errors: list) -> str:
    text = errors[0] if errors else "the listener did not start"
    if "in use" in text or "10048" in text:
        return f"UDP port {port} on {host} is already in use (another program or listener): choose another port"
    if "assign requested address" in text or "10049" in text:
        return f"cannot listen on {host}: not an address of this computer"
    return f"cannot listen on udp://{host}:{port}: {text}"


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def default_record_folder() -> str:
    """Next to the saved .blend, else the extension's user folder (temp folder outside an extension)."""
    if bpy.data.filepath:
        return os.path.join(os.path.dirname(bpy.data.filepath), "takes")
    try:
        base = bpy.utils.extension_path_user(ADDON_ID, create=True)
    except (ValueError, AttributeError, RuntimeError):   # not installed as an extension
        base = os.path.join(tempfile.gettempdir(), "step2motion")
    return os.path.join(base, "takes")


def unique_take_path(folder: str, name: str = "") -> str:
    stem = name.strip() or time.strftime("live_%Y%m%d_%H%M%S")
    stem = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in stem).strip() or "live"
    path = os.path.join(folder, stem + ".s2m")
    k = 2
    while os.path.exists(path):
        path = os.path.join(folder, f"{stem}_{k}.s2m")
        k += 1
    return path


# -- building the live view ----------------------------------------------------------------------
def build_live_view(scene, size: int = insole.DEFAULT_SIZE, colour_max: float = 30.0) -> dict:
    """The ordinary take scene of an unloaded two-sample take, stripped of its keyed action.

    The scene's frame rate, range and current frame are restored: the live view
    must not disturb the user's timeline.
    """
    keep = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.frame_current)
    t = np.array([0.0, 0.01])
    feet = {s: FootStream(s, t, np.zeros((2, 16), np.float32), acc=np.zeros((2, 3), np.float32),
                          force=np.zeros(2, np.float32), cop=np.zeros((2, 2), np.float32)) for s in SIDES}
    take = Take(feet, TakeMeta(device="live", insole_size=int(size), name=LIVE_NAME))
    opts = SceneOptions(fps=30.0, color_max=colour_max, trace_length=0, show_trace=False, name=LIVE_NAME)
    created = insole_scene.build_take_scene(types.SimpleNamespace(scene=scene), take, opts)
    scene.render.fps, scene.render.fps_base = keep[0], keep[1]
    scene.frame_start, scene.frame_end = keep[2], keep[3]
    scene.frame_set(keep[4])
    root = created["root"]
    root["s2m_live"] = True
    root["s2m_device"] = "live"
    root["s2m_report"] = "Live view: values are set by the live capture, not keyed"
    for side in SIDES:
        ins = created[f"insole_{side}"]
        ins["s2m_live"] = True
        ad = ins.animation_data
        action = ad.action if ad is not None else None
        if action is not None:
            ad.action = None            # drivers stay; nothing keyed can override the live values
            if action.users == 0:
                bpy.data.actions.remove(action)
        trace = created[f"trace_{side}"]
        trace.hide_viewport = trace.hide_render = True
    return created


def finish_recording(context, controller: LiveController, options: SceneOptions | None = None,
                     stop_source: bool = False):
    """Close the recording, load it and build its ordinary (keyed) take scene.

    The source keeps streaming unless ``stop_source``: the next take needs no
    reconnection. The live pair is hidden so the recorded take is what shows.
    Returns ``(path, created objects, take)``.
    """
    from ..core.formats import load_take
    summary = controller.stop() if stop_source else controller.stop_recording()
    path = summary.get("path", "")
    if not path:
        raise LiveError("nothing is being recorded")
    if not sum(summary["frames"].values()):
        raise LiveError(f"no frame arrived while recording: {os.path.basename(path)} holds no samples")
    take = load_take(path)
    created = insole_scene.build_take_scene(context, take, options or SceneOptions())
    controller.hide_view()
    return path, created, take


# -- the main-thread drain --------------------------------------------------------------------------
def drain_into_scene(context_or_scene, controller: LiveController, max_frames: int = MAX_FRAMES) -> int:
    """Move up to ``max_frames`` frames from the session into the live view; returns frames taken.

    Bounded: when more than ``max_frames`` wait, the oldest are dropped from
    the display (the recording has them all). The newest frame of each foot
    sets the live insoles' ``pressure_XX``/``total_force``/``cop_x``/``cop_y``
    /``contact``; drivers carry them to the heatmap, marker and arrow. A
    6-cell ORPHE frame is drawn on its regions (:data:`insole.ORPHE6_REGIONS`); a
    frame without force/COP gets them from its cells.
    """
    t_start = time.perf_counter()
    session = controller.session
    if session is None:
        return 0
    q = session.queue
    excess = q.qsize() - max_frames
    while excess > 0:
        try:
            q.get_nowait()
        except Exception:
            break
        controller.display_dropped += 1
        excess -= 1
    frames = drain(session, max_frames)
    if controller.body is not None:
        controller.body.feed(frames)        # to the model's worker thread (never blocks)
    if frames:
        newest = {}
        t0 = session.t0_ns
        for f in frames:
            newest[f.side] = f
            controller._observe(f, (f.host_ns - t0) * 1e-9)
        controller.frames_drained += len(frames)
        controller.latest.update(newest)
        _show(controller, newest)
        now = time.monotonic_ns()
        for side, f in newest.items():
            controller.latency[side].append((now - f.host_ns) * 1e-9)
    hook = controller.body_preview
    if hook is not None and (frames or controller.body is not None):
        try:
            hook(dict(controller.latest), controller)
        except Exception as exc:        # a preview must never stop the capture
            controller.body_preview = None
            controller.note(f"body preview disabled: {type(exc).__name__}: {exc}")
            if controller.body is not None:
                controller.stop_follow()
    if controller._calib is not None and session.now() >= controller._calib["until"]:
        controller._finish_calibration()
    controller.drain_cost.append(time.perf_counter() - t_start)
    return len(frames)


def _show(controller: LiveController, newest: dict) -> None:
    objs = controller.view_objects()
    for side, frame in newest.items():
        ob = objs.get(side)
        if ob is None:
            continue
        p = controller._corrected(frame)
        q = insole.as_moticon16(p)                  # an ORPHE insole's 6 cells drawn on their regions
        if q is not None:
            for c in range(len(q)):
                v = float(q[c])
                ob[pressure_prop(c)] = v if math.isfinite(v) else 0.0
        force, cx, cy = controller._force_cop(frame, p)
        ob["total_force"] = force
        ob["cop_x"], ob["cop_y"] = cx, cy
        ob["contact"] = 1.0 if force > CONTACT_N else 0.0
        ob.update_tag()        # drivers read evaluated copies: make the depsgraph re-read the props


# -- body preview hook ----------------------------------------------------------------------------------
def set_body_preview(hook) -> None:
    """Install ``hook(latest_frames: dict[side, Frame], controller)``, called after every drain
    that took frames (and after every drain while a character follows).

    :meth:`LiveController.follow` installs :func:`_apply_body`; ``None`` removes the hook.
    """
    controller().body_preview = hook


def _apply_body(latest: dict, c: LiveController) -> None:
    """The character's hook: copy the worker's latest pose onto the pose bones (main thread)."""
    body = c.body
    if body is None:
        return
    if body.error:
        raise RuntimeError(f"live body model failed: {body.error}")
    if c.calibration and body.rec.body_mass_given != c.calibration["body_mass_kg"]:
        body.rec.body_mass_given = c.calibration["body_mass_kg"]     # a float: read by the worker as is
    body.apply()


# -- add-on lifetime ---------------------------------------------------------------------------------------
_controller: LiveController | None = None


def controller() -> LiveController:
    global _controller
    if _controller is None:
        _controller = LiveController()
    return _controller


def _tick():
    c = _controller
    if c is None or c.session is None:
        return None
    try:
        drain_into_scene(bpy.context, c, MAX_FRAMES)
    except Exception as exc:        # keep the timer alive: the capture (and recording) goes on
        c.note(f"display error: {type(exc).__name__}: {exc}")
    c.refresh_status()
    _redraw(c)
    return TICK_S if c.session is not None and c.session.running else IDLE_TICK_S


def _redraw(c: LiveController) -> None:
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_tick):
        # persistent: a live capture survives loading another .blend file.
        bpy.app.timers.register(_tick, first_interval=0.0, persistent=True)


def stop_timer() -> None:
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)


classes = ()


def register():
    controller()


def unregister():
    global _controller
    if _controller is not None:
        _controller.shutdown()
    _controller = None
    stop_timer()
