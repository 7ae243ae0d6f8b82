# SPDX-License-Identifier: GPL-3.0-or-later
"""One reconstruction job around :func:`core.inference.reconstruct` (pure numpy, no bpy).

* :func:`check_take`: what is wrong with a take before the models see it —
  dead or missing pressure (all-zero / all-invalid cells, channels removed),
  saturated cells, gaps, a missing foot, a take shorter than one model
  window — as one-line warnings; only unusable takes raise :class:`TakeError`.
* :func:`run_reconstruction`: features once, dead pressure streams masked so
  the runtime estimates them from the IMU with the IMU→pressure model (and
  says so), then ``samples`` hypotheses (seeds ``seed``, ``seed + 1``, …),
  their mean (what is baked, unless ``average=False``) and their per-joint spread.
* :func:`hypothesis_spread`: per frame and joint, the RMS distance of each
  hypothesis' global joint position from the hypotheses' mean position (m):
  where the models agree the motion is well determined by the insoles.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import TakeError
from .insole import PRESSURE_MAX
from .motion.skeleton import CANONICAL_JOINTS, Motion

SIDES = ("left", "right")
DEAD_CELL_MAX = 0.05          # N/cm²: a cell never above this over a whole take reads nothing
DEAD_FORCE_MAX = 5.0          # N: a force channel never above this reads nothing
SATURATED = 0.995 * PRESSURE_MAX
SATURATED_SHARE = 0.005       # warn when a cell sits at the sensor limit in ≥ 0.5 % of samples
GAP_NOTE_S = 0.2              # shorter gaps are routine packet losses: interpolated without a word
GAP_WARN_S = 1.0              # gaps longer than this: the motion there is a guess
TOO_SHORT_S = 0.2             # below this there is nothing to reconstruct
TOE_CELLS = tuple(range(8, 16))      # cells 9–16, as in core.features
HEEL_CELLS = tuple(range(0, 8))      # cells 1–8


@dataclass
class TakeCheck:
    warnings: list = field(default_factory=list)
    dead_streams: list = field(default_factory=list)     # feature streams to mask ("left_toes", …)
    dead_cells: dict = field(default_factory=dict)       # side → [cell numbers 1…16] dead throughout
    missing_feet: list = field(default_factory=list)     # sides with no usable stream at all


def _runs(mask: np.ndarray) -> list:
    """[(start, stop)) runs of True."""
    m = np.r_[False, np.asarray(mask, dtype=bool), False].astype(np.int8)
    d = np.diff(m)
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))


def _gaps(foot) -> list:
    """Durations (s) of gaps: invalid runs and holes in the time stamps."""
    t = foot.time
    rate = foot.rate or (1.0 / np.median(np.diff(t)) if len(t) > 1 else 100.0)
    out = [float(t[min(b, len(t) - 1)] - t[max(a - 1, 0)]) for a, b in _runs(~foot.valid)]
    dt = np.diff(t)
    out += [float(x) for x in dt[dt > 2.5 / rate]]
    return out


def check_take(take, window_s: float = 100 / 30.0) -> TakeCheck:
    """Inspect a take; TakeError only when nothing can be reconstructed from it."""
    chk = TakeCheck()
    src = take.meta.source_path or take.meta.name or "take"
    usable = [s for s in SIDES if s in take.feet and len(take.feet[s]) >= 2 and take.feet[s].valid.sum() >= 2]
    if not usable:
        raise TakeError("no foot has at least two valid samples: nothing to reconstruct", src)
    duration = take.end - take.start
    if duration < TOO_SHORT_S:
        raise TakeError(f"the take lasts {duration:.2f} s; at least {TOO_SHORT_S} s are needed", src)
    if duration < window_s:
        chk.warnings.append(f"the take lasts {duration:.1f} s, shorter than one model window "
                            f"({window_s:.1f} s): the window is padded with the last frame")
    for side in SIDES:
        foot = take.feet.get(side)
        if side not in usable:
            chk.missing_feet.append(side)
            chk.dead_streams += [f"{side}_toes", f"{side}_heel", f"{side}_imu", f"{side}_load"]
            why = "absent" if foot is None else "without valid samples"
            chk.warnings.append(f"{side} insole {why}: its leg follows the other foot only and the body "
                                "stays in place (the root model needs both IMUs)")
            continue
        if not foot.has_imu:
            chk.warnings.append(f"{side} insole has no IMU: no root motion and no pressure estimate for it")
        ok = foot.valid
        if foot.cells == 16:
            p = np.where(np.isfinite(foot.pressure[ok]), foot.pressure[ok], 0.0)
            dead = np.nonzero(p.max(axis=0) <= DEAD_CELL_MAX)[0]
            if len(dead):
                chk.dead_cells[side] = [int(c) + 1 for c in dead]
            for name, cells in (("toes", TOE_CELLS), ("heel", HEEL_CELLS)):
                if set(cells) <= set(dead.tolist()):
                    chk.dead_streams.append(f"{side}_{name}")
            grouped = {c for name, cells in (("toes", TOE_CELLS), ("heel", HEEL_CELLS))
                       if f"{side}_{name}" in chk.dead_streams for c in cells}
            partial = [int(c) + 1 for c in dead if c not in grouped]
            if partial:
                chk.warnings.append(f"{side} insole: cells {', '.join(map(str, partial))} read zero throughout "
                                    "(used as measured)")
            sat = (p >= SATURATED).mean(axis=0)
            hot = np.nonzero(sat >= SATURATED_SHARE)[0]
            if len(hot):
                chk.warnings.append(f"{side} insole: cells {', '.join(str(c + 1) for c in hot)} at the sensor "
                                    f"limit ({PRESSURE_MAX:g} N/cm²) in up to {100 * sat.max():.0f} % of samples: "
                                    "load is clipped there, contacts still count")
        else:
            chk.dead_streams += [f"{side}_toes", f"{side}_heel"]
        force = foot.force
        if force is not None:
            f = np.nan_to_num(np.asarray(force, dtype=np.float64)[ok])
            force_dead = f.max() <= DEAD_FORCE_MAX
        else:
            force_dead = foot.cells != 16 or {f"{side}_toes", f"{side}_heel"} <= set(chk.dead_streams)
        if force_dead and {f"{side}_toes", f"{side}_heel"} <= set(chk.dead_streams):
            chk.dead_streams.append(f"{side}_load")
        gaps = [g for g in _gaps(foot) if g >= GAP_NOTE_S]
        if gaps:
            longest = max(gaps)
            chk.warnings.append(f"{side} insole: {len(gaps)} gap(s) over {GAP_NOTE_S:g} s (longest {longest:.2f} s) "
                                "filled by linear interpolation"
                                + (f"; the motion inside gaps over {GAP_WARN_S:g} s is a guess"
                                   if longest > GAP_WARN_S else ""))
    return chk


def hypothesis_spread(recs) -> np.ndarray:
    """(T, 22) RMS distance (m) of the hypotheses' joint positions from their mean.

    The root in the world (where the body is), every other joint relative to its own
    hypothesis' root (the pose): hypotheses whose paths part by a few centimetres
    would otherwise paint the whole body with the path's disagreement and hide which
    limbs the insoles do not pin down.
    """
    if len(recs) < 2:
        return np.zeros((recs[0].frames, len(CANONICAL_JOINTS)))
    pos = np.stack([Motion(r.rate, r.offsets, r.rotations, r.root_pos).fk() for r in recs])   # (N, T, 22, 3)
    pos[:, :, 1:] -= pos[:, :, :1]
    dev = pos - pos.mean(axis=0, keepdims=True)
    return np.sqrt((dev ** 2).sum(-1).mean(axis=0))


def spread_summary(spread: np.ndarray) -> dict:
    """Per joint: mean, 95th percentile and max over the frames (m)."""
    return {j: {"mean": float(spread[:, i].mean()), "p95": float(np.percentile(spread[:, i], 95)),
                "max": float(spread[:, i].max())} for i, j in enumerate(CANONICAL_JOINTS)}


@dataclass
class RunResult:
    recs: list                       # one Reconstruction per hypothesis (seeds seed, seed + 1, …)
    spread: np.ndarray               # (T, 22) m; zeros for one hypothesis
    check: TakeCheck
    warnings: list                   # check + runtime warnings, one line each
    estimated_sides: list            # sides whose pressure came from the IMU→pressure model
    seconds: dict
    estimated_contact: np.ndarray | None = None   # (T, 2) bool from the estimated load, where estimated
    mean: object | None = None       # the hypotheses' mean (Reconstruction) when averaged

    @property
    def baked(self):
        """What gets baked: the hypotheses' mean when averaged, else the first (the seed's)."""
        return self.mean if self.mean is not None else self.recs[0]


def _masked(feats, dead: list):
    from .features import STREAMS, stream_slices
    names = [n for n, _ in STREAMS]
    mask = feats.stream_mask.copy()
    values = feats.values.copy()
    sl = stream_slices()
    for name in dead:
        mask[names.index(name)] = False
        values[:, sl[name]] = 0.0           # missing streams are zeros (as extract_features makes them)
    return dataclasses.replace(feats, stream_mask=mask, values=values)


def sampling_temperature(models, samples: int, temperature: float | None = None) -> float:
    """The sampler temperature for ``samples`` hypotheses: ``temperature``, else the model set's,
    raised to 1 for several hypotheses when the set's is 0 (identical hypotheses show no spread)."""
    if temperature is not None:
        return float(temperature)
    return 1.0 if samples > 1 and models.temperature == 0.0 else models.temperature


