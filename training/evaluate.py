# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluation on the held-out split (skeleton: metrics defined, the full run needs trained models).

Metrics follow the published protocol (metres, root-relative unless said):
MPJPE over the 21 non-root joints, end-effector error (toes, head, hands),
legs MPJPE and MPJVE, root error and root drift as % of distance travelled,
foot skating while a foot is loaded. Computed from canonical-skeleton FK of the
reconstruction and of the ground truth.
"""

from __future__ import annotations

import numpy as np

from step2motion_addon.core.motion.skeleton import JOINT_INDEX

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


def main(argv=None) -> int:
    raise SystemExit("evaluation needs a trained model set and the dataset shards (next session)")
