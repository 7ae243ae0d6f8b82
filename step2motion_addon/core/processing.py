# SPDX-License-Identifier: GPL-3.0-or-later
"""Signal conditioning of takes (pure numpy). Each step returns a new Take and notes what it changed.

* :func:`align` — put both feet on one clock (t = 0 at the first sample, optional per-foot offsets);
* :func:`resample` — one common time grid for both feet, linear for continuous channels,
  never interpolating across missing data;
* :func:`fill_gaps` — short gaps (≤ 50 ms) interpolated, longer ones kept as explicit invalid spans;
* :func:`zero_pressure` — subtract an unloaded-foot baseline per cell, recompute force and COP;
* :func:`normalise_body_weight` — force in body weights (from the mass or estimated).
"""

from __future__ import annotations

import copy

import numpy as np

from . import insole
from .take import FootStream, Take

G = 9.80665
_CONT = ("pressure", "acc", "gyro", "force", "cop")


def _clone(take: Take, feet: dict | None = None) -> Take:
    out = Take(feet if feet is not None else {s: f.select(slice(None)) for s, f in take.feet.items()},
               copy.deepcopy(take.meta), [copy.copy(e) for e in take.events], list(take.report))
    return out


def nominal_dt(stream: FootStream) -> float:
    return 1.0 / stream.rate if stream.rate > 0 else 0.0


def find_gaps(stream: FootStream, factor: float = 1.5) -> list[tuple[float, float]]:
    """Spans without a valid sample: holes in time longer than ``factor`` × the nominal interval,
    and runs of invalid samples. Each span is (last good time, next good time)."""
    good = stream.time[stream.valid]
    if good.size < 2:
        return []
    dt = nominal_dt(stream)
    d = np.diff(good)
    idx = np.flatnonzero(d > factor * dt)
    return [(float(good[i]), float(good[i + 1])) for i in idx]


def align(take: Take, offsets: dict | None = None) -> Take:
    """Shift times so the take starts at 0; ``offsets`` (s) are added per foot first
    (e.g. a measured clock offset of one insole)."""
    offsets = offsets or {}
    feet = {}
    for s, f in take.feet.items():
        g = f.select(slice(None))
        g.time = g.time + float(offsets.get(s, 0.0))
        feet[s] = g
    start = min(float(f.time[0]) for f in feet.values() if len(f))
    for f in feet.values():
        f.time = f.time - start
    out = _clone(take, feet)
    for e in out.events:
        e.time = e.time + float(offsets.get(e.side, 0.0)) - start
    if start != 0.0 or any(offsets.values()):
        out.note(f"aligned feet on a common clock (shifted by {-start:+.4f} s"
                 + (f", offsets {offsets}" if offsets else "") + ")")
    return out


def _interp_stream(f: FootStream, grid: np.ndarray, max_gap: float) -> FootStream:
    """Linear interpolation onto ``grid``; a grid point is valid only between two valid
    samples that are at most ``max_gap`` apart."""
    t = f.time[f.valid]
    n = grid.size
    if t.size == 0:
        nan = {k: None if getattr(f, k) is None else np.full((n,) + getattr(f, k).shape[1:], np.nan) for k in _CONT}
        return FootStream(f.side, grid.copy(), nan["pressure"], nan["acc"], nan["gyro"], nan["force"], nan["cop"],
                          np.zeros(n, bool), f.layout)
    j = np.searchsorted(t, grid, side="right") - 1          # left neighbour
    inside = (j >= 0) & (j < t.size - 1)
    jj = np.clip(j, 0, max(t.size - 2, 0))
    exact = (j >= 0) & (j < t.size) & np.isclose(grid, t[np.clip(j, 0, t.size - 1)], rtol=0, atol=1e-9)
    span = np.where(inside, t[np.minimum(jj + 1, t.size - 1)] - t[jj], np.inf)
    ok = (inside & (span <= max_gap)) | exact
    w = np.where(inside, (grid - t[jj]) / np.where(span > 0, span, 1.0), 0.0)
    channels = {}
    for name in _CONT:
        v = getattr(f, name)
        if v is None:
            channels[name] = None
            continue
        v = v[f.valid].astype(np.float64)
        v2 = v.reshape(len(v), -1)
        if v2.shape[0] == 0:
            out = np.full((n, v2.shape[1]), np.nan)
        elif v2.shape[0] == 1:
            out = np.repeat(v2, n, axis=0)
        else:
            a, b = v2[jj], v2[np.minimum(jj + 1, len(v2) - 1)]
            out = a + (b - a) * w[:, None]
            ex = exact & ~inside
            out[ex] = v2[np.clip(j[ex], 0, len(v2) - 1)]
        out[~ok] = np.nan
        channels[name] = out.reshape((n,) + v.shape[1:])
    return FootStream(f.side, grid.copy(), channels["pressure"], channels["acc"], channels["gyro"],
                      channels["force"], channels["cop"], ok, f.layout)


