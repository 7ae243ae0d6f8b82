# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the simulator's shards (written by training/dataset.py) for training.

``iter_clips(dir, split)`` rebuilds each clip's simulated :class:`Take` (100 Hz)
and canonical :class:`Motion` (30 Hz) from ``manifest.json`` + ``shard_*.npz``
(``allow_pickle=False``: the shards hold plain arrays only). ``load_split``
turns them into training clips (features + targets) and caches the result in
``data_cache/`` keyed by the manifest and the feature code, because the
AHRS + resampling pass is the slow part and every model of a run reuses it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from step2motion_addon.core.insole import force_and_cop
from step2motion_addon.core.motion.skeleton import Motion
from step2motion_addon.core.take import SIDES, FootStream, Take, TakeMeta

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "data_cache"
PRESSURE_STEP = 0.25            # N/cm² per uint8 count (training/dataset.py's format)
CLIP_KEYS = ("features", "pose", "root", "offsets")


def load_manifest(data_dir) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest.json (build it with python -m training.dataset build)")
    return json.loads(path.read_text(encoding="utf-8"))


def split_entries(manifest: dict, split: str) -> list[dict]:
    return [c for c in manifest["clips"] if c["split"] == split]


def clip_from_arrays(a, key: str, entry: dict, insole_rate: float = 100.0, motion_fps: float = 30.0):
    """(Take, Motion) of one clip from its shard arrays (prefix ``key``)."""
    feet = {}
    names = set(a.files)
    for side in SIDES:
        pressure = a[f"{key}_{side}_pressure"].astype(np.float32) * PRESSURE_STEP
        n = pressure.shape[0]
        if f"{key}_{side}_force" in names:
            force = a[f"{key}_{side}_force"].astype(np.float32).reshape(n)
            cop = a[f"{key}_{side}_cop"].astype(np.float32)
        else:       # shards may leave them out: the device computes them from the cells, and so do we
            force, cop = (x.astype(np.float32) for x in force_and_cop(pressure, entry.get("insole_size")))
        feet[side] = FootStream(side, np.arange(n) / insole_rate, pressure,
                                a[f"{key}_{side}_acc"].astype(np.float32),
                                a[f"{key}_{side}_gyro"].astype(np.float32), force, cop)
    meta = TakeMeta(device="simulated", insole_size=entry.get("insole_size"),
                    body_mass_kg=entry.get("body_mass_kg"), name=entry["clip"], source_format="simulator",
                    source_path=entry["source"])
    motion = Motion(motion_fps, a[f"{key}_offsets"], a[f"{key}_rotations"].astype(np.float64),
                    a[f"{key}_root_pos"], {"source": entry["source"], "licence": entry["licence"]})
    return Take(feet, meta), motion


def iter_clips(data_dir, split: str, limit: int | None = None):
    """Yield (take, motion, manifest entry) of every clip of ``split``, shard by shard."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    entries = split_entries(manifest, split)[:limit]
    by_shard: dict[str, list[dict]] = {}
    for e in entries:
        by_shard.setdefault(e["shard"], []).append(e)
    rate = float(manifest.get("insole_rate", 100.0))
    fps = float(manifest.get("motion_fps", 30.0))
    for shard, group in sorted(by_shard.items()):
        with np.load(data_dir / shard, allow_pickle=False) as a:
            for e in group:
                take, motion = clip_from_arrays(a, e["key"], e, rate, fps)
                yield take, motion, e


def _cache_key(data_dir: Path, split: str, rate: float, limit) -> str:
    h = hashlib.sha1()
    h.update((data_dir / "manifest.json").read_bytes())
    for shard in sorted(data_dir.glob("shard_*.npz")):    # a rebuilt set may keep its manifest's clips
        h.update(hashlib.sha1(shard.read_bytes()).digest())
    for mod in ("features.py", "ahrs.py", "inference/pose.py"):     # the code that makes the clips
        h.update((ROOT / "step2motion_addon" / "core" / mod).read_bytes())
    h.update(f"{split}|{rate}|{limit}|{json.dumps(FEATURES, sort_keys=True)}".encode())
    return h.hexdigest()[:16]


def load_split(data_dir, split: str, rate: float = 30.0, limit: int | None = None, cache: bool = True,
               log=print, cache_dir: Path | None = None) -> list[dict]:
    """Training clips of one split: {features, pose, root, offsets, source}, cached on disk."""
    from .train import clip_from_take_and_motion
    data_dir = Path(data_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    path = cache_dir / f"clips_{split}_{_cache_key(data_dir, split, rate, limit)}.npz"
    if cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            sources = json.loads(str(z["sources"]))
            return [{**{k: z[f"{i}_{k}"] for k in CLIP_KEYS}, "source": s} for i, s in enumerate(sources)]
    clips = [clip_from_take_and_motion(take, motion, rate, e["source"])
             for take, motion, e in iter_clips(data_dir, split, limit)]
    log(f"{split}: {len(clips)} clips, {sum(len(c['features']) for c in clips) / rate / 3600:.2f} h of features")
    if cache and clips:
        cache_dir.mkdir(parents=True, exist_ok=True)
        arrays = {f"{i}_{k}": c[k] for i, c in enumerate(clips) for k in CLIP_KEYS}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, sources=np.array(json.dumps([c["source"] for c in clips])), **arrays)
        tmp.replace(path)
    return clips


def sources(data_dir) -> list[dict]:
    """Training data sources and licences for the model set's metadata (per dataset, train split)."""
    manifest = load_manifest(data_dir)
    out: dict[str, dict] = {}
    for c in split_entries(manifest, "train"):
        d = out.setdefault(c["dataset"], {"name": c["dataset"], "licence": c["licence"], "clips": 0, "hours": 0.0})
        d["clips"] += 1
        d["hours"] += c["duration_s"] / 3600
    for d in out.values():
        d["hours"] = round(d["hours"], 3)
    return sorted(out.values(), key=lambda d: d["name"])


# How training makes its features (features.json of each run; the exported set's metadata,
# so the runtime makes the same): the gated complementary filter, and the x/y gyro offset
# from the strides (ahrs.stride_tilt_bias; the median tilted walks 20-55 deg, session 16).
FEATURES = {"ahrs_backend": "complementary", "tilt_offset": "strides"}


def mean_offsets(clips: list[dict]) -> np.ndarray:
    """Rest offsets (22, 3) of the skeleton the exported model set reports: the training clips' mean."""
    return np.mean(np.stack([c["offsets"] for c in clips]), axis=0)
