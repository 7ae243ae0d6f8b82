# SPDX-License-Identifier: GPL-3.0-or-later
"""Windowed few-step sampling over a whole take, in numpy around onnxruntime calls.

The condition encoder runs once per window; only the denoiser runs at every
step. Offline (``mode="batched"``): up to ``max_batch`` windows are denoised
at once, one batch per DDIM step (≤10 denoiser calls per window), windows
advancing by the model set's ``offline_hop``. Windows share one noise field over the take,
so two windows start from identical noise where they overlap, and are
cross-faded over the overlap (in 6-D rotation space, re-orthonormalised later).

Streaming (``mode="sequential"``): windows run in order and the overlap of each
new window is inpainted at every step with the previous window's result,
noised to that step with the same shared noise (the published continuation,
but with the few-step schedule).
"""

from __future__ import annotations

import numpy as np


def cosine_alphas_cumprod(steps: int) -> np.ndarray:
    """ᾱ_t for t = 0..steps-1 (cosine schedule, Nichol & Dhariwal), clipped away from 0."""
    s = 0.008
    x = np.arange(steps + 1) / steps
    f = np.cos((x + s) / (1 + s) * np.pi / 2) ** 2
    ab = f[1:] / f[0]
    return np.clip(ab, 1e-5, 1.0).astype(np.float64)


def ddim_timesteps(steps: int, calls: int) -> list[int]:
    """The DDIM schedule: ``calls`` timesteps from the noisiest down (≤10 denoiser calls)."""
    return [int(round(v)) for v in np.linspace(steps - 1, 0, calls + 1)[:-1]]


class Cancelled(Exception):
    """Raised when the caller's cancel flag is set between denoiser calls."""


