# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluation of a model set through the add-on's runtime (what users run is what is measured).

* ``python -m training.evaluate --models DIR --data shards --split test [--limit N]``: held-out
  clips of the simulator's shards;
* ``python -m training.evaluate --mocap CLIP.bvh[.gz] [...] --json OUT.json [--models DIR]``:
  insoles simulated for the given clips with the project's simulator, then reconstructed;
* ``--real TAKE.txt [...]``: the IMU-to-pressure model against a real recording's measured
  force and COP (needs numpy and onnxruntime only).
* ``--still-start S`` (with ``--data``): the split's clips simulated again from their BVH after
  S seconds of standing (the first frame held), as the add-on asks takes to start.
* ``--drop pressure|imu``: the pose model with those sensor streams absent (an inference-time
  ablation: the model was trained with random stream dropout, so it has null tokens for them).

Metrics follow the published protocol (metres, root-relative unless said):
MPJPE over the 21 non-root joints, end-effector error (toes, head, hands),
legs MPJPE and MPJVE, root error and root drift as % of distance travelled
(beside it, the drift once the path's first 2 m are lined up: see ``root_metrics``),
foot skating while a foot is loaded. Computed from canonical-skeleton FK of the
reconstruction and of the ground truth.
"""

from __future__ import annotations

import numpy as np

from step2motion_addon.core.motion.skeleton import JOINT_INDEX, Motion

END_EFFECTORS = ("LeftToeBase", "RightToeBase", "Head", "LeftHand", "RightHand")
LEG_JOINTS = ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
              "RightToeBase")


def _err(a, b, joints=None):
    idx = slice(1, None) if joints is None else [JOINT_INDEX[j] for j in joints]
    return np.linalg.norm(a[:, idx] - b[:, idx], axis=-1)


def pose_metrics(pred: np.ndarray, true: np.ndarray, fps: float) -> dict:
    """pred/true (T, 22, 3) root-relative positions (root at the origin)."""
    mpjpe = _err(pred, true)
    vel = lambda p: np.diff(p, axis=0) * fps  # noqa: E731
    legs_v = _err(vel(pred), vel(true), LEG_JOINTS)
    return {"mpjpe_m": float(mpjpe.mean()), "mpjpe_std_m": float(mpjpe.std()),
            "end_effector_m": float(_err(pred, true, END_EFFECTORS).mean()),
            "legs_mpjpe_m": float(_err(pred, true, LEG_JOINTS).mean()),
            "legs_mpjve_mps": float(legs_v.mean())}


ALIGN_M = 2.0     # root_metrics: the aligned drift lines the paths up after this much true travel


def root_metrics(pred_root: np.ndarray, true_root: np.ndarray) -> dict:
    """(T, 3) trajectories from the same start: mean error and final drift as % of distance.

    The bar's drift compares the paths in the frame the hips face at the first frame.
    ``root_aligned_final_error_m`` is a diagnostic beside it: the final error once the
    predicted path is turned about its start so that its direction after the first
    ``ALIGN_M`` of true travel matches the truth's. It separates a path that starts off
    a few degrees askew (one constant turn; 1° is 1.75 % of the distance) from one
    whose heading wanders as the take goes on.
    """
    p = pred_root[:, 0] + 1j * pred_root[:, 1]
    t = true_root[:, 0] + 1j * true_root[:, 1]
    err = np.abs(p - t)
    along = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(t)))])
    dist = float(along[-1])
    k = min(int(np.searchsorted(along, ALIGN_M)), len(t) - 1)
    dp, dt = p[k] - p[0], t[k] - t[0]
    turn = np.exp(1j * np.angle(dt * np.conj(dp))) if abs(dp) > 0 and abs(dt) > 0 else 1.0
    aligned = abs(p[0] + (p[-1] - p[0]) * turn - t[-1])
    return {"root_error_m": float(err.mean()),
            "root_drift_pct": float(100.0 * err[-1] / dist) if dist > 0 else float("nan"),
            "root_final_error_m": float(err[-1]), "distance_m": dist,
            "root_aligned_final_error_m": float(aligned)}


def true_path(motion, psi0: float, n: int) -> np.ndarray:
    """(n, 2) ground path of the clip's root in the take's start frame: from the origin, the hips'
    first heading ``psi0`` (rad) turned to 0, as the runtime starts every take."""
    c, s = np.cos(-psi0), np.sin(-psi0)
    d = motion.root_pos[:n, :2] - motion.root_pos[0, :2]
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=-1)


def heading_free(rotations: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Remove a per-frame heading (rad about Z) from the root rotation of (T, 22, 4) quaternions."""
    from step2motion_addon.core.inference.pose import yaw_quat
    from step2motion_addon.core.motion import rotations as rot
    q = rot.normalize(np.array(rotations, dtype=np.float64))   # shards store float16 quaternions
    q[:, 0] = rot.mul(yaw_quat(-np.asarray(psi)), q[:, 0])
    return q


def jitter(pos: np.ndarray, fps: float) -> float:
    """Mean jerk magnitude (m/s³) of (T, J, 3) positions: high-frequency noise the eye sees as jitter."""
    if len(pos) < 4:
        return float("nan")
    return float(np.linalg.norm(np.diff(pos, n=3, axis=0), axis=-1).mean() * fps ** 3)


def foot_skating(world: np.ndarray, contact: np.ndarray, fps: float) -> float:
    """Mean horizontal speed (m/s) of the toes while the true foot is in contact."""
    speeds = []
    for k, toe in enumerate(("LeftToeBase", "RightToeBase")):
        v = np.linalg.norm(np.diff(world[:, JOINT_INDEX[toe], :2], axis=0), axis=-1) * fps
        on = (contact[1:, k] > 0.5) & (contact[:-1, k] > 0.5)
        speeds.append(v[on])
    both = np.concatenate(speeds)
    return float(both.mean()) if both.size else float("nan")


def drop_streams(features, which: str):
    """Features with the pressure (toes, heel, load) or IMU streams marked absent and zeroed."""
    from step2motion_addon.core.features import STREAMS, stream_slices
    names = [n for n, _ in STREAMS]
    gone = [n for n in names if n.endswith("_imu") == (which == "imu")]
    values, mask = features.values.copy(), features.stream_mask.copy()
    for n in gone:
        values[:, stream_slices()[n]] = 0.0
        mask[names.index(n)] = False
    import dataclasses
    # The insoles' dead-reckoned paths came from the stances the pressure gives: without it, the fused path.
    return dataclasses.replace(features, values=values, stream_mask=mask, foot_track=None)


def evaluate_clip(take, motion, models, seed: int = 0, calls: int | None = None, pose_model: str = "pose",
                  drop: str | None = None, heading_source: str | None = None,
                  translation: str | None = None, samples: int = 1, guidance: float | None = None,
                  skip: int = 0, temperature: float | None = None, mirror: bool | None = None) -> dict:
    """Metrics of one clip: pose (heading-free, root at the origin, on the clip's own skeleton) and root.

    ``skip``: frames at the start left out of the pose metrics (a still start added for
    the root's sake); the root path is measured from the first frame.
    """
    from step2motion_addon.core.features import extract_features
    from step2motion_addon.core.inference import reconstruct
    from step2motion_addon.core.inference.reconstruct import mean_reconstruction
    from step2motion_addon.core.inference.pose import contacts_from_motion, heading
    from step2motion_addon.core.recon_run import sampling_temperature
    temperature = sampling_temperature(models, samples, temperature)
    source = take
    if drop:
        source = drop_streams(extract_features(take, **models.feature_options()), drop)
    # ``samples`` > 1: the mean of that many hypotheses (seeds seed, seed + 1, …), as the add-on bakes it.
    recs = [reconstruct(source, models, seed=seed + k, calls=calls, pose_model=pose_model, guidance=guidance,
                        estimate_pressure=drop is None, heading=heading_source, translation=translation,
                        temperature=temperature, mirror=mirror)
            for k in range(max(1, samples) if pose_model == "pose" else 1)]
    r = mean_reconstruction(recs)
    m = motion.resampled(r.rate)
    n = min(r.frames, m.frames)
    zero = np.zeros((n, 3))
    from step2motion_addon.core.motion import rotations as rot
    true_rot = rot.normalize(m.rotations[:n])                # float16 in the shards: renormalise first
    true_psi = np.unwrap(heading(true_rot[:, 0]))
    pred = Motion(r.rate, m.offsets, heading_free(r.rotations[:n], r.heading[:n]), zero).fk()
    true = Motion(r.rate, m.offsets, heading_free(true_rot, true_psi), zero).fk()
    out = pose_metrics(pred[skip:], true[skip:], r.rate)
    out.update(root_metrics(r.root_pos[:n], np.concatenate([true_path(m, true_psi[0], n), m.root_pos[:n, 2:]],
                                                          axis=1)))
    out["jitter_mps3"] = jitter(pred[skip:], r.rate)
    out["true_jitter_mps3"] = jitter(true[skip:], r.rate)
    world = Motion(r.rate, m.offsets, r.rotations[:n], r.root_pos[:n]).fk()
    sub = Motion(m.fps, m.offsets, true_rot, m.root_pos[:n])
    out["foot_skate_mps"] = foot_skating(world[skip:], contacts_from_motion(sub)[skip:], r.rate)
    out["frames"] = n - skip
    out["seconds"] = sum(x.info["seconds"]["total"] for x in recs)
    return out


def pooled(per_clip: list[dict]) -> dict:
    """Frame-weighted means over clips (errors pooled over all frames, as the published protocol)."""
    w = np.array([c["frames"] for c in per_clip], dtype=np.float64)
    keys = [k for k in per_clip[0] if k not in ("frames", "seconds") and isinstance(per_clip[0][k], float)]
    out = {k: float(np.nansum(w * np.array([c[k] for c in per_clip])) / w.sum()) for k in keys}
    # Drift pooled over distance (Σ final error / Σ distance): standing clips travel ~0 m and
    # would make a frame-weighted mean of per-clip percentages meaningless.
    dist = sum(c["distance_m"] for c in per_clip)
    for key, err in (("root_drift_pct", "root_final_error_m"),
                     ("root_drift_aligned_pct", "root_aligned_final_error_m")):
        out[key] = float(100.0 * sum(c[err] for c in per_clip) / dist) if dist > 0 else float("nan")
    out["distance_m"] = float(dist)
    out["clips"] = len(per_clip)
    out["frames"] = int(w.sum())
    out["realtime_factor"] = float(w.sum() / 30.0 / sum(c["seconds"] for c in per_clip))
    return out


def by_category(per_clip: list[dict]) -> dict:
    groups: dict = {}
    for c in per_clip:
        groups.setdefault(c.get("category", "all"), []).append(c)
    return {k: pooled(v) for k, v in sorted(groups.items())}


def f1(pred: np.ndarray, true: np.ndarray) -> float:
    tp = float(np.sum(pred & true))
    fp, fn = float(np.sum(pred & ~true)), float(np.sum(~pred & true))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def pressure_metrics(take, models, stance_bw: float = 0.05) -> dict:
    """IMU → force/COP against a recording's measured values, per foot and pooled.

    Force in body weights (the model's unit) and in newtons; COP RMSE over the frames where
    the measured foot is loaded; stance = force above ``stance_bw`` body weights.
    """
    from step2motion_addon.core.features import extract_features, stream_slices
    from step2motion_addon.core.inference.sampler import regress_take
    feats = extract_features(take, **models.feature_options())
    cond = models.features_norm.apply(feats.values)
    est_n = regress_take(lambda x: models.run("pressure", imu=x), cond[:, models.imu_columns],
                         models.window, models.offline_hop)
    pc = models.pressure_columns
    est = np.full_like(feats.values, np.nan)
    est[:, pc] = est_n * models.features_norm.std[pc] + models.features_norm.mean[pc]
    bw_n = feats.body_mass_kg * 9.81
    out, pooled_est, pooled_true = {}, [], []
    for side in ("left", "right"):
        sl = stream_slices()[f"{side}_load"]
        e, t = est[:, sl], feats.values[:, sl]
        loaded = t[:, 0] > stance_bw
        out[side] = {
            "force_corr": float(np.corrcoef(e[:, 0], t[:, 0])[0, 1]),
            "force_rmse_bw": float(np.sqrt(np.mean((e[:, 0] - t[:, 0]) ** 2))),
            "force_rmse_n": float(np.sqrt(np.mean((e[:, 0] - t[:, 0]) ** 2)) * bw_n),
            "cop_rmse": float(np.sqrt(np.mean((e[loaded, 1:] - t[loaded, 1:]) ** 2))) if loaded.any() else None,
            "stance_f1": f1(e[:, 0] > stance_bw, loaded),
        }
        pooled_est.append(e)
        pooled_true.append(t)
    e, t = np.concatenate(pooled_est), np.concatenate(pooled_true)
    loaded = t[:, 0] > stance_bw
    out["pooled"] = {"force_corr": float(np.corrcoef(e[:, 0], t[:, 0])[0, 1]),
                     "force_rmse_n": float(np.sqrt(np.mean((e[:, 0] - t[:, 0]) ** 2)) * bw_n),
                     "cop_rmse": float(np.sqrt(np.mean((e[loaded, 1:] - t[loaded, 1:]) ** 2))),
                     "stance_f1": f1(e[:, 0] > stance_bw, loaded),
                     "body_mass_kg": feats.body_mass_kg, "body_mass_source": feats.body_mass_source,
                     "seconds": float(len(t) / 2 / models.rate)}
    return out


def _load_clip(path) -> Motion:
    """A BVH clip as the data set builder reads it: reference pose dropped, floor levelled."""
    from step2motion_addon.core.motion.bvh import load_bvh
    from step2motion_addon.core.motion.cleanup import drop_reference_frames, level_floor
    from step2motion_addon.core.motion.retarget import motion_from_bvh
    return level_floor(drop_reference_frames(motion_from_bvh(load_bvh(path))))


def _mocap_clips(paths, seed: int):
    """(take, motion, entry) for BVH clips: insoles simulated by the project's simulator."""
    from step2motion_addon.core.sim import SimParams, simulate_insoles
    for i, path in enumerate(paths):
        motion = _load_clip(path)
        take = simulate_insoles(motion, SimParams(seed=seed + i))
        name = str(path).rsplit("/", 1)[-1]
        yield take, motion.resampled(30.0), {"clip": name, "category": motion.meta.get("category", "mocap")}


def with_still_start(motion: Motion, frames: int) -> Motion:
    """The motion with its first frame held ``frames`` times before it: the wearer stands still first.

    Clips cut from motion capture start mid-stride, so the insoles' gyro offset is only
    estimated from stances and the heading drifts; the add-on asks users to start a take
    standing still (reconstruct's warning). This measures what that buys.
    """
    rotations = np.concatenate([np.repeat(motion.rotations[:1], frames, axis=0), motion.rotations])
    root_pos = np.concatenate([np.repeat(motion.root_pos[:1], frames, axis=0), motion.root_pos])
    return Motion(motion.fps, motion.offsets, rotations, root_pos, dict(motion.meta))


def _resimulated_clips(data_dir, split: str, limit: int | None, mocap_root, still_s: float):
    """(take, motion, entry) of a shard split simulated again from the source BVH, with a still start.

    The simulator parameters the manifest records for each clip (body mass, insole size,
    seed, shoe drop, IMU yaw, noise scale, impact gain, ground offset; the per-cell gain
    spread is not recorded and takes its default); the first frame held ``still_s`` seconds
    first. The returned motion includes that hold, the entry says how many 30 Hz frames it
    takes (``still_frames``).
    """
    from pathlib import Path

    from step2motion_addon.core.sim import SimParams, simulate_insoles

    from . import data
    entries = data.split_entries(data.load_manifest(data_dir), split)[:limit]
    for e in entries:
        path = Path(mocap_root) / e["source"]
        if not path.exists():
            raise SystemExit(f"--still-start needs the source clips: {path} not found (--mocap-root)")
        motion = _load_clip(path)
        held = int(round(still_s * motion.fps))
        motion = with_still_start(motion, held)
        params = SimParams(body_mass_kg=e["body_mass_kg"], insole_size=e["insole_size"], **e.get("sim", {}))
        yield simulate_insoles(motion, params), motion.resampled(30.0), dict(e, still_frames=round(held / motion.fps * 30))


def _print(res: dict, indent: str = "") -> None:
    for k, v in res.items():
        if isinstance(v, dict):
            print(f"{indent}{k}:")
            _print(v, indent + "  ")
        else:
            print(f"{indent}{k:>18s}: {v:.4f}" if isinstance(v, float) else f"{indent}{k:>18s}: {v}")


def main(argv=None) -> int:
    import argparse
    import json
    from pathlib import Path

    from step2motion_addon.core.inference import ModelSet
    from step2motion_addon.core.inference.odometry import TRANSLATION_SOURCES
    from step2motion_addon.core.recon_run import sampling_temperature

    ap = argparse.ArgumentParser(description="Evaluate a model set through the add-on's runtime.")
    ap.add_argument("--models", help="model set folder (default: the shipped models/step2motion-best)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="shard folder (training.dataset build)")
    src.add_argument("--mocap", nargs="+", help="BVH clips (.bvh/.bvh.gz): insoles simulated, then reconstructed")
    src.add_argument("--real", nargs="+", help="real recordings: IMU-to-pressure metrics against measured force/COP")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--limit", type=int, help="first N clips of the split")
    ap.add_argument("--calls", type=int, help="denoiser calls per window (default: the model set's)")
    ap.add_argument("--samples", type=int, default=1,
                    help="diffusion hypotheses per clip, their mean evaluated (as the add-on bakes it; default 1)")
    ap.add_argument("--guidance", type=float,
                    help="classifier-free guidance strength (default: the model set's; 1 = no guidance)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float,
                    help="sampler noise temperature (default: the model set's; 0 = deterministic)")
    ap.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                    help="average each take's estimate with its mirror image's (default: the model set's)")
    ap.add_argument("--pose-model", default="pose", choices=("pose", "mlp", "transformer"),
                    help="the diffusion model or a baseline regressor of the same model set")
    ap.add_argument("--drop", choices=("pressure", "imu"), help="ablation: these sensor streams absent")
    ap.add_argument("--heading", choices=("model", "feet", "fused"),
                    help="root heading source (default: the model set's root_heading)")
    ap.add_argument("--translation", choices=TRANSLATION_SOURCES,
                    help="root translation source (default: the model set's root_translation)")
    ap.add_argument("--still-start", type=float, default=0.0, metavar="S",
                    help="with --data: simulate the split's clips again from their BVH with the first frame "
                         "held S seconds before (a take started standing still); pose metrics skip the hold")
    ap.add_argument("--mocap-root", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"
                                                / "mocap"), help="where --still-start finds the source clips")
    ap.add_argument("--json", "--out", dest="out", help="write the metrics JSON here")
    args = ap.parse_args(argv)
    models_dir = args.models or str(Path(__file__).resolve().parent.parent / "models" / "step2motion-best")
    models = ModelSet(models_dir)
    if args.real:
        from step2motion_addon.core.formats import load_take
        res = {"models": models_dir, "recordings": {p: pressure_metrics(load_take(p), models) for p in args.real}}
        _print(res)
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=1))
        return 0
    if args.mocap:
        clips = _mocap_clips(args.mocap, args.seed)
    elif args.still_start > 0:
        clips = _resimulated_clips(args.data, args.split, args.limit, args.mocap_root, args.still_start)
    else:
        from . import data
        clips = data.iter_clips(args.data, args.split, args.limit)
    per_clip = [dict(evaluate_clip(take, motion, models, args.seed, args.calls, args.pose_model, args.drop,
                                   args.heading, args.translation, args.samples, args.guidance,
                                   e.get("still_frames", 0), args.temperature, args.mirror),
                     clip=e["clip"], category=e.get("category", "all"))
                for take, motion, e in clips]
    if not per_clip:
        raise SystemExit(f"no clips in split {args.split!r}")
    res = pooled(per_clip)
    res.update(split=args.split if args.data else "mocap", pose_model=args.pose_model, models=models_dir,
               drop=args.drop or "none", heading=args.heading or models.meta.get("root_heading", "model"),
               translation=args.translation or models.meta.get("root_translation", "model"),
               still_start_s=args.still_start,
               calls=(args.calls or len(models.meta["sampler"]["timesteps"])) if args.pose_model == "pose" else 0,
               samples=args.samples if args.pose_model == "pose" else 1,
               guidance=(args.guidance if args.guidance is not None else models.meta["sampler"].get("guidance", 1.0))
               if args.pose_model == "pose" else None,
               temperature=sampling_temperature(models, args.samples, args.temperature)
               if args.pose_model == "pose" else None,
               mirror_average=models.mirror_average if args.mirror is None else args.mirror)
    _print(res)
    if args.out:
        Path(args.out).write_text(json.dumps({"pooled": res, "categories": by_category(per_clip),
                                              "clips": per_clip}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