def resample(take: Take, rate: float, max_gap: float = 0.05) -> Take:
    """Both feet on one grid at ``rate`` Hz from the take's start to its end.

    Continuous channels are interpolated linearly; a grid point is marked
    invalid where the surrounding valid samples are more than ``max_gap`` s
    apart (never interpolate across a missing span) or outside the foot's data.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    start, end = take.start, take.end
    grid = start + np.arange(int(np.floor((end - start) * rate + 1e-9)) + 1) / rate
    gap = max(max_gap, 1.0 / rate)
    feet = {s: _interp_stream(f, grid, max(gap, 1.5 * nominal_dt(f))) for s, f in take.feet.items()}
    out = _clone(take, feet)
    invalid = {s: int((~f.valid).sum()) for s, f in feet.items()}
    out.note(f"resampled to {rate:g} Hz on a common grid ({grid.size} samples; invalid: "
             + ", ".join(f"{s} {n}" for s, n in invalid.items()) + ")")
    return out


def fill_gaps(take: Take, max_gap: float = 0.05) -> Take:
    """Interpolate spans of missing data up to ``max_gap`` s; keep longer ones as invalid samples.

    Works on each foot's own nominal grid: missing time steps are inserted, short
    ones filled linearly, long ones inserted as invalid (NaN) samples so the
    gap is explicit.
    """
    feet, notes = {}, []
    for s, f in take.feet.items():
        dt = nominal_dt(f)
        if dt <= 0 or len(f) < 2:
            feet[s] = f.select(slice(None))
            continue
        t0 = float(f.time[0])
        steps = np.round((f.time - t0) / dt)
        on_grid = np.allclose(steps * dt + t0, f.time, atol=0.25 * dt)
        if not on_grid:
            feet[s] = f.select(slice(None))
            notes.append(f"{s}: irregular timestamps, gaps not filled (resample first)")
            continue
        grid = t0 + np.arange(int(steps[-1]) + 1) * dt
        full = _interp_stream(f, grid, max_gap + 0.5 * dt)
        # Exact original samples are kept bit-for-bit.
        pos = steps.astype(np.int64)
        for name in _CONT:
            v = getattr(f, name)
            if v is not None:
                getattr(full, name)[pos[f.valid]] = v[f.valid]
        full.time[pos] = f.time
        gaps = find_gaps(f, 1.5)
        short = [(a, b) for a, b in gaps if b - a <= max_gap + 0.5 * dt]
        long = [(a, b) for a, b in gaps if b - a > max_gap + 0.5 * dt]
        if short:
            notes.append(f"{s}: filled {len(short)} gaps ≤{max_gap * 1000:.0f} ms "
                         f"(total {sum(b - a for a, b in short):.3f} s) by linear interpolation")
        if long:
            notes.append(f"{s}: kept {len(long)} longer gaps as invalid spans "
                         f"(total {sum(b - a for a, b in long):.3f} s)")
        feet[s] = full
    out = _clone(take, feet)
    for n in notes:
        out.note(n)
    return out


def zero_pressure(take: Take, span: tuple[float, float] | None = None, fraction: float = 0.05) -> Take:
    """Subtract an unloaded-foot baseline per cell (clip at 0) and recompute force and COP.

    The baseline is the per-cell median over ``span`` (seconds) when given, else
    over the ``fraction`` of samples with the lowest total force (swing phases).
    """
    feet, notes = {}, []
    for s, f in take.feet.items():
        g = f.select(slice(None))
        if not f.has_pressure or not f.valid.any():
            feet[s] = g
            continue
        ok = f.valid.copy()
        if span is not None:
            ok &= (f.time >= span[0]) & (f.time <= span[1])
            how = f"{span[0]:g}–{span[1]:g} s"
        else:
            total = f.force if f.force is not None else f.pressure.sum(1)
            thr = np.quantile(total[ok], fraction)
            ok &= total <= thr
            how = f"the {fraction:.0%} lowest-force samples"
        if not ok.any():
            feet[s] = g
            notes.append(f"{s}: no samples to estimate a pressure baseline from {how}; not zeroed")
            continue
        base = np.median(f.pressure[ok], axis=0)
        if not np.any(base > 0):
            feet[s] = g
            continue
        p = np.clip(f.pressure - base, 0.0, None)
        p[~f.valid] = np.nan
        g.pressure = p.astype(np.float32)
        force, cop = insole.force_and_cop(np.nan_to_num(p), take.meta.insole_size)
        if g.force is not None or g.cop is not None:
            g.force = np.where(f.valid, force, np.nan).astype(np.float32)
            g.cop = np.where(f.valid[:, None], cop, np.nan).astype(np.float32)
        feet[s] = g
        notes.append(f"{s}: zeroed pressure with a baseline from {how} (max {base.max():.2f} N/cm², "
                     f"{float((base * insole.cell_areas(take.meta.insole_size)).sum()):.1f} N in total)")
    out = _clone(take, feet)
    for n in notes:
        out.note(n)
    return out


def body_weight(take: Take) -> tuple[float, str]:
    """Body weight in newtons and how it was obtained."""
    if take.meta.body_mass_kg:
        return take.meta.body_mass_kg * G, f"body mass {take.meta.body_mass_kg:g} kg"
    if not all(s in take.feet and take.feet[s].force is not None for s in ("left", "right")):
        raise ValueError("body mass unknown and the take lacks the force of both feet to estimate it")
    left, right = take.feet["left"], take.feet["right"]
    lt, rt = np.round(left.time, 6), np.round(right.time, 6)
    common, li, ri = np.intersect1d(lt, rt, return_indices=True)
    ok = left.valid[li] & right.valid[ri]
    fl, fr = left.force[li][ok].astype(np.float64), right.force[ri][ok].astype(np.float64)
    total = fl + fr
    if total.size == 0:
        raise ValueError("no common samples of both feet to estimate the body weight")
    # Standing / double support: both feet clearly loaded.
    both = (fl > 0.1 * np.nanmax(fl)) & (fr > 0.1 * np.nanmax(fr))
    if both.sum() < 10:
        raise ValueError("too few double-support samples to estimate the body weight")
    bw = float(np.median(total[both]))
    return bw, f"estimated {bw:.1f} N (≈{bw / G:.1f} kg) as the median total force of {int(both.sum())} " \
               f"standing/double-support samples"


def normalise_body_weight(take: Take, body_mass_kg: float | None = None) -> Take:
    """Total force divided by the body weight (mass·g); ``meta.extra['force_unit'] = 'BW'``."""
    src = take
    if body_mass_kg is not None:
        src = _clone(take)
        src.meta.body_mass_kg = float(body_mass_kg)
    bw, how = body_weight(src)
    out = _clone(src)
    for f in out.feet.values():
        if f.force is not None:
            f.force = (f.force / bw).astype(np.float32)
    out.meta.extra["force_unit"] = "BW"
    out.meta.extra["body_weight_n"] = bw
    out.note(f"force normalised by body weight: {how}")
    return out
