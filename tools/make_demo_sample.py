# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate the embedded demo: a simulated insole take of a CMU walk and its true motion.

    .venv/bin/python tools/make_demo_sample.py [OUTPUT.s2m] [--shared ../shared/data]

Writes ``samples/demo_walk.s2m`` (or OUTPUT; the take, made by the project's own
simulator) and ``demo_walk_motion.npz`` next to it (OUTPUT's stem + ``_motion.npz``;
the canonical motion it was simulated from, 30 fps
float32, the ground truth for the reconstruction demo). The CMU walks of
subject 07 last 2–4 s each, so consecutive clips (each with its floor levelled) are chained where their poses
match best (the second clip turned and moved to continue the first; its pose
difference fades out over 0.3 s) into one ≈18 s walk. CMU data may be shipped
(see samples/README.md). Deterministic: fixed clips, seed and SOURCE_DATE_EPOCH (value for value; the
last bit of a few floats depends on the CPU's vector maths).
Without the shared data the script says so and exits 2 (the committed sample stays).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from step2motion_addon.core.formats import save_take  # noqa: E402
from step2motion_addon.core.motion import rotations as rot  # noqa: E402
from step2motion_addon.core.motion.bvh import load_bvh  # noqa: E402
from step2motion_addon.core.motion.motion_file import save_motion  # noqa: E402
from step2motion_addon.core.motion.cleanup import drop_reference_frames, level_floor  # noqa: E402
from step2motion_addon.core.motion.retarget import motion_from_bvh  # noqa: E402
from step2motion_addon.core.motion.skeleton import Motion  # noqa: E402
from step2motion_addon.core.sim import SimParams, simulate_insoles  # noqa: E402

CLIPS = ("007_01", "007_02", "007_03", "007_04", "007_05", "007_06", "007_07", "007_08")
MAX_SECONDS = 18.0
MOTION_FPS = 30.0
SIM = dict(body_mass_kg=70.0, seed=7)
BLEND_S = 0.3
CMU_ACK = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
           "The database was created with funding from NSF EIA-0196217.")


def _heading(motion: Motion, i: int) -> float:
    """Yaw (rad) of the walking direction around frame ``i`` (root travel over ±0.25 s)."""
    k = int(0.25 * motion.fps)
    a, b = max(i - k, 0), min(i + k, motion.frames - 1)
    d = motion.root_pos[b, :2] - motion.root_pos[a, :2]
    return float(np.arctan2(d[1], d[0]))


def _pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean rotation difference of the local joint rotations, root excluded (…, 22, 4) → (…)."""
    dot = np.abs((a[..., 1:, :] * b[..., 1:, :]).sum(-1))
    return (1.0 - np.clip(dot, 0, 1)).mean(-1)


def chain(motions: list, max_seconds: float) -> Motion:
    """Join walks at their best-matching poses into one continuous walk."""
    fps = motions[0].fps
    rots = motions[0].rotations.copy()
    root = motions[0].root_pos.copy()
    blend = int(BLEND_S * fps)
    for m in motions[1:]:
        if len(rots) >= max_seconds * fps:
            break
        # Best pair: one of A's last 0.6 s against one of B's first 1.2 s.
        tail = np.arange(max(len(rots) - int(0.6 * fps), 1), len(rots))
        head = np.arange(0, min(int(1.2 * fps), m.frames - blend - 1))
        d = _pose_distance(rots[tail][:, None], m.rotations[head][None])
        ia, ib = np.unravel_index(np.argmin(d), d.shape)
        ia, ib = int(tail[ia]), int(head[ib])
        rots, root = rots[:ia + 1], root[:ia + 1]
        # Turn and move B so that its frame ib continues A's frame ia.
        prev = Motion(fps, m.offsets, rots, root)
        turn = rot.yaw(np.array(_heading(prev, ia) - _heading(m, ib)))
        b_rot = m.rotations[ib + 1:].copy()
        b_rot[:, 0] = rot.mul(turn[None], b_rot[:, 0])
        step = rot.rotate(turn[None], m.root_pos[ib + 1:] - m.root_pos[ib])
        b_root = root[ia] + step
        b_root[:, 2] = m.root_pos[ib + 1:, 2]
        # Fade the pose difference at the joint out over the blend window.
        q_a = rots[ia]
        q_b = rot.mul(np.concatenate([turn[None], np.tile(rot.IDENTITY, (21, 1))]), m.rotations[ib])
        diff = rot.mul(q_a, rot.conj(q_b))                       # (22, 4): A = diff · B at the joint
        diff = np.where(diff[:, :1] < 0, -diff, diff)
        n = min(blend, len(b_rot))
        w = 0.5 * (1 + np.cos(np.pi * np.arange(1, n + 1) / (n + 1)))    # 1 → 0
        ident = np.tile(rot.IDENTITY, (22, 1))
        for i in range(n):
            b_rot[i] = rot.mul(rot.nlerp(ident, diff, np.full(22, w[i])), b_rot[i])
        dz = root[ia, 2] - m.root_pos[ib, 2]
        b_root[:n, 2] += dz * w
        rots = np.concatenate([rots, b_rot])
        root = np.concatenate([root, b_root])
    end = min(len(rots), int(max_seconds * fps) + 1)
    return Motion(fps, motions[0].offsets.copy(), rots[:end], root[:end])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("output", nargs="?", default=str(ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"))
    args = ap.parse_args(argv)
    cmu = Path(args.shared) / "mocap" / "cmu"
    paths = [cmu / f"{c}.bvh.gz" for c in CLIPS]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        print(f"CMU mocap not found under {cmu} (missing {', '.join(missing)}): "
              "the committed demo sample is kept", file=sys.stderr)
        return 2
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1704110400")   # 2024-01-01 12:00 UTC
    motions = [level_floor(drop_reference_frames(motion_from_bvh(load_bvh(p)))) for p in paths]
    motion = chain(motions, MAX_SECONDS)
    source = "CMU Graphics Lab Motion Capture Database, subject 07, walks " + ", ".join(CLIPS)
    motion.meta = dict(name="demo walk", source=source, licence="CMU: free for all uses. " + CMU_ACK,
                       notes="Clips chained at matching poses by tools/make_demo_sample.py.")
    take = simulate_insoles(motion, SimParams(**SIM))
    take.meta.name = "demo walk"
    take.meta.source_path = ""
    take.meta.notes = (f"Simulated by the Step2Motion insole simulator (seed {SIM['seed']}, "
                       f"{SIM['body_mass_kg']:.0f} kg) from {source}. {CMU_ACK}")
    take_path = Path(args.output)
    take_path.parent.mkdir(parents=True, exist_ok=True)
    motion_path = take_path.with_name(take_path.stem + "_motion.npz")
    for old in (take_path, Path(str(take_path) + "-journal")):
        if old.exists():
            old.unlink()
    save_take(take, take_path)
    save_motion(motion_path, motion.resampled(MOTION_FPS))
    print(f"wrote {take_path} ({take_path.stat().st_size / 1024:.0f} KiB, {take.duration:.1f} s, "
          f"{len(take.events)} events) and {motion_path} ({motion_path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
