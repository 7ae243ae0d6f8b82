# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluation of a model set on a split of the simulator's shards, through the add-on's runtime.

``python -m training.evaluate --models runs/x/model_set --data shards --split val [--calls 6] [--limit 20]``

Metrics follow the published protocol (metres, root-relative unless said):
MPJPE over the 21 non-root joints, end-effector error (toes, head, hands),
legs MPJPE and MPJVE, root error and root drift as % of distance travelled,
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


def root_metrics(pred_root: np.ndarray, true_root: np.ndarray) -> dict:
    """(T, 3) trajectories from the same start: mean error and final drift as % of distance."""
    err = np.linalg.norm(pred_root[:, :2] - true_root[:, :2], axis=-1)
    dist = np.linalg.norm(np.diff(true_root[:, :2], axis=0), axis=-1).sum()
    return {"root_error_m": float(err.mean()),
            "root_drift_pct": float(100.0 * err[-1] / dist) if dist > 0 else float("nan")}


def heading_free(rotations: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Remove a per-frame heading (rad about Z) from the root rotation of (T, 22, 4) quaternions."""
    from step2motion_addon.core.inference.pose import yaw_quat
    from step2motion_addon.core.motion import rotations as rot
    q = rot.normalize(np.array(rotations, dtype=np.float64))   # shards store float16 quaternions
    q[:, 0] = rot.mul(yaw_quat(-np.asarray(psi)), q[:, 0])
    return q


def evaluate_clip(take, motion, models, seed: int = 0, calls: int | None = None, pose_model: str = "pose") -> dict:
    """Metrics of one clip: pose (heading-free, root at the origin, on the clip's own skeleton) and root."""
    from step2motion_addon.core.inference import reconstruct
    from step2motion_addon.core.inference.pose import heading
    r = reconstruct(take, models, seed=seed, calls=calls, pose_model=pose_model)
    m = motion.resampled(r.rate)
    n = min(r.frames, m.frames)
    zero = np.zeros((n, 3))
    from step2motion_addon.core.motion import rotations as rot
    true_rot = rot.normalize(m.rotations[:n])                # float16 in the shards: renormalise first
    true_psi = np.unwrap(heading(true_rot[:, 0]))
    pred = Motion(r.rate, m.offsets, heading_free(r.rotations[:n], r.heading[:n]), zero).fk()
    true = Motion(r.rate, m.offsets, heading_free(true_rot, true_psi), zero).fk()
    out = pose_metrics(pred, true, r.rate)
    # Root: the true path in the take's start frame (start at the origin, initial heading 0).
    c, s = np.cos(-true_psi[0]), np.sin(-true_psi[0])
    d = m.root_pos[:n, :2] - m.root_pos[0, :2]
    true_xy = np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=-1)
    out.update(root_metrics(r.root_pos[:n], np.concatenate([true_xy, m.root_pos[:n, 2:]], axis=1)))
    out["frames"] = n
    out["seconds"] = r.info["seconds"]["total"]
    return out


def pooled(per_clip: list[dict]) -> dict:
    """Frame-weighted means over clips (errors pooled over all frames, as the published protocol)."""
    w = np.array([c["frames"] for c in per_clip], dtype=np.float64)
    keys = [k for k in per_clip[0] if k not in ("frames", "seconds")]
    out = {k: float(np.nansum(w * np.array([c[k] for c in per_clip])) / w.sum()) for k in keys}
    out["clips"] = len(per_clip)
    out["frames"] = int(w.sum())
    out["realtime_factor"] = float(w.sum() / 30.0 / sum(c["seconds"] for c in per_clip))
    return out


def main(argv=None) -> int:
    import argparse
    import json

    from step2motion_addon.core.inference import ModelSet

    from . import data
    ap = argparse.ArgumentParser(description="Evaluate a model set on a split of the shards.")
    ap.add_argument("--models", required=True, help="model set folder (training.export output)")
    ap.add_argument("--data", required=True, help="shard folder (training.dataset build)")
    ap.add_argument("--split", default="val", choices=("train", "val", "test"))
    ap.add_argument("--limit", type=int, help="first N clips of the split")
    ap.add_argument("--calls", type=int, help="denoiser calls per window (default: the model set's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pose-model", default="pose", choices=("pose", "mlp", "transformer"),
                    help="the diffusion model or a baseline regressor of the same model set")
    ap.add_argument("--out", help="write the metrics JSON here")
    args = ap.parse_args(argv)
    models = ModelSet(args.models)
    per_clip = [dict(evaluate_clip(take, motion, models, args.seed, args.calls, args.pose_model), clip=e["clip"])
                for take, motion, e in data.iter_clips(args.data, args.split, args.limit)]
    if not per_clip:
        raise SystemExit(f"no clips in split {args.split!r}")
    res = pooled([{k: v for k, v in c.items() if k != "clip"} for c in per_clip])
    res.update(split=args.split, pose_model=args.pose_model, models=args.models,
               calls=(args.calls or len(models.meta["sampler"]["timesteps"])) if args.pose_model == "pose" else 0)
    for k, v in res.items():
        print(f"{k:>18s}: {v:.4f}" if isinstance(v, float) else f"{k:>18s}: {v}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"pooled": res, "clips": per_clip}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
