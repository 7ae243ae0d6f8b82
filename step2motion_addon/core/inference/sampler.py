# SPDX-License-Identifier: GPL-3.0-or-later
"""Windowed few-step sampling over a whole take, in numpy around onnxruntime calls.

Offline (``mode="batched"``): every window of the take is denoised at once, as
one batch per DDIM step (≤10 calls in total, whatever the take's length, up to
``max_batch`` windows per call). Windows share one noise field over the take,
so two windows start from identical noise where they overlap, and are
cross-faded over the overlap (in 6-D rotation space, re-orthonormalised later).

Streaming (``mode="sequential"``): windows run in order and the overlap of each
new window is inpainted at every step with the previous window's result,
noised to that step with the same shared noise (the published continuation,
but with the few-step schedule).
"""

from __future__ import annotations

import numpy as np


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


def ddim_windows(denoise, cond_windows: np.ndarray, mask: np.ndarray, noise_windows: np.ndarray,
                 timesteps, alphas, guidance: float = 1.0, max_batch: int = 32,
                 progress=None, cancel=None, known=None, known_frames: int = 0) -> np.ndarray:
    """Deterministic DDIM (η = 0, x₀-prediction) on a batch of windows.

    ``denoise(x_t, t, cond, cond_mask) -> x0`` runs the ONNX denoiser.
    ``known`` (B, known_frames, D): clean frames to inpaint at the start of each window.
    Guidance w ≠ 1 adds an unconditional pass (null condition): x0 = x0_u + w·(x0_c − x0_u).
    """
    b = cond_windows.shape[0]
    x = noise_windows.astype(np.float32).copy()
    full_mask = np.broadcast_to(mask.astype(np.float32), (b, mask.shape[-1]))
    x0 = x
    for k, (t, ab) in enumerate(zip(timesteps, alphas)):
        _check(cancel)
        if known is not None and known_frames:
            x[:, :known_frames] = (np.sqrt(ab) * known
                                   + np.sqrt(1 - ab) * noise_windows[:, :known_frames]).astype(np.float32)
        x0 = np.empty_like(x)
        for s in range(0, b, max_batch):
            sl = slice(s, s + max_batch)
            n = x[sl].shape[0]
            tt = np.full(n, float(t), dtype=np.float32)
            if guidance == 1.0:
                x0[sl] = denoise(x[sl], tt, cond_windows[sl], full_mask[sl])
            else:
                both = denoise(np.concatenate([x[sl], x[sl]]), np.concatenate([tt, tt]),
                               np.concatenate([cond_windows[sl], cond_windows[sl]]),
                               np.concatenate([full_mask[sl], np.zeros_like(full_mask[sl])]))
                x0[sl] = both[n:] + guidance * (both[:n] - both[n:])
        if known is not None and known_frames:
            x0[:, :known_frames] = known
        if k + 1 < len(timesteps):
            eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
            ab_next = alphas[k + 1]
            x = (np.sqrt(ab_next) * x0 + np.sqrt(1 - ab_next) * eps).astype(np.float32)
        if progress is not None:
            progress(k + 1, len(timesteps))
    return x0


def sample_take(denoise, cond: np.ndarray, mask: np.ndarray, window: int, hop: int, timesteps, alphas,
                pose_dim: int, seed: int = 0, guidance: float = 1.0, mode: str = "batched",
                max_batch: int = 32, progress=None, cancel=None) -> tuple[np.ndarray, dict]:
    """Normalised poses (frames, pose_dim) for a normalised condition sequence (frames, F)."""
    frames = cond.shape[0]
    starts = window_starts(frames, window, hop)
    padded = pad_to(cond, starts[-1] + window)
    noise = np.random.default_rng(seed).standard_normal((padded.shape[0], pose_dim)).astype(np.float32)
    cw = gather_windows(padded, starts, window)
    nw = gather_windows(noise, starts, window)
    calls = len(timesteps) * (1 if guidance == 1.0 else 2)
    if mode == "batched":
        out = ddim_windows(denoise, cw, mask[None], nw, timesteps, alphas, guidance, max_batch, progress, cancel)
        poses = stitch(out, starts, frames)
        return poses, {"windows": len(starts), "denoiser_calls": calls * -(-len(starts) // max_batch)}
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

        out = ddim_windows(denoise, cw[i:i + 1], mask[None], nw[i:i + 1], timesteps, alphas, guidance,
                           max_batch, prog, cancel, known, kf)[0]
        result[s + kf:s + window] = out[kf:]
        if i == 0:
            result[s:s + kf] = out[:kf]
    return result[:frames], {"windows": len(starts), "denoiser_calls": calls * len(starts)}


def regress_take(run, x: np.ndarray, window: int, hop: int, max_batch: int = 64) -> np.ndarray:
    """Windowed frame-wise regressor (root, pressure, baselines), windows batched and cross-faded."""
    frames = x.shape[0]
    starts = window_starts(frames, window, hop)
    xw = gather_windows(pad_to(x, starts[-1] + window), starts, window)
    out = np.concatenate([run(xw[s:s + max_batch]) for s in range(0, len(starts), max_batch)])
    return stitch(out, starts, frames)
