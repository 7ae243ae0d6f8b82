# SPDX-License-Identifier: GPL-3.0-or-later
"""Clean-up of a canonical motion before baking (pure numpy).

* :func:`contact_from_take`: per-foot contact measured by the insoles (force
  above a threshold), resampled onto the motion's frames — the insoles' unique
  advantage over video or IMU-only capture.
* :func:`foot_lock`: while a foot is loaded the ball of the foot is pinned; the
  leg is re-solved with an analytic two-bone IK (hip fixed, knee kept in its
  plane) and the correction is faded in/out over a few frames so rotations
  stay smooth. Feet keep their world orientation, toes their local one.
* :func:`ground_align`: a constant vertical shift putting the loaded toes at
  a given height above the floor (z = 0).
* :func:`smooth`: Gaussian smoothing of rotations and root, then the contacts
  are locked again so smoothing never brings sliding back.

Functions accept a :class:`Motion` or anything with ``rotations``,
``root_pos``, ``offsets`` and a rate (``fps`` or ``rate``), such as a
reconstruction, and return a new :class:`Motion`.

Whole-take float64 temporaries are the memory peak of an hour-long take
(108,000 frames: 76 MB per (T, 22, 4) array), so forward kinematics for the
floor and the local rotations after foot locking are computed ``chunk`` frames
at a time (:data:`CHUNK`); results do not depend on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .motion import kinematics as kin
from .motion import rotations as rot
from .motion.skeleton import CANONICAL_PARENTS, JOINT_INDEX as J, Motion

LEGS = {"left": ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase"),
        "right": ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")}
MAX_DROP = 0.06             # largest hip lowering for reachability, fraction of leg length
SOFT_REACH = 0.97           # pinned legs are kept below this fraction of full extension
CONTACT_FORCE_N = 40.0      # a foot carrying more than this is planted (≈ 6 % of body weight)
# The IMU→pressure model's load rises and falls more slowly than a measured one (a regressor smooths
# the edges of stance), so planted is read higher there: 8 % of body weight matches the measured
# contacts best on the simulated validation split and on the real recordings (docs/model-card.md).
ESTIMATED_CONTACT_BW = 0.08
CHUNK = 8192                # frames per chunk of the whole-take conversions


def as_motion(m) -> Motion:
    """A :class:`Motion` view of a Motion or a Reconstruction (same fields, ``rate`` vs ``fps``)."""
    if isinstance(m, Motion):
        return m
    fps = float(getattr(m, "fps", None) or getattr(m, "rate"))
    meta = dict(getattr(m, "meta", None) or getattr(m, "info", None) or {})
    return Motion(fps, np.asarray(m.offsets), np.asarray(m.rotations), np.asarray(m.root_pos), meta)


@dataclass
class PostReport:
    locked_frames: dict = field(default_factory=dict)     # side → frames pinned
    unreachable: dict = field(default_factory=dict)       # side → loaded frames the leg could not reach
    unreachable_fading: dict = field(default_factory=dict)  # side → such frames in the lock's fade in/out
    shortfall_m: dict = field(default_factory=dict)       # side → median horizontal miss on those frames
    ground_shift_m: float = 0.0
    notes: list = field(default_factory=list)


# -- contact ---------------------------------------------------------------------------
def contact_from_take(take, fps: float, frames: int, threshold_n: float = CONTACT_FORCE_N) -> np.ndarray:
    """(frames, 2) bool contact of the left/right foot at ``fps`` from the take's start."""
    from . import insole
    t = take.start + np.arange(frames) / fps
    out = np.zeros((frames, 2), dtype=bool)
    for k, side in enumerate(("left", "right")):
        s = take.feet.get(side)
        if s is None:
            continue
        if s.force is not None:
            force = np.asarray(s.force, dtype=np.float64)
        elif s.has_pressure and s.cells == 16:
            force = insole.force_and_cop(np.nan_to_num(s.pressure), take.meta.insole_size)[0].astype(np.float64)
        else:
            continue
        ok = np.asarray(s.valid, dtype=bool) & np.isfinite(force)
        if ok.sum() < 2:
            continue
        out[:, k] = np.interp(t, s.time[ok], force[ok], left=0.0, right=0.0) > threshold_n
    return out


def contact_segments(contact: np.ndarray, min_len: int = 3) -> list:
    """[(start, stop)) runs of True at least ``min_len`` frames long."""
    c = np.r_[False, np.asarray(contact, dtype=bool), False].astype(np.int8)
    d = np.diff(c)
    starts, stops = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_len]


