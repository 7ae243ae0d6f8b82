# SPDX-License-Identifier: GPL-3.0-or-later
"""PyTorch models (training only; the add-on runs their ONNX exports).

* :class:`PoseDenoiser`: diffusion denoiser predicting the clean pose x₀ of a
  window from a noisy one, with per-modality cross-attention (head h of the
  cross-attention sees only sensor stream h; every pose token queries every
  head), a diffusion-step embedding and a learned null condition per stream
  (classifier-free guidance, and inference with dead / absent streams).
  Optionally (``local``: a kernel width) a frame-aligned path as well: every
  layer adds a temporal convolution of the streams at the token's own frames,
  so the model need not learn from positions alone which moment of the
  sensors belongs to which pose. One
  token per frame by default; exported as two graphs (condition encoder once
  per window, denoiser per sampler call) through :class:`PoseEncoderGraph` and
  :class:`PoseStepGraph`.
* :class:`SequenceRegressor`: a small Transformer encoder over frames, used as
  the root-displacement model (IMU streams → ROOT_DIM), the IMU→pressure model
  (IMU streams → the pressure/load streams) and the plain Transformer baseline
  (all streams → POSE_DIM).
* :class:`MLPRegressor`: the MLP baseline (9-frame context, same I/O).
* :func:`fk_positions`: forward kinematics in torch for the position loss.

All tensors are (batch, frames, dims); ONNX-friendly ops only (no
data-dependent control flow), exported by training/export.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from step2motion_addon.core.features import FEATURE_DIM, STREAMS
from step2motion_addon.core.inference import sampler as _sampler
from step2motion_addon.core.inference.pose import N_JOINTS, POSE_DIM, ROT_DIM, TOKEN_GROUPS


def sinusoid(pos: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) positions → (..., dim) fixed sinusoidal encoding."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=pos.device) / half)
    ang = pos.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


def mlp(sizes, act=nn.GELU) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def attention(q, k, v):
    """Scaled dot-product attention written out (exports to plain MatMul/Softmax)."""
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.out(attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class PerModalityCrossAttention(nn.Module):
    """One head per sensor stream: head h's keys/values come from stream h only.

    Keys/values depend on the condition only, never on the noisy pose or the
    diffusion step, so :meth:`memory` runs once per window (its own ONNX graph)
    and every denoiser call reuses them.
    """

    def __init__(self, d: int, n_streams: int, d_stream: int):
        super().__init__()
        assert d % n_streams == 0, "model width must split into one head per stream"
        self.h, self.dh = n_streams, d // n_streams
        self.q = nn.Linear(d, d)
        # Per-stream key/value projections as one batched weight (streams, d_stream, 2·dh).
        self.kv_w = nn.Parameter(torch.randn(n_streams, d_stream, 2 * self.dh) / math.sqrt(d_stream))
        self.kv_b = nn.Parameter(torch.zeros(n_streams, 1, 2 * self.dh))
        self.out = nn.Linear(d, d)

    def memory(self, streams):
        """streams (B, S, W, d_stream) → keys and values (B, 2, S, W, dh)."""
        kv = torch.einsum("bswc,sce->bswe", streams, self.kv_w) + self.kv_b      # (B, S, W, 2dh)
        return torch.stack([kv[..., :self.dh], kv[..., self.dh:]], dim=1)

    def forward(self, x, k, v):
        # x (B, N, d); k, v (B, S, W, dh)
        b, n, d = x.shape
        q = self.q(x).reshape(b, n, self.h, self.dh).transpose(1, 2)            # (B, S, N, dh)
        return self.out(attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class DenoiserLayer(nn.Module):
    def __init__(self, d, heads, ffn, n_streams, d_stream, dropout):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = SelfAttention(d, heads)
        self.cross = PerModalityCrossAttention(d, n_streams, d_stream)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))
        self.step = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, step_emb, k, v, local=None):
        x = x + self.step(step_emb).unsqueeze(1)           # diffusion step in every layer
        if local is not None:                              # (B, N, d): the frame-aligned sensor path
            x = x + local
        x = x + self.drop(self.self_attn(self.n1(x)))
        x = x + self.drop(self.cross(self.n2(x), k, v))
        return x + self.drop(self.ffn(self.n3(x)))


class StreamEncoder(nn.Module):
    """A 3-layer MLP per sensor stream, a temporal encoding, and a learned null token per stream."""

    def __init__(self, d_stream: int, hidden: int):
        super().__init__()
        self.widths = [w for _, w in STREAMS]
        self.d_stream = d_stream
        self.mlps = nn.ModuleList([mlp([w, hidden, hidden, d_stream]) for w in self.widths])
        self.null = nn.Parameter(torch.zeros(len(self.widths), d_stream))

    def forward(self, cond, cond_mask):
        # cond (B, W, 58) normalised; cond_mask (B, S) 1 = measured, 0 = use the null condition
        b, w, _ = cond.shape
        parts, start = [], 0
        for mlp_s, width in zip(self.mlps, self.widths):
            parts.append(mlp_s(cond[..., start:start + width]))
            start += width
        s = torch.stack(parts, dim=1)                                   # (B, S, W, d_stream)
        m = cond_mask.reshape(b, -1, 1, 1)
        s = m * s + (1.0 - m) * self.null.reshape(1, -1, 1, self.d_stream)
        pos = sinusoid(torch.arange(w, device=cond.device), self.d_stream)
        return s + pos


class PoseDenoiser(nn.Module):
    """x₀-predicting denoiser over a window of poses.

    ``tokens="frame"`` (default): one token per frame holding the whole pose.
    ``tokens="groups"``: three tokens per frame (left leg, right leg, rest), as
    the published model; 3× the sequence length, ≈3× slower per call (see
    docs/models.md). Split in two for inference: :meth:`encode` (condition →
    per-layer cross-attention keys/values, once per window) and :meth:`denoise`
    (one sampler call); :meth:`forward` chains them for training.
    """

    def __init__(self, d_model=128, layers=2, heads=4, ffn=256, d_stream=32, stream_hidden=64,
                 dropout=0.1, diffusion_steps=1000, tokens="frame", local: int = 0, trunk: int = 0,
                 trunk_layers: int = 3, trunk_context: int = 9):
        super().__init__()
        if tokens not in ("frame", "groups"):
            raise ValueError(f"tokens must be 'frame' or 'groups', not {tokens!r}")
        self.diffusion_steps = diffusion_steps
        self.tokens = tokens
        self.groups = [idx for _, idx in TOKEN_GROUPS] if tokens == "groups" else [list(range(POSE_DIM))]
        for k, idx in enumerate(self.groups):
            self.register_buffer(f"group_idx_{k}", torch.tensor(idx, dtype=torch.long), persistent=False)
        order = np.argsort(np.concatenate(self.groups))
        self.register_buffer("unscatter", torch.tensor(order, dtype=torch.long), persistent=False)
        self.inp = nn.ModuleList([nn.Linear(len(idx), d_model) for idx in self.groups])
        self.outp = nn.ModuleList([nn.Linear(d_model, len(idx)) for idx in self.groups])
        self.group_emb = nn.Parameter(torch.zeros(len(self.groups), d_model))
        self.streams = StreamEncoder(d_stream, stream_hidden)
        self.step_mlp = mlp([d_model, d_model, d_model], act=nn.SiLU)
        self.layers = nn.ModuleList([DenoiserLayer(d_model, heads, ffn, len(STREAMS), d_stream, dropout)
                                     for _ in range(layers)])
        self.norm = nn.LayerNorm(d_model)
        self.d = d_model
        # One convolution per layer over the concatenated streams (S·d_stream channels).
        if local and local % 2 == 0:
            raise ValueError(f"local must be an odd kernel width, not {local}")
        self.local = nn.ModuleList([nn.Conv1d(len(STREAMS) * d_stream, d_model, local,
                                              padding=local // 2, padding_mode="replicate")
                                    for _ in range(layers)]) if local else None
        # ``trunk`` (a hidden width): the MLP baseline's network over each frame's 9-frame
        # neighbourhood of the raw features, its last hidden layer added to every layer's
        # frame-aligned path (one projection per layer). Grafted from a trained MLP
        # (training.train --trunk-from) so the denoiser starts from the regressor's local view.
        if trunk and not local:
            raise ValueError("trunk feeds the frame-aligned path: it needs local > 0")
        self.trunk = (MLPRegressor(FEATURE_DIM, POSE_DIM, hidden=trunk, context=trunk_context, layers=trunk_layers)
                      if trunk else None)
        self.trunk_proj = nn.ModuleList([nn.Linear(trunk, d_model) for _ in range(layers)]) if trunk else None
        if trunk:                                      # feature column → its stream, to mask the raw features
            widths = torch.tensor([w for _, w in STREAMS])
            self.register_buffer("stream_of_col", torch.repeat_interleave(torch.arange(len(STREAMS)), widths),
                                 persistent=False)

    def encode(self, cond, cond_mask):
        """cond (B, W, 58) normalised, cond_mask (B, S) → memory (B, layers, 2 or 3, S, W, d/S).

        Slots: cross-attention keys, values and, with ``local``, the layer's
        frame-aligned path (d channels split like the heads), all from the
        condition only, so the sampler computes them once per window.
        """
        s = self.streams(cond, cond_mask)                                  # (B, S, W, d_stream)
        mem = [layer.cross.memory(s) for layer in self.layers]
        if self.local is not None:
            b, n_s, w, c = s.shape
            frames = s.permute(0, 1, 3, 2).reshape(b, n_s * c, w)          # (B, S·d_stream, W)
            hidden = None
            if self.trunk is not None:                   # absent streams read as zeros, as dropped ones
                x = cond * cond_mask.index_select(1, self.stream_of_col).unsqueeze(1)
                hidden = self.trunk.features(x)                                    # (B, W, trunk)
            for i, conv in enumerate(self.local):
                loc = conv(frames)                                                 # (B, d, W)
                if hidden is not None:
                    loc = loc + self.trunk_proj[i](hidden).transpose(1, 2)
                loc = loc.reshape(b, n_s, self.d // n_s, w).transpose(2, 3)        # (B, S, W, dh)
                mem[i] = torch.cat([mem[i], loc.unsqueeze(1)], dim=1)
        return torch.stack(mem, dim=1)

    def denoise(self, x_t, t, memory):
        # x_t (B, W, POSE_DIM) normalised noisy pose; t (B,) float step; memory from encode()
        b, w, _ = x_t.shape
        g = len(self.groups)
        pos = sinusoid(torch.arange(w, device=x_t.device), self.d)
        if g == 1:                                   # no gather/scatter on the fast path
            x = self.inp[0](x_t) + pos + self.group_emb
        else:
            tokens = torch.stack([lin(x_t.index_select(2, getattr(self, f"group_idx_{k}")))
                                  for k, lin in enumerate(self.inp)], dim=2)      # (B, W, G, d)
            tokens = tokens + pos.reshape(1, w, 1, self.d) + self.group_emb.reshape(1, 1, g, self.d)
            x = tokens.reshape(b, w * g, self.d)
        step = self.step_mlp(sinusoid(t * (1000.0 / self.diffusion_steps), self.d))
        for i, layer in enumerate(self.layers):
            local = None
            if self.local is not None:                   # (B, S, W, dh) → (B, W, d), one per token
                local = memory[:, i, 2].permute(0, 2, 1, 3).reshape(b, w, 1, self.d)
                local = local.expand(b, w, g, self.d).reshape(b, w * g, self.d)
            x = layer(x, step, memory[:, i, 0], memory[:, i, 1], local)
        x = self.norm(x)
        if g == 1:
            return self.outp[0](x)
        x = x.reshape(b, w, g, self.d)
        out = torch.cat([lin(x[:, :, k]) for k, lin in enumerate(self.outp)], dim=-1)
        return out.index_select(2, self.unscatter)

    def forward(self, x_t, t, cond, cond_mask):
        return self.denoise(x_t, t, self.encode(cond, cond_mask))


class PoseEncoderGraph(nn.Module):
    """Export wrapper: the condition half of :class:`PoseDenoiser` (one call per window)."""

    def __init__(self, model: PoseDenoiser):
        super().__init__()
        self.model = model

    def forward(self, cond, cond_mask):
        return self.model.encode(cond, cond_mask)


class PoseStepGraph(nn.Module):
    """Export wrapper: one denoiser call given the cached condition memory."""

    def __init__(self, model: PoseDenoiser):
        super().__init__()
        self.model = model

    def forward(self, x_t, t, memory):
        return self.model.denoise(x_t, t, memory)


class SequenceRegressor(nn.Module):
    """Frame-wise Transformer encoder: root model, IMU→pressure model, Transformer baseline."""

    def __init__(self, in_dim, out_dim, d_model=128, layers=1, heads=4, ffn=256, dropout=0.1):
        super().__init__()
        self.embed = mlp([in_dim, d_model, d_model])
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "n1": nn.LayerNorm(d_model), "attn": SelfAttention(d_model, heads),
                "n2": nn.LayerNorm(d_model),
                "ffn": nn.Sequential(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model)),
            }))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, out_dim))
        self.d = d_model

    def forward(self, x):
        h = self.embed(x) + sinusoid(torch.arange(x.shape[1], device=x.device), self.d)
        for blk in self.blocks:
            h = h + self.drop(blk["attn"](blk["n1"](h)))
            h = h + self.drop(blk["ffn"](blk["n2"](h)))
        return self.head(h)


class MLPRegressor(nn.Module):
    """MLP baseline: each frame sees a centred 9-frame context (a conv of width 9 = an MLP on stacked frames)."""

    def __init__(self, in_dim, out_dim, hidden=512, context=9, layers=3):
        super().__init__()
        self.first = nn.Conv1d(in_dim, hidden, context, padding=context // 2, padding_mode="replicate")
        self.rest = mlp([hidden] * layers + [out_dim])
        self.act = nn.GELU()

    def features(self, x):
        """(B, W, in) → (B, W, hidden): the last hidden layer (what the output layer reads)."""
        return self.rest[:-1](self.act(self.first(x.transpose(1, 2)).transpose(1, 2)))

    def forward(self, x):
        return self.rest(self.act(self.first(x.transpose(1, 2)).transpose(1, 2)))


# -- diffusion schedule ------------------------------------------------------------------
# The runtime computes the same schedule (numpy, no torch): one definition.
cosine_alphas_cumprod = _sampler.cosine_alphas_cumprod
sampler_timesteps = _sampler.ddim_timesteps


# -- rotations and forward kinematics (torch) ----------------------------------------------
def sixd_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    a, b = d6[..., :3], d6[..., 3:6]
    x = torch.nn.functional.normalize(a, dim=-1, eps=1e-8)
    b = b - (x * b).sum(-1, keepdim=True) * x
    y = torch.nn.functional.normalize(b, dim=-1, eps=1e-8)
    return torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=-1)


def fk_positions(pose: torch.Tensor, offsets: torch.Tensor, parents) -> torch.Tensor:
    """(…, POSE_DIM) physical-unit poses → (…, 22, 3) joint positions (heading frame, root at its height).

    ``offsets`` (22, 3) or (…, 22, 3) metres, ``parents`` the canonical parent list.
    """
    lead = pose.shape[:-1]
    m = sixd_to_matrix(pose[..., :ROT_DIM].reshape(*lead, N_JOINTS, 6))
    off = offsets.expand(*lead, N_JOINTS, 3) if offsets.dim() == 2 else offsets
    glob, pos = [], []
    for j, p in enumerate(parents):
        if p < 0:
            glob.append(m[..., j, :, :])
            root = torch.zeros(*lead, 3, dtype=pose.dtype, device=pose.device)
            pos.append(torch.cat([root[..., :2], pose[..., ROT_DIM:ROT_DIM + 1]], dim=-1))
        else:
            glob.append(glob[p] @ m[..., j, :, :])
            pos.append(pos[p] + (glob[p] @ off[..., j, :].unsqueeze(-1)).squeeze(-1))
    return torch.stack(pos, dim=-2)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(kind: str, cfg: dict) -> nn.Module:
    """A model from its config section (see training/config/*.json)."""
    from step2motion_addon.core.features import FEATURE_DIM, stream_columns, IMU_STREAMS, PRESSURE_STREAMS
    from step2motion_addon.core.inference.pose import ROOT_DIM
    c = dict(cfg)
    if kind == "pose":
        return PoseDenoiser(**c)
    if kind == "root":
        return SequenceRegressor(len(stream_columns(IMU_STREAMS)), ROOT_DIM, **c)
    if kind == "pressure":
        return SequenceRegressor(len(stream_columns(IMU_STREAMS)), len(stream_columns(PRESSURE_STREAMS)), **c)
    if kind == "transformer":
        return SequenceRegressor(FEATURE_DIM, POSE_DIM, **c)
    if kind == "mlp":
        return MLPRegressor(FEATURE_DIM, POSE_DIM, **c)
    raise ValueError(f"unknown model kind {kind!r}")