def window_starts(frames: int, window: int, hop: int) -> list[int]:
    """Starts of windows covering ``frames`` (last one flush with the end)."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, hop))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


def blend_weights(starts: list[int], window: int, frames: int) -> np.ndarray:
    """(n_windows, window) weights: linear ramps over each overlap, 1 elsewhere (never 0)."""
    w = np.ones((len(starts), window))
    ramp_for = {}
    for i in range(len(starts) - 1):
        ovl = starts[i] + window - starts[i + 1]
        if ovl > 0:
            ramp = (np.arange(ovl) + 1.0) / (ovl + 1.0)
            w[i, window - ovl:] = np.minimum(w[i, window - ovl:], ramp[::-1])
            w[i + 1, :ovl] = np.minimum(w[i + 1, :ovl], ramp)
            ramp_for[i] = ovl
    return w


def pad_to(x: np.ndarray, frames: int) -> np.ndarray:
    if x.shape[0] >= frames:
        return x
    return np.concatenate([x, np.repeat(x[-1:], frames - x.shape[0], axis=0)], axis=0)


def gather_windows(x: np.ndarray, starts: list[int], window: int) -> np.ndarray:
    return np.stack([x[s:s + window] for s in starts])


def stitch(windows: np.ndarray, starts: list[int], frames: int) -> np.ndarray:
    """Weighted average of overlapping windows → (frames, dims)."""
    n, window, d = windows.shape
    w = blend_weights(starts, window, frames)
    total = np.zeros((max(frames, starts[-1] + window), d))
    norm = np.zeros((total.shape[0], 1))
    for i, s in enumerate(starts):
        total[s:s + window] += windows[i] * w[i, :, None]
        norm[s:s + window, 0] += w[i]
    return (total / norm)[:frames]


def _check(cancel):
    if cancel is not None and (cancel() if callable(cancel) else cancel.is_set()):
        raise Cancelled("reconstruction cancelled")


def ddim_windows(denoise, memory: np.ndarray, noise_windows: np.ndarray, timesteps, alphas,
                 guidance: float = 1.0, memory_null: np.ndarray | None = None, progress=None, cancel=None,
                 known=None, known_frames: int = 0) -> np.ndarray:
    """Deterministic DDIM (η = 0, x₀-prediction) on a batch of windows, one denoiser call per step.

    ``denoise(x_t, t, memory) -> x0`` runs the ONNX denoiser; ``memory`` (B, …) is
    the condition encoder's output for these windows, computed once by the caller.
    ``known`` (B, known_frames, D): clean frames to inpaint at the start of each window.
    Guidance w ≠ 1 adds an unconditional pass (``memory_null``, the null
    condition): x0 = x0_u + w·(x0_c − x0_u).
    """
    b = memory.shape[0]
    x = noise_windows.astype(np.float32).copy()
    x0 = x
    if guidance != 1.0:
        memory = np.concatenate([memory, memory_null])
    for k, (t, ab) in enumerate(zip(timesteps, alphas)):
        _check(cancel)
        if known is not None and known_frames:
            x[:, :known_frames] = (np.sqrt(ab) * known
                                   + np.sqrt(1 - ab) * noise_windows[:, :known_frames]).astype(np.float32)
        if guidance == 1.0:
            x0 = denoise(x, np.full(b, float(t), dtype=np.float32), memory)
        else:
            both = denoise(np.concatenate([x, x]), np.full(2 * b, float(t), dtype=np.float32), memory)
            x0 = both[b:] + guidance * (both[:b] - both[b:])
        if known is not None and known_frames:
            x0[:, :known_frames] = known
        if k + 1 < len(timesteps):
            eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
            ab_next = alphas[k + 1]
            x = (np.sqrt(ab_next) * x0 + np.sqrt(1 - ab_next) * eps).astype(np.float32)
        if progress is not None:
            progress(k + 1, len(timesteps))
    return x0


class NoiseRows:
    """The take's shared noise field (rows = frames), drawn block by block as windows advance.

    ``standard_normal`` fills rows in order and keeps no state between calls, so drawing
    ``block`` rows at a time gives exactly the numbers of one whole-take draw (then cast to
    float32, as before); only rows from the oldest window still asked for are held, not the
    whole take's (an hour: 117 MB in float64).
    """

    def __init__(self, seed: int, rows: int, dim: int, block: int = 8192):
        self._rng = np.random.default_rng(seed)
        self.rows, self.dim, self.block = rows, dim, max(1, int(block))
        self._first = 0                          # take row of self._held[0]
        self._drawn = 0                          # rows drawn so far (held: _first.._drawn)
        self._low = 0                            # the latest call's first row
        self._held = np.empty((0, dim), dtype=np.float32)

    def take(self, a: int, b: int) -> np.ndarray:
        """Rows [a, b); ``a`` never goes back before an earlier call's ``a``."""
        if a < self._low or b > self.rows or b < a:
            raise ValueError(f"noise rows {a}..{b} outside {self._low}..{self.rows}")
        self._low = a
        if b <= self._drawn:                     # already held: no copy
            return self._held[a - self._first:b - self._first]
        parts = [self._held[a - self._first:]]
        while self._drawn < b:
            n = min(self.block, self.rows - self._drawn)
            rows = self._rng.standard_normal((n, self.dim)).astype(np.float32)
            parts.append(rows[max(a - self._drawn, 0):])     # rows before ``a`` are drawn, not kept
            self._drawn += n
        self._first = a
        # A fresh array: the rows before ``a`` are freed, not kept alive by a view.
        self._held = np.concatenate(parts)
        return self._held[:b - a]