def foot_sliding(motion, contact: np.ndarray) -> dict:
    """Horizontal speed of the ball of the foot (toe joint) while in contact: mean and max m/frame."""
    m = as_motion(motion)
    pos = m.fk()
    out = {}
    for k, side in enumerate(("left", "right")):
        p = pos[:, J[LEGS[side][3]], :2]
        step = np.linalg.norm(np.diff(p, axis=0), axis=-1)
        both = np.asarray(contact[1:, k], dtype=bool) & np.asarray(contact[:-1, k], dtype=bool)
        out[side] = (float(step[both].mean()) if both.any() else 0.0, float(step[both].max()) if both.any() else 0.0)
    return out


# -- helpers -----------------------------------------------------------------------------
def _globals(local: np.ndarray) -> np.ndarray:
    g = np.empty_like(local)
    for j, p in enumerate(CANONICAL_PARENTS):
        g[:, j] = local[:, j] if p < 0 else rot.mul(g[:, p], local[:, j])
    return g


def _locals(g: np.ndarray) -> np.ndarray:
    local = np.empty_like(g)
    for j, p in enumerate(CANONICAL_PARENTS):
        local[:, j] = g[:, j] if p < 0 else rot.mul(rot.conj(g[:, p]), g[:, j])
    return local


def _continuous_locals(g: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """Global → local rotations, normalised and sign-continuous, written over ``g`` chunk by chunk.

    ``g`` must be the caller's own array: reusing it saves two whole-take copies.
    """
    chunk = max(int(chunk), 1)
    for a in range(0, len(g), chunk):
        q = rot.make_continuous(rot.normalize(_locals(g[a:a + chunk])), axis=0)
        if a > 0:
            # Same hemisphere as the previous chunk's last frame, per joint.
            q *= np.where((q[0] * g[a - 1]).sum(-1) < 0, -1.0, 1.0)[None, :, None]
        g[a:a + chunk] = q
    return g


def _fk_chunks(m: Motion, chunk: int = CHUNK):
    """(start, stop, (n, 22, 3) joint positions) of ``m``, ``chunk`` frames at a time."""
    chunk = max(int(chunk), 1)
    for a in range(0, m.frames, chunk):
        b = min(a + chunk, m.frames)
        yield a, b, Motion(m.fps, m.offsets, m.rotations[a:b], m.root_pos[a:b]).fk()


def _lock_weights(contact: np.ndarray, fade: int, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: weight of the lock (0…1, smooth fades) and the segment index (-1: none)."""
    n = len(contact)
    w = np.zeros(n)
    seg = np.full(n, -1)
    for s, (a, b) in enumerate(contact_segments(contact, min_len)):
        seg[a:b] = s
        w[a:b] = 1.0
        for i in range(1, fade + 1):
            # Smoothstep ramps on both sides, owned by the nearest segment.
            x = 1.0 - i / (fade + 1)
            x = x * x * (3 - 2 * x)
            if a - i >= 0 and x > w[a - i]:
                w[a - i], seg[a - i] = x, s
            if b - 1 + i < n and x > w[b - 1 + i]:
                w[b - 1 + i], seg[b - 1 + i] = x, s
    return w, seg


def two_bone_ik(hip, knee, ankle, target, bend_hint):
    """New knee positions for legs reaching ``target`` (all (T, 3)); keeps bone lengths.

    The knee stays in the plane of the current leg (or of ``bend_hint`` when the
    leg is straight). Returns (knee', ankle', reached) with the ankle clamped
    onto the reachable sphere.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    v = target - hip
    d = np.linalg.norm(v, axis=-1)
    lo, hi = np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6)
    reached = (d >= lo) & (d <= hi)
    d = np.clip(d, lo, hi)
    u = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    # Knee direction: the current bend, plus a little of the hint so a straight
    # leg still has a well-defined plane (a continuous blend: no flips).
    # The bend is measured against the leg's *current* hip–ankle line, then
    # carried onto the new one (measured against the new line a straight leg
    # reaching forward would look bent backwards and the knee would flip).
    hint = bend_hint / np.maximum(np.linalg.norm(bend_hint, axis=-1, keepdims=True), 1e-9)
    u0 = (ankle - hip) / np.maximum(np.linalg.norm(ankle - hip, axis=-1, keepdims=True), 1e-9)
    bend = knee - hip
    bend = bend - (bend * u0).sum(-1, keepdims=True) * u0 + 0.05 * l1[:, None] * hint
    bend = bend - (bend * u).sum(-1, keepdims=True) * u
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    a = (l1 ** 2 - l2 ** 2 + d ** 2) / (2 * d)
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    knee2 = hip + u * a[:, None] + bend * h[:, None]
    ankle2 = hip + u * d[:, None]
    return knee2, ankle2, reached


# -- operations -------------------------------------------------------------------------
def foot_lock(motion, contact: np.ndarray, fade: int = 6, min_len: int = 2,
              report: PostReport | None = None, chunk: int = CHUNK) -> Motion:
    """Pin the ball of each loaded foot (horizontally) at its mean position over the contact.

    ``contact``: (T, 2) bool or probabilities (> 0.5 counts) for left, right.
    """
    m = as_motion(motion)
    contact = np.asarray(contact)
    if contact.dtype != bool:
        contact = contact > 0.5
    if contact.shape != (m.frames, 2):
        raise ValueError(f"contact must be ({m.frames}, 2), got {contact.shape}")
    pos, g = m.fk(with_rotations=True)        # fresh arrays, ours to modify in place
    rep = report if report is not None else PostReport()
    forward_local = np.array([0.0, -1.0, 0.0])      # knees bend forward: the character faces −Y
    targets = {}
    drop = np.zeros(m.frames)
    for k, side in enumerate(("left", "right")):
        hip_j, knee_j, ankle_j, toe_j = (J[n] for n in LEGS[side])
        w, seg = _lock_weights(contact[:, k], fade, min_len)
        rep.locked_frames[side] = int(contact[:, k].sum())
        ankle, toe = pos[:, ankle_j], pos[:, toe_j]
        anchor = toe[:, :2].copy()
        active = w > 0
        if active.any():
            # The ball of the foot is what stays put on the floor: it is the pivot
            # after heel strike and during the heel rise, so its horizontal
            # position is pinned and the ankle follows the foot's own rotation.
            anchors = np.array([np.median(toe[a:b, :2], axis=0) for a, b in contact_segments(contact[:, k], min_len)])
            anchor[active] = anchors[seg[active]]
            target = ankle.copy()
            target[:, :2] += w[:, None] * (anchor - toe[:, :2])
            # Soft limit: a pinned leg stays slightly bent (≤ SOFT_REACH of its length),
            # where small length changes need only small knee turns.
            reach = SOFT_REACH * (np.linalg.norm(pos[:, knee_j] - pos[:, hip_j], axis=-1)
                                  + np.linalg.norm(ankle - pos[:, knee_j], axis=-1))
            # Vertical hip drop bringing the target onto the reach sphere (exact, not per distance).
            v = target - pos[:, hip_j]
            flat = np.sqrt(np.maximum(reach ** 2 - (v[:, :2] ** 2).sum(-1), 0.0))
            need = np.maximum(-flat - v[:, 2], 0.0)
            drop = np.maximum(drop, np.where(active, need, 0.0))
        targets[side] = (w, anchor)
    root = m.root_pos.copy()
    smooth_drop = np.zeros(m.frames)
    if drop.max() > 0:
        # Widen and smooth the drop so the hips move gently (max filter, then Gaussian).
        r = max(fade, 1)
        padded = np.r_[np.zeros(r), drop, np.zeros(r)]
        wide = np.max(np.stack([padded[i:i + m.frames] for i in range(2 * r + 1)]), axis=0)
        smooth_drop = np.maximum(kin.gaussian_smooth(wide * 1.2, r / 2), drop)
        # Never crouch more than MAX_DROP of the leg length: beyond, the foot may slide a little.
        leg = float(np.linalg.norm(m.offsets[J["LeftLeg"]]) + np.linalg.norm(m.offsets[J["LeftFoot"]]))
        smooth_drop = np.minimum(smooth_drop, MAX_DROP * leg)
        root[:, 2] -= smooth_drop
        pos[..., 2] -= smooth_drop[:, None]
        rep.notes.append(f"hips lowered up to {100 * smooth_drop.max():.1f} cm to keep locked feet reachable")
    for k, side in enumerate(("left", "right")):
        hip_j, knee_j, ankle_j, _ = (J[n] for n in LEGS[side])
        w, anchor = targets[side]
        ankle = pos[:, ankle_j]
        # Blend from the (possibly lowered) free ankle towards the pinned ball of the foot.
        target = ankle.copy()
        target[:, :2] += w[:, None] * (anchor - pos[:, J[LEGS[side][3]], :2])
        target[:, 2] += w * smooth_drop          # a pinned foot stays on the floor while the hips go down
        active = w > 0
        if not active.any():
            rep.unreachable[side] = rep.unreachable_fading[side] = 0
            continue
        idx = np.nonzero(active)[0]
        hip, knee = pos[idx, hip_j], pos[idx, knee_j]
        hint = rot.rotate(g[idx, hip_j], forward_local)        # knees bend forward of the thigh
        knee2, ankle2, reached = two_bone_ik(hip, knee, ankle[idx], target[idx], hint)
        # Loaded frames are what a user sees slide; in the fades the lock already lets go
        # (on the demo take more than half of the misses were there).
        loaded = w[idx] >= 1.0
        miss = ~reached & loaded
        rep.unreachable[side] = int(miss.sum())
        rep.unreachable_fading[side] = int((~reached & ~loaded).sum())
        if miss.any():
            # Horizontal, as the lock pins: how far the ball of the foot stays from its spot.
            short = np.linalg.norm(target[idx[miss], :2] - ankle2[miss, :2], axis=-1)
            rep.shortfall_m[side] = float(np.median(short))
        # Minimal rotations carrying each bone onto its new direction keep the twist.
        d_thigh = rot.between(knee - hip, knee2 - hip)
        g_thigh = rot.mul(d_thigh, g[idx, hip_j])
        shin_now = rot.rotate(d_thigh, ankle[idx] - knee)
        d_shin = rot.between(shin_now, ankle2 - knee2)
        g_shin = rot.mul(d_shin, rot.mul(d_thigh, g[idx, knee_j]))
        g[idx, hip_j] = g_thigh
        g[idx, knee_j] = g_shin              # the foot keeps its world rotation (g unchanged)
    del pos
    local = _continuous_locals(g, chunk)
    return Motion(m.fps, m.offsets.copy(), local, root, dict(m.meta))


def ground_align(motion, contact: np.ndarray | None = None, toe_height: float = 0.0,
                 report: PostReport | None = None, chunk: int = CHUNK) -> Motion:
    """Shift the motion vertically so the loaded toes rest at ``toe_height`` above z = 0.

    The floor is the median height of the lower toe over the contact frames (all
    frames' lower 10 % when no contact is given): robust to jumps and tiptoe.
    """
    m = as_motion(motion)
    toes = np.empty((m.frames, 2))
    for a, b, pos in _fk_chunks(m, chunk):
        toes[a:b] = pos[:, [J["LeftToeBase"], J["RightToeBase"]], 2]
    if contact is not None and np.asarray(contact).any():
        c = np.asarray(contact) > 0.5 if np.asarray(contact).dtype != bool else np.asarray(contact)
        floor = float(np.median(toes[c]))
    else:
        low = toes.min(axis=1)
        floor = float(np.median(low[low <= np.percentile(low, 10)]))
    shift = toe_height - floor
    if report is not None:
        report.ground_shift_m = shift
    root = m.root_pos.copy()
    root[:, 2] += shift
    return Motion(m.fps, m.offsets.copy(), m.rotations.copy(), root, dict(m.meta))


def smooth(motion, sigma: float = 1.0, contact: np.ndarray | None = None) -> Motion:
    """Gaussian smoothing (``sigma`` in frames) of rotations and root; contacts re-locked after."""
    m = as_motion(motion)
    if sigma <= 0:
        return m
    rots = kin.smooth_quat(m.rotations, sigma)
    root = kin.gaussian_smooth(m.root_pos, sigma)
    out = Motion(m.fps, m.offsets.copy(), rots, root, dict(m.meta))
    return foot_lock(out, contact) if contact is not None else out


def max_angular_step(motion) -> np.ndarray:
    """(22,) largest frame-to-frame change of each joint's local rotation, radians."""
    q = rot.make_continuous(as_motion(motion).rotations, axis=0)
    rel = rot.mul(rot.conj(q[:-1]), q[1:])
    return np.linalg.norm(rot.log(rel), axis=-1).max(axis=0) if len(q) > 1 else np.zeros(q.shape[1])


def postprocess(motion, contact: np.ndarray | None = None, lock: bool = True, ground: bool = True,
                toe_height: float = 0.0, smooth_sigma: float = 0.0,
                chunk: int = CHUNK) -> tuple[Motion, PostReport]:
    """The standard chain: smoothing → ground alignment → foot locking (``chunk``: see :data:`CHUNK`)."""
    rep = PostReport()
    m = as_motion(motion)
    if smooth_sigma > 0:
        m = smooth(m, smooth_sigma)
    if ground:
        m = ground_align(m, contact, toe_height, rep, chunk=chunk)
    if lock and contact is not None:
        m = foot_lock(m, contact, report=rep, chunk=chunk)
    if any(rep.unreachable.values()):
        rep.notes.append("legs too short to reach the locked foot on " + ", ".join(
            f"{n} {s} loaded frames ({100 * rep.shortfall_m[s]:.1f} cm short, median)"
            for s, n in rep.unreachable.items() if n))
    return m, rep