def run_reconstruction(take, models, seed: int = 0, samples: int = 1, progress=None, cancel=None,
                       average: bool = True, temperature: float | None = None,
                       mirror: bool | None = None) -> RunResult:
    """Check the take, run ``samples`` hypotheses with ``models`` (a ModelSet), measure their spread.

    ``average``: with several hypotheses, bake their mean (smoother and closer to the truth,
    see :func:`core.inference.reconstruct.mean_reconstruction`) instead of the first.
    ``temperature`` of the sampler's noise (see ``sampler.sample_take``): default the model
    set's for one hypothesis; several are drawn at 1 when the set's is 0 (deterministic),
    since identical hypotheses would have no spread to show. ``mirror``: average each pose
    with the take's mirror image's (``reconstruct(mirror=)``); default the model set's.
    """
    from .features import extract_features
    from .inference import reconstruct
    from .inference.reconstruct import mean_reconstruction

    samples = max(1, int(samples))
    temp = sampling_temperature(models, samples, temperature)
    t0 = time.perf_counter()
    chk = check_take(take, models.window / models.rate)
    feats = _masked(extract_features(take, **models.feature_options()), chk.dead_streams)   # the model's filter
    t_feat = time.perf_counter()
    recs = []
    for k in range(samples):
        def prog(done, total, k=k):
            if progress is not None:
                progress((k + done / max(total, 1)) / samples)
        recs.append(reconstruct(feats, models, seed=seed + k, progress=prog, cancel=cancel, temperature=temp,
                                mirror=mirror))
    t_inf = time.perf_counter()
    spread = hypothesis_spread(recs)
    warnings = list(chk.warnings)
    if samples > 1 and temp == 0.0:
        warnings.append(f"{samples} samples at temperature 0 are identical: raise the temperature to see "
                        "their spread")
    for w in recs[0].info.get("warnings", []):
        if w not in warnings:
            warnings.append(w)
    estimated = sorted({n.split("_")[0] for n in recs[0].info.get("estimated_streams", [])})
    for side in estimated:
        warnings.append(f"{side} insole pressure missing or dead: estimated from its IMU by the "
                        "IMU→pressure model (contacts from the pose model)")
    est_contact = _estimated_contact(recs[0]) if estimated else None
    unestimated = sorted({n.split("_")[0] for n in chk.dead_streams if not n.endswith("_imu")}
                         - set(estimated) - set(chk.missing_feet))
    for side in unestimated:
        warnings.append(f"{side} insole pressure missing or dead and not estimated "
                        "(no IMU→pressure model or no IMU on both feet): the pose model does without it")
    mean = mean_reconstruction(recs) if average and len(recs) > 1 else None
    return RunResult(recs, spread, chk, warnings, estimated,
                     {"features": t_feat - t0, "inference": t_inf - t_feat, "spread": time.perf_counter() - t_inf},
                     est_contact, mean)


def _estimated_contact(rec) -> np.ndarray | None:
    """(T, 2) contact from the load the reconstruction used (above ESTIMATED_CONTACT_BW body weights).

    For the estimated sides that load is the IMU→pressure model's, already run by
    ``reconstruct``; bake_contact takes only those sides from here. The threshold is in body
    weights, the load's own unit: a take without force has no measured body mass.
    """
    from .postprocess import ESTIMATED_CONTACT_BW
    if rec.load is None:
        return None
    return rec.load > ESTIMATED_CONTACT_BW


def bake_contact(take, rec, estimated_sides=(), missing_sides=(), estimated_contact=None) -> np.ndarray:
    """(T, 2) bool contacts for foot locking: measured by the insoles; for insoles without
    pressure the estimated load's (IMU→pressure model), else the pose model's contact output."""
    from .postprocess import contact_from_take
    c = contact_from_take(take, rec.rate, rec.frames)
    for k, side in enumerate(SIDES):
        if side in estimated_sides and estimated_contact is not None:
            c[:, k] = estimated_contact[:, k]
        elif side in estimated_sides or side in missing_sides:
            c[:, k] = np.asarray(rec.contact[:, k]) > 0.5
    return c