class _Stitcher:
    """:func:`stitch`, batch by batch: frames are finished once no later window covers them.

    Sums and weights stay float64 and are added in the same window order as :func:`stitch`;
    only the finished frames are stored, in float32 (≤ 1 float32 ulp from the float64 result),
    so the whole take's float64 sum, its quotient and the windows are never held at once.
    """

    def __init__(self, starts: list[int], window: int, frames: int, dim: int):
        self.starts, self.window, self.frames = starts, window, frames
        self.weights = blend_weights(starts, window, frames)
        self.out = np.empty((frames, dim), dtype=np.float32)
        self._first = 0                          # take frame of self._total[0]
        self._total = np.zeros((0, dim))
        self._norm = np.zeros((0, 1))

    def add(self, i0: int, windows: np.ndarray) -> None:
        """Windows ``i0, i0 + 1, …`` (in order, float32 as the sampler stores them)."""
        nxt = i0 + windows.shape[0]
        end = self.starts[nxt - 1] + self.window
        done = min(self.starts[nxt] if nxt < len(self.starts) else end, self.frames)
        grow = max(end, done) - self._first - self._total.shape[0]
        if grow > 0:
            self._total = np.concatenate([self._total, np.zeros((grow, self._total.shape[1]))])
            self._norm = np.concatenate([self._norm, np.zeros((grow, 1))])
        for j in range(windows.shape[0]):
            i = i0 + j
            a = self.starts[i] - self._first
            self._total[a:a + self.window] += windows[j] * self.weights[i, :, None]
            self._norm[a:a + self.window, 0] += self.weights[i]
        k = done - self._first
        if k > 0:
            self.out[self._first:done] = self._total[:k] / self._norm[:k]
            self._total, self._norm = self._total[k:].copy(), self._norm[k:].copy()
            self._first = done


def check_temperature(temperature) -> float:
    """The sampler temperature as a float, or ValueError outside 0..2 (see :func:`sample_take`)."""
    temperature = float(temperature)
    if not 0.0 <= temperature <= 2.0:
        raise ValueError(f"temperature must be 0..2, not {temperature}")
    return temperature


