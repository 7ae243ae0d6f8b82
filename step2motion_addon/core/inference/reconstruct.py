# SPDX-License-Identifier: GPL-3.0-or-later
"""Take → full-body motion with a model set: features, pose sampling, root integration."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..features import STREAMS, Features, extract_features, mirror_values, stream_columns, stream_slices
from .heading import heading_changes
from .model_set import ModelSet
from .odometry import TRANSLATION_SOURCES, foot_angles, fused_translation, standing, strides_translation
from .pose import CONTACT_COLS, HEIGHT_COL, integrate_root, mirror_pose, pose_to_rotations
from .sampler import (check_temperature, cosine_alphas_cumprod, ddim_timesteps, regress_take, sample_take,
                      window_starts)


@dataclass
class Reconstruction:
    rate: float
    joints: tuple                 # canonical joint names
    parents: tuple
    offsets: np.ndarray           # (22, 3) rest offsets, metres
    rotations: np.ndarray         # (T, 22, 4) local quaternions wxyz (root includes heading)
    root_pos: np.ndarray          # (T, 3) metres, Z up, start at the origin facing −Y
    contact: np.ndarray           # (T, 2) probability the left / right foot is on the ground
    info: dict = field(default_factory=dict)
    heading: np.ndarray | None = None   # (T,) rad, the root model's heading (already in rotations[:, 0])
    load: np.ndarray | None = None      # (T, 2) force / body weight per foot, measured or estimated; 0: unknown

    @property
    def frames(self) -> int:
        return int(self.rotations.shape[0])


def mean_reconstruction(recs: list) -> Reconstruction:
    """The mean of several hypotheses of one take (same length, different sampler seeds).

    Per joint and frame, quaternions sign-aligned to the first hypothesis then
    averaged and renormalised (they lie close together, where this equals the
    rotation average); root path and contact averaged. Four hypotheses on the
    test split: MPJPE 6.11 → 6.01 cm, legs 4.79 → 4.68, jitter 209 → 123 m/s³
    (truth 68) — the sampler's frame-to-frame noise averages out, the motion does not.
    """
    if not recs:
        raise ValueError("no hypotheses to average")
    first = recs[0]
    if len(recs) == 1:
        return first
    if any(r.frames != first.frames for r in recs):
        raise ValueError(f"hypotheses differ in length: {sorted({r.frames for r in recs})} frames")
    q = np.stack([r.rotations for r in recs]).astype(np.float64)          # (K, T, 22, 4)
    q = np.where(np.sum(q * q[:1], axis=-1, keepdims=True) < 0.0, -q, q)
    mean_q = q.sum(axis=0)
    mean_q /= np.linalg.norm(mean_q, axis=-1, keepdims=True)
    heading = None if first.heading is None else np.mean([r.heading for r in recs], axis=0)
    return Reconstruction(first.rate, first.joints, first.parents, first.offsets.copy(),
                          mean_q.astype(first.rotations.dtype),
                          np.mean([r.root_pos for r in recs], axis=0),
                          np.mean([r.contact for r in recs], axis=0),
                          dict(first.info, hypotheses_averaged=len(recs)), heading=heading, load=first.load)


def reconstruct(take_or_features, models: ModelSet, seed: int = 0, guidance: float | None = None,
                mode: str = "batched", max_batch: int = 32, progress=None, cancel=None,
                calls: int | None = None, pose_model: str = "pose",
                estimate_pressure: bool = True, heading: str | None = None,
                translation: str | None = None, temperature: float | None = None,
                mirror: bool | None = None) -> Reconstruction:
    """Reconstruct the wearer's motion from a take (or its precomputed :class:`Features`).

    ``progress(done, total)`` is called after every denoiser step; ``cancel`` is a
    callable or an object with ``is_set()`` checked between calls (raises
    :class:`~.sampler.Cancelled`). Same seed → same result. ``calls`` overrides the
    model set's number of denoiser calls per window (evaluation of shorter schedules).
    ``pose_model="mlp"|"transformer"`` uses a baseline regressor of the model set
    instead of the diffusion model (side-by-side evaluation; same everything else).
    ``estimate_pressure=False`` leaves missing pressure streams missing (ablations).
    ``heading``: where the facing direction comes from — ``"model"`` (the root model's
    turn rate), ``"feet"`` (the insoles' own headings) or ``"fused"``; default: the
    model set's ``root_heading`` (see :mod:`.heading`). ``translation``: the root model's
    steps alone (``"model"``) or averaged with the planted feet's (``"fused"``, see
    :mod:`.odometry`); default: the model set's ``root_translation``. ``temperature``: of the
    sampler's starting noise (see :func:`~.sampler.sample_take`); default: the model set's
    ``sampler.temperature`` (1 when it names none). ``mirror``: also reconstruct the take's
    mirror image (feet swapped) and average it, mirrored back, with the direct estimate (both in
    one sampler run: up to twice the pose model's time); default: the model set's
    ``mirror_average`` (off when it names none).
    """
    t0 = time.perf_counter()
    trained = models.meta["features"].get("ahrs_backend")
    options = models.feature_options()
    feats = take_or_features if isinstance(take_or_features, Features) else \
        extract_features(take_or_features, **options)   # the model's own filter
    if abs(feats.rate - models.rate) > 1e-6:
        raise ValueError(f"features at {feats.rate} Hz, model set expects {models.rate} Hz")
    cond = models.features_norm.apply(feats.values)
    mask = feats.stream_mask.astype(np.float32).copy()
    names = [n for n, _ in STREAMS]
    # IMU-only insoles / dead pressure streams: estimate them from the IMU when the model set can.
    imu_ok = all(mask[names.index(n)] for n in ("left_imu", "right_imu"))
    pressure_idx = [i for i, n in enumerate(names) if not n.endswith("_imu")]
    estimated = []
    if estimate_pressure and models.has("pressure") and imu_ok and not all(mask[i] for i in pressure_idx):
        est = regress_take(lambda x: models.run("pressure", imu=x), cond[:, models.imu_columns],
                           models.window, models.offline_hop)
        for i in pressure_idx:
            if not mask[i]:
                cols = stream_columns([names[i]])
                pos = np.searchsorted(models.pressure_columns, cols)
                cond[:, cols] = est[:, pos]
                mask[i] = 1.0
                estimated.append(names[i])
    t_feat = time.perf_counter()
    sampler = dict(models.meta["sampler"])
    if calls is not None:
        if not 1 <= calls <= 10:
            raise ValueError(f"calls must be 1..10, not {calls}")
        sampler["timesteps"] = ddim_timesteps(sampler["train_steps"], calls)
        ab = cosine_alphas_cumprod(sampler["train_steps"])
        sampler["alphas_cumprod"] = [float(ab[t]) for t in sampler["timesteps"]]
    g = sampler.get("guidance", 1.0) if guidance is None else guidance
    temp = models.temperature if temperature is None else check_temperature(temperature)
    if not (pose_model == "pose" or (models.has(pose_model) and pose_model in ("mlp", "transformer"))):
        raise ValueError(f"model set has no pose model {pose_model!r}")
    mirror = models.mirror_average if mirror is None else bool(mirror)

    def pose_views(c, m):
        """Physical pose vectors (V, frames, D) of V views of the condition, (V, frames, F) and (V, S)."""
        if pose_model != "pose":
            out = np.stack([regress_take(lambda x: models.run(pose_model, cond=x), ci, models.window,
                                         models.offline_hop) for ci in c])
            return models.pose_norm.invert(out), {
                "windows": len(window_starts(feats.frames, models.window, models.offline_hop)),
                "hop": models.offline_hop, "denoiser_calls": 0, "encoder_calls": 0}
        # One sampler run for every view: a short take's windows share each denoiser call.
        out, info = sample_take(lambda x, t, mem: models.run("pose", x_t=x, t=t, memory=mem),
                                lambda cc, mm: models.run("pose_cond", cond=cc, cond_mask=mm),
                                c, m, models.window, models.hop, sampler["timesteps"],
                                sampler["alphas_cumprod"], models.pose_norm.mean.shape[0], seed=seed,
                                guidance=g, mode=mode, max_batch=max_batch, progress=progress,
                                cancel=cancel, offline_hop=models.offline_hop, temperature=temp)
        return models.pose_norm.invert(out), info

    if mirror:
        # The mirror image's estimate, mirrored back, averaged with the direct one: the
        # models' left/right biases cancel and two estimates average (docs/models.md).
        mirrored = models.features_norm.apply(mirror_values(models.features_norm.invert(cond)))
        poses, sinfo = pose_views(np.stack([cond, mirrored]), np.stack([mask, mirror_values(mask)]))
        pose = 0.5 * (poses[0] + mirror_pose(poses[1]))
    else:
        poses, sinfo = pose_views(cond[None], mask[None])
        pose = poses[0]
    sinfo["mirror_average"] = mirror
    t_pose = time.perf_counter()
    if models.has("root") and imu_ok:
        root = models.root_norm.invert(regress_take(lambda x: models.run("root", imu=x),
                                                    cond[:, models.imu_columns], models.window, models.offline_hop))
        root[0] = 0.0
        heading = heading or models.meta.get("root_heading", "model")
        imu_feet = np.array([mask[names.index(n)] > 0 for n in ("left_imu", "right_imu")])
        root[:, 2] = heading_changes(heading, root[:, 2], feats.foot_yaw, imu_feet, models.rate)
    else:
        root = np.zeros((feats.frames, 3), dtype=np.float32)
    xy, psi = integrate_root(root)
    rotations = pose_to_rotations(pose, psi)
    translation = translation or models.meta.get("root_translation", "model")
    if translation not in TRANSLATION_SOURCES:
        raise ValueError(f"translation must be one of {TRANSLATION_SOURCES}, not {translation!r}")
    load = _foot_load(cond, mask, models)
    if translation != "model" and models.has("root") and imu_ok:
        sl = stream_slices()
        imu = np.stack([feats.values[:, sl[f"{side}_imu"]] for side in ("left", "right")], axis=1)
        xy = fused_translation(xy, rotations, models.offsets, load,
                               still=standing(imu[..., 0:3], imu[..., 3:6], load, models.rate))
        # "strides_feet": the insoles' paths turned by where the reconstructed feet point;
        # "strides": by the fused path (odometry.strides_translation).
        angles = foot_angles(rotations, psi, load) if translation == "strides_feet" else None
        strides = strides_translation(xy, psi, feats.foot_yaw, feats.foot_track, models.rate, angles=angles) \
            if translation.startswith("strides") else None
        if strides is None:
            translation = "fused"              # asked for, or no dead-reckoned track of both feet
        else:
            xy = strides
    else:
        translation = "model"
    root_pos = np.concatenate([xy, pose[:, HEIGHT_COL:HEIGHT_COL + 1]], axis=1)
    contact = np.clip(pose[:, list(CONTACT_COLS)], 0.0, 1.0)
    t_end = time.perf_counter()
    warnings = []
    trained_calls = len(models.meta["sampler"]["timesteps"])
    if (calls is not None and pose_model == "pose" and calls != trained_calls
            and models.meta["sampler"].get("train_timesteps") == "schedule"):
        warnings.append(f"the pose model was trained for its {trained_calls} sampler timesteps, "
                        f"sampled here with {calls} calls: expect lower accuracy")
    if trained and feats.ahrs_backend not in ("none", trained):
        warnings.append(f"orientation filter {feats.ahrs_backend} differs from the model's {trained}")
    tilt = options["tilt_offset"]
    if feats.tilt_offset != tilt and "stance" in feats.gyro_bias_source.values():    # only then does it matter
        warnings.append(f"gyro tilt offset from the {feats.tilt_offset} differs from the model's ({tilt})")
    unsteady = [side for side, src in feats.gyro_bias_source.items() if src != "still"]
    if unsteady:
        # Without a still moment the gyro's offset is only estimated from mid-stance; on simulated
        # takes the path then turns by 0.4 (walks) to 1 (runs) degrees per second on average,
        # up to ≈2 on single runs (docs/models.md).
        warnings.append(f"the {' and '.join(unsteady)} insole never stood still for 0.3 s: its gyro offset "
                        "is estimated while walking, so the path may slowly turn (about 0.5–1° per second, "
                        "more on some takes); start takes standing still for a second")
    info = dict(sinfo, warnings=warnings, seed=seed, guidance=g, temperature=temp, mode=mode,
                estimated_streams=estimated, pose_model=pose_model, heading_source=heading or "none",
                translation_source=translation,
                body_mass_kg=feats.body_mass_kg, body_mass_source=feats.body_mass_source,
                ahrs_backend=feats.ahrs_backend, tilt_offset=feats.tilt_offset,
                seconds={"features": t_feat - t0, "pose": t_pose - t_feat, "root": t_end - t_pose,
                         "total": t_end - t0},
                realtime_factor=(feats.frames / models.rate) / max(t_end - t0, 1e-9))
    return Reconstruction(models.rate, models.joints, models.parents, models.offsets.copy(), rotations,
                          root_pos, contact, info, heading=psi, load=load)


def _foot_load(cond: np.ndarray, mask: np.ndarray, models: ModelSet) -> np.ndarray:
    """(T, 2) force / body weight of each foot (measured or estimated); 0 where unknown."""
    names = [n for n, _ in STREAMS]
    streams = [names.index(f"{side}_load") for side in ("left", "right")]
    cols = [stream_slices()[f"{side}_load"].start for side in ("left", "right")]   # force: first column
    load = cond[:, cols] * models.features_norm.std[cols] + models.features_norm.mean[cols]
    load[:, mask[streams] == 0] = 0.0
    return load

