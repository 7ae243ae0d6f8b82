# SPDX-License-Identifier: GPL-3.0-or-later
"""Does the hips' sway explain the root drift's starting angle? (docs/model-card.md, session 17)

The bar's drift compares paths in the frame the hips face in the first frame, and walking
hips sway a few degrees about their mean facing. For every test clip that travels over 1 m
this turns the reconstructed path by the hips' first-frame angle from their mean facing
over the first second, true (oracle) or from the root model's heading changes, both ways,
and prints the pooled drift of each.

    python tools/hips_sway_drift.py MODEL_SET [EVERY] [OUT.json]
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from step2motion_addon.core.features import extract_features              # noqa: E402
from step2motion_addon.core.inference import ModelSet, reconstruct         # noqa: E402
from step2motion_addon.core.inference.pose import heading                  # noqa: E402
from step2motion_addon.core.inference.sampler import regress_take          # noqa: E402
from step2motion_addon.core.motion import rotations as rot                 # noqa: E402
from training.data import iter_clips                                       # noqa: E402
from training.evaluate import root_metrics, true_path                      # noqa: E402

FIRST = 30        # frames (1 s): the hips' mean facing over these
VARIANTS = ("base", "oracle_minus", "oracle_plus", "model_minus", "model_plus")


def main(argv: list[str]) -> int:
    models = ModelSet(argv[0])
    every = int(argv[1]) if len(argv) > 1 else 1
    out = []
    for i, (take, motion, e) in enumerate(iter_clips("shards", "test")):
        if i % every:
            continue
        m = motion.resampled(30.0)
        tpsi = np.unwrap(heading(rot.normalize(m.rotations[:, 0])))
        if np.sum(np.linalg.norm(np.diff(m.root_pos[:, :2], axis=0), axis=1)) < 1.0:
            continue
        feats = extract_features(take, **models.feature_options())
        r = reconstruct(feats, models, seed=0)
        cond = models.features_norm.apply(feats.values)
        root = models.root_norm.invert(regress_take(lambda x: models.run("root", imu=x),
                                                    cond[:, models.imu_columns], models.window, models.offline_hop))
        root[0] = 0
        mpsi = np.cumsum(root[:, 2])                  # the root model's own heading, hips sway included
        n = min(r.frames, m.frames)
        truth = np.concatenate([true_path(m, tpsi[0], n), m.root_pos[:n, 2:]], axis=1)
        k = min(FIRST, n)
        d_true, d_model = tpsi[0] - tpsi[:k].mean(), mpsi[0] - mpsi[:k].mean()
        rec = {"category": e["category"], "d_true": float(d_true), "d_model": float(d_model)}
        for name, ang in zip(VARIANTS, (0.0, -d_true, d_true, -d_model, d_model)):
            c, s = np.cos(ang), np.sin(ang)
            p = r.root_pos[:n].copy()
            p[:, :2] = p[:, :2] @ np.array([[c, s], [-s, c]])
            rec[name] = root_metrics(p, truth)
        out.append(rec)
    dist = sum(o["base"]["distance_m"] for o in out)
    for name in VARIANTS:
        print(name, round(100 * sum(o[name]["root_final_error_m"] for o in out) / dist, 2), "%")
    dt, dm = (np.degrees([o[k] for o in out]) for k in ("d_true", "d_model"))
    print("clips", len(out), "mean |true angle|", abs(dt).mean().round(2), "mean |model angle|", abs(dm).mean().round(2),
          "corr", np.corrcoef(dt, dm)[0, 1].round(3))
    if len(argv) > 2:
        Path(argv[2]).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
