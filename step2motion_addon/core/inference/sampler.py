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


def sample_take(denoise, encode, cond: np.ndarray, mask: np.ndarray, window: int, hop: int, timesteps, alphas,
                pose_dim: int, seed: int = 0, guidance: float = 1.0, mode: str = "batched",
                max_batch: int = 32, progress=None, cancel=None,
                offline_hop: int | None = None) -> tuple[np.ndarray, dict]:
    """Normalised poses (frames, pose_dim) for a normalised condition sequence (frames, F).

    ``encode(cond, cond_mask) -> memory`` runs once per window (the sensor
    streams do not change between denoiser calls); ``denoise(x_t, t, memory)``
    runs len(timesteps) times per batch of windows. Offline windows advance by
    ``offline_hop`` (default ``hop``), streaming windows by ``hop``.
    """
    frames = cond.shape[0]
    step = hop if mode == "sequential" or offline_hop is None else offline_hop
    starts = window_starts(frames, window, step)
    padded = pad_to(cond, starts[-1] + window)
    noise = np.random.default_rng(seed).standard_normal((padded.shape[0], pose_dim)).astype(np.float32)
    cw = gather_windows(padded, starts, window)
    nw = gather_windows(noise, starts, window)
    mask = mask.astype(np.float32)
    per_batch = len(timesteps) * (1 if guidance == 1.0 else 2)

    def memories(sl):
        n = cw[sl].shape[0]
        mem = encode(cw[sl], np.broadcast_to(mask, (n, mask.shape[-1])))
        null = encode(cw[sl], np.zeros((n, mask.shape[-1]), np.float32)) if guidance != 1.0 else None
        return mem, null

    if mode == "batched":
        chunks = [slice(s, s + max_batch) for s in range(0, len(starts), max_batch)]
        out = np.empty((len(starts), window, pose_dim), dtype=np.float32)
        total = len(timesteps) * len(chunks)
        for c, sl in enumerate(chunks):         # memory stays bounded on hour-long takes
            def prog(k, n, c=c):
                if progress is not None:
                    progress(c * len(timesteps) + k, total)
            mem, null = memories(sl)
            out[sl] = ddim_windows(denoise, mem, nw[sl], timesteps, alphas, guidance, null, prog, cancel)
        poses = stitch(out, starts, frames)
        return poses, {"windows": len(starts), "hop": step, "encoder_calls": len(chunks),
                       "denoiser_calls": per_batch * len(chunks)}
    if mode != "sequential":
        raise ValueError(f"unknown sampling mode {mode!r}")
    result = np.zeros((padded.shape[0], pose_dim), dtype=np.float32)
    total = len(starts) * len(timesteps)
    for i, s in enumerate(starts):
        known, kf = None, 0
        if i > 0:
            kf = starts[i - 1] + window - s
            known = result[None, s:s + kf]

        def prog(k, n, i=i):
            if progress is not None:
                progress(i * len(timesteps) + k, total)

        mem, null = memories(slice(i, i + 1))
        out = ddim_windows(denoise, mem, nw[i:i + 1], timesteps, alphas, guidance, null, prog, cancel,
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