def sample_take(denoise, encode, cond: np.ndarray, mask: np.ndarray, window: int, hop: int, timesteps, alphas,
                pose_dim: int, seed: int = 0, guidance: float = 1.0, mode: str = "batched",
                max_batch: int = 32, progress=None, cancel=None,
                offline_hop: int | None = None, noise_block: int = 8192,
                temperature: float = 1.0) -> tuple[np.ndarray, dict]:
    """Normalised poses (frames, pose_dim) float32 for a normalised condition sequence (frames, F).

    Several views of one take (``cond`` (V, frames, F), ``mask`` (V, S); e.g. the take and its
    mirror image) give (V, frames, pose_dim): offline, each call carries every view's windows
    (``max_batch`` // V windows per view), so a short take pays the per-call cost once, not V
    times; all views start from the same noise, as V separate calls with one seed would.

    ``encode(cond, cond_mask) -> memory`` runs once per window (the sensor
    streams do not change between denoiser calls); ``denoise(x_t, t, memory)``
    runs len(timesteps) times per batch of windows. Offline windows advance by
    ``offline_hop`` (default ``hop``), streaming windows by ``hop``.
    Memory stays bounded on hour-long takes: the noise is drawn ``noise_block`` rows at a
    time (same numbers for a seed whatever the block), windows are gathered per batch and
    stitched as they come. ``temperature`` scales the starting noise: 1 draws a sample of
    the trained distribution, 0 starts every window from the noise field's mean (one
    deterministic estimate, the seed no longer matters), between them less varied samples.
    """
    temperature = np.float32(check_temperature(temperature))
    cond, mask = np.asarray(cond), np.asarray(mask, dtype=np.float32)
    stacked = cond.ndim == 3
    if stacked:
        if mask.shape != (cond.shape[0], mask.shape[-1]):
            raise ValueError(f"{cond.shape[0]} views of the condition need a mask per view, got {mask.shape}")
        if mode == "sequential":
            def view_progress(v):
                return None if progress is None else (lambda done, total: progress(v * total + done,
                                                                                   len(cond) * total))
            outs = [sample_take(denoise, encode, c, m, window, hop, timesteps, alphas, pose_dim, seed, guidance,
                                mode, max_batch, view_progress(v), cancel, offline_hop, noise_block,
                                float(temperature))
                    for v, (c, m) in enumerate(zip(cond, mask))]
            info = dict(outs[0][1])
            for k in ("encoder_calls", "denoiser_calls"):
                info[k] = sum(o[1][k] for o in outs)
            return np.stack([o[0] for o in outs]), info
    else:
        cond, mask = cond[None], mask[None]
    views, frames = cond.shape[0], cond.shape[1]
    step = hop if mode == "sequential" or offline_hop is None else offline_hop
    starts = window_starts(frames, window, step)
    padded = [pad_to(c, starts[-1] + window) for c in cond]
    noise = NoiseRows(seed, padded[0].shape[0], pose_dim, noise_block)
    per_batch = len(timesteps) * (1 if guidance == 1.0 else 2)

    def batch(sl):
        """Encoder memories and noise windows of the windows in ``sl``, view after view."""
        first, last = starts[sl.start], starts[sl.stop - 1]
        cw = np.concatenate([gather_windows(p, starts[sl], window) for p in padded])
        n = sl.stop - sl.start
        mem = encode(cw, np.repeat(mask, n, axis=0))
        null = encode(cw, np.zeros((views * n, mask.shape[-1]), np.float32)) if guidance != 1.0 else None
        rows = noise.take(first, last + window)
        nw = gather_windows(rows, [s - first for s in starts[sl]], window)
        return mem, null, np.tile(nw * temperature, (views, 1, 1))

    if mode == "batched":
        per_call = max(1, max_batch // views)
        chunks = [slice(s, min(s + per_call, len(starts))) for s in range(0, len(starts), per_call)]
        stitchers = [_Stitcher(starts, window, frames, pose_dim) for _ in range(views)]
        total = len(timesteps) * len(chunks)
        for c, sl in enumerate(chunks):
            def prog(k, n, c=c):
                if progress is not None:
                    progress(c * len(timesteps) + k, total)
            mem, null, nw = batch(sl)
            out = np.asarray(ddim_windows(denoise, mem, nw, timesteps, alphas, guidance, null, prog, cancel),
                             dtype=np.float32)
            n = sl.stop - sl.start
            for v, st in enumerate(stitchers):
                st.add(sl.start, out[v * n:(v + 1) * n])
            del mem, null, nw, out
        return (np.stack([st.out for st in stitchers]) if stacked else stitchers[0].out), {
            "windows": len(starts), "hop": step, "encoder_calls": len(chunks),
            "denoiser_calls": per_batch * len(chunks)}
    if mode != "sequential":
        raise ValueError(f"unknown sampling mode {mode!r}")
    result = np.zeros((padded[0].shape[0], pose_dim), dtype=np.float32)
    total = len(starts) * len(timesteps)
    for i, s in enumerate(starts):
        known, kf = None, 0
        if i > 0:
            kf = starts[i - 1] + window - s
            known = result[None, s:s + kf]

        def prog(k, n, i=i):
            if progress is not None:
                progress(i * len(timesteps) + k, total)

        mem, null, nw = batch(slice(i, i + 1))
        out = ddim_windows(denoise, mem, nw, timesteps, alphas, guidance, null, prog, cancel,
                           known, kf)[0]
        result[s + kf:s + window] = out[kf:]
        if i == 0:
            result[s:s + kf] = out[:kf]
    return result[:frames], {"windows": len(starts), "hop": step, "encoder_calls": len(starts),
                             "denoiser_calls": per_batch * len(starts)}


def regress_take(run, x: np.ndarray, window: int, hop: int, max_batch: int = 64) -> np.ndarray:
    """Windowed frame-wise regressor (root, pressure, baselines), windows batched and cross-faded."""
    frames = x.shape[0]
    starts = window_starts(frames, window, hop)
    xw = gather_windows(pad_to(x, starts[-1] + window), starts, window)
    out = np.concatenate([run(xw[s:s + max_batch]) for s in range(0, len(starts), max_batch)])
    return stitch(out, starts, frames)
