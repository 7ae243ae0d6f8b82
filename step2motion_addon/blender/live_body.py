# SPDX-License-Identifier: GPL-3.0-or-later
"""The character following the insoles live ("Follow with Character").

Threads: the model runs on a worker thread of its own (one window of the
few-step sampler takes tens of milliseconds: far too long for Blender's main
thread). The main thread's drain hands the frames it took to the worker
through a bounded queue (:meth:`BodyPreview.feed`, never blocks); the worker
feeds a :class:`~..core.inference.streaming.StreamingReconstructor`, retargets
each new pose to the rig's pose-bone channels with the same code as baking
(:func:`.retarget.retarget`, numpy only once the rig's rest pose has been read
on the main thread) and publishes the result in a one-item *latest* slot. The
main thread (:meth:`BodyPreview.apply`, from the drain) only copies those
channels onto the pose bones: a few dozen property writes, no keyframes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque

import bpy
import numpy as np

from ..core.inference.streaming import StreamingReconstructor
from ..core.motion.skeleton import Motion
from .retarget import RigRest, hip_height_ratio, retarget

INBOX_LISTS = 256          # drains waiting for the worker (≈4 s of 60 Hz ticks); oldest dropped beyond


class BodyPreview:
    """One live character: a worker thread running the streaming model, a latest-pose slot.

    Create on the main thread (reads the rig's rest pose); :meth:`start`,
    :meth:`feed` and :meth:`apply` from the main thread; :meth:`stop` joins the worker.
    """

    def __init__(self, models, arm, mapping: dict, hop: int = 10, time_scale: float = 1.0,
                 body_mass_kg: float | None = None, insole_size: int = 5, seed: int = 0, in_place: bool = False,
                 smooth: bool = False):
        self.arm_name = arm.name
        self.mapping = {j: b for j, b in mapping.items() if b}
        self.rig = RigRest.of(arm)
        self.scale = hip_height_ratio(self.rig, self.mapping, models.offsets)
        hips = self.rig.names.index(self.mapping["Hips"])
        self.rest_xy = self.rig.head_world(hips)[:2].copy()
        self.offsets = models.offsets.copy()
        self.in_place = bool(in_place)      # keep the hips over the rig's rest spot (turning and height kept)
        self.smooth = bool(smooth)          # play each window's frames instead of jumping to its newest
        self.models = models
        self.rec = StreamingReconstructor(models, hop=hop, time_scale=time_scale, body_mass_kg=body_mass_kg,
                                          insole_size=insole_size, seed=seed)
        self._inbox: queue.Queue = queue.Queue(maxsize=INBOX_LISTS)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Drains fed and not yet through the reconstructor: the queue alone cannot say, its items
        # leave it before the worker has pushed them.
        self._pending = 0
        self._idle = threading.Condition()
        self._ended = False
        self._slot = None                  # (seq, LivePose, RetargetResult, newest covered arrival ns)
        self._thread: threading.Thread | None = None
        self.error = ""
        self.dropped_frames = 0
        self.published = 0
        self.applied_seq = 0
        self.applied_pose = None           # the LivePose last copied onto the bones
        self._applied = (0, -1)
        self._fresh_seq = 0
        self.retarget_cost: deque = deque(maxlen=2000)     # s per pose, worker
        self.apply_cost: deque = deque(maxlen=2000)        # s per apply, main thread
        self.fresh_latency: deque = deque(maxlen=2000)     # s, newest covered frame's arrival → on the bones
        # Bones receive quaternions: switch only the mapped ones (as baking does).
        for bone in self.mapping.values():
            pb = arm.pose.bones.get(bone)
            if pb is not None and pb.rotation_mode != "QUATERNION":
                pb.rotation_mode = "QUATERNION"

    # -- lifetime (main thread)
    def start(self) -> "BodyPreview":
        self._thread = threading.Thread(target=self._run, name="step2motion-live-body", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        try:
            self._inbox.put_nowait(None)
        except queue.Full:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def feed(self, frames) -> None:
        """Hand this drain's frames to the worker (never blocks; drops the oldest drain if it lags)."""
        if not frames or self._stop.is_set():
            return
        with self._idle:
            self._pending += 1
        try:
            self._inbox.put_nowait(list(frames))
        except queue.Full:
            try:
                old = self._inbox.get_nowait()
                self.dropped_frames += len(old or ())
                with self._idle:
                    self._pending -= 1
            except queue.Empty:
                pass
            self._inbox.put_nowait(list(frames))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every drain fed so far is through the model and no window is due (or the worker
        has ended); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: (self._pending == 0 and not self.rec.due()) or self._ended, timeout)

    # -- worker
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = self._inbox.get(timeout=0.05)
                except queue.Empty:
                    continue
                batch = [item]
                while True:                    # everything waiting: one push, then the due windows
                    try:
                        batch.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                try:
                    for frames in batch:
                        if frames is None:
                            return
                        self.rec.push_frames(frames)
                    while self.rec.due() and not self._stop.is_set():
                        before = self.rec.committed
                        pose = self.rec.step()
                        if pose is not None:
                            fresh = min(self.rec.committed - before, len(self.rec.poses))
                            self._publish(list(self.rec.poses)[-fresh:] if self.smooth else [pose])
                finally:
                    with self._idle:
                        self._pending -= sum(f is not None for f in batch)
                        self._idle.notify_all()
        except Exception as exc:               # shown in the panel; the capture goes on
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            with self._idle:
                self._ended = True
                self._idle.notify_all()

    def _publish(self, poses: list) -> None:
        t0 = time.perf_counter()
        res = self.channels(poses)
        self.retarget_cost.append(time.perf_counter() - t0)
        with self._lock:
            self.published += 1
            self._slot = (self.published, poses, res, self.rec.last_covered_arrival_ns, time.monotonic_ns())

    def channels(self, poses):
        """Pose-bone channels of consecutive canonical poses on this rig (numpy only: any thread)."""
        poses = poses if isinstance(poses, (list, tuple)) else [poses]
        motion = Motion(self.models.rate, self.offsets, np.stack([p.rotations for p in poses]),
                        np.stack([p.root_pos for p in poses]))
        start = self.rest_xy if self.in_place else self.rest_xy + self.scale * poses[0].root_pos[:2]
        return retarget(motion, self.rig, self.mapping, scale=self.scale, start_xy=start, in_place=self.in_place)

    # -- main thread
    def latest(self):
        with self._lock:
            return self._slot

    def apply(self) -> bool:
        """Copy a published pose onto the armature's pose bones; False when there is none yet.

        Without smoothing: the newest pose. With it: the newest window's new frames are
        played at their own rate from the moment they were published, so the character moves
        continuously (one hop later) instead of jumping once per window.
        """
        slot = self.latest()
        if slot is None:
            return False
        t0 = time.perf_counter()
        seq, poses, res, arrival_ns, published_ns = slot
        k = len(poses) - 1
        if self.smooth:
            fps = self.models.rate * self.rec.time_scale          # model frames per host second
            k = min(k, int((time.monotonic_ns() - published_ns) * 1e-9 * fps))
        arm = bpy.data.objects.get(self.arm_name)
        if arm is None or arm.type != "ARMATURE":
            raise RuntimeError(f"the armature {self.arm_name} is gone")
        bones = arm.pose.bones
        for name, q in res.rotations.items():
            pb = bones.get(name)
            if pb is not None:
                pb.rotation_quaternion = q[k]
        pb = bones.get(res.hips_bone)
        if pb is not None:
            pb.location = res.location[k]
        if (seq, k) != self._applied:
            self._applied = (seq, k)
            self.applied_pose = poses[k]
            if seq != self.applied_seq:
                self.applied_seq = seq
                if arrival_ns and not self.smooth:
                    self.fresh_latency.append((time.monotonic_ns() - arrival_ns) * 1e-9)
            if self.smooth and k == len(poses) - 1 and arrival_ns and self._fresh_seq != seq:
                self._fresh_seq = seq
                self.fresh_latency.append((time.monotonic_ns() - arrival_ns) * 1e-9)
        self.apply_cost.append(time.perf_counter() - t0)
        return True

    def stats(self) -> dict:
        out = self.rec.stats()

        def pct(d, q):
            return float(np.percentile(np.array(d) * 1e3, q)) if d else None
        out.update(arm=self.arm_name, published=self.published, dropped_frames=self.dropped_frames,
                   error=self.error,
                   fresh_ms_p50=pct(self.fresh_latency, 50), fresh_ms_p95=pct(self.fresh_latency, 95),
                   retarget_ms_p50=pct(self.retarget_cost, 50), apply_ms_p50=pct(self.apply_cost, 50),
                   apply_ms_p95=pct(self.apply_cost, 95))
        return out


def follow_target(context):
    """The selected armature, else the scene's Step2Motion character, else a new default character,
    and its bone map: the same choices and code as Reconstruct Motion."""
    from . import reconstruct_op
    arm = reconstruct_op.target_rig(context, create=True)
    bm = reconstruct_op.current_bone_map(context, arm)
    return arm, bm.mapping


def load_live_models(models_dir: str | None = None):
    """A model set for the live preview: its own sessions with one thread each (the UI keeps a core)."""
    from ..core.inference import ModelSet
    from .reconstruct_op import find_model_set
    path = find_model_set(models_dir or None)
    return ModelSet(path, intra_op_threads=1), path
