# SPDX-License-Identifier: GPL-3.0-or-later
"""A model set on disk: ONNX files + ``model_set.json`` (written by training/export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TakeError
from ..features import FEATURE_DIM, Normaliser
from .pose import POSE_DIM, ROOT_DIM
from .sampler import check_temperature

METADATA_NAME = "model_set.json"
FORMAT_VERSION = 2   # 2: the pose model is split in pose_cond.onnx + pose.onnx


class ModelSet:
    """Metadata, normalisers and one onnxruntime session per model, created once.

    ``intra_op_threads`` bounds the CPU threads each call uses (Blender's UI and
    the other sessions share the machine); sessions run sequentially, so one
    inter-op thread.
    """

    def __init__(self, directory, intra_op_threads: int = 2):
        import onnxruntime as ort   # the add-on bundles it; imported here so core stays importable without it

        self.dir = Path(directory)
        path = self.dir / METADATA_NAME
        try:
            self.meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TakeError("model set has no metadata", str(path), expected=METADATA_NAME) from None
        except json.JSONDecodeError as exc:
            raise TakeError(f"metadata is not valid JSON ({exc.msg})", str(path), exc.lineno) from None
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise TakeError(f"unsupported model set format {self.meta.get('format_version')!r}", str(path),
                            expected=f"format_version {FORMAT_VERSION}")
        if self.meta["pose"]["dim"] != POSE_DIM or self.meta["root"]["dim"] != ROOT_DIM \
                or len(self.meta["features"]["names"]) != FEATURE_DIM:
            raise TakeError("model set was made for another feature or pose layout", str(path))
        self.rate = float(self.meta["rate"])
        self.window = int(self.meta["window"])
        self.hop = int(self.meta["hop"])                       # streaming (inpainted continuation)
        self.offline_hop = int(self.meta.get("offline_hop", self.hop))   # batched windows, cross-faded
        try:                                                   # the sampler's default; 1 when none is named
            self.temperature = check_temperature(self.meta["sampler"].get("temperature", 1.0))
        except ValueError as exc:
            raise TakeError(f"sampler {exc}", str(path)) from None
        self.mirror_average = self.meta.get("mirror_average", False)   # reconstruct(mirror=)'s default
        if not isinstance(self.mirror_average, bool):
            raise TakeError(f"mirror_average must be true or false, not {self.mirror_average!r}", str(path))
        self.features_norm = Normaliser.from_dict(self.meta["features"]["normaliser"])
        self.pose_norm = Normaliser.from_dict(self.meta["pose"]["normaliser"])
        self.root_norm = Normaliser.from_dict(self.meta["root"]["normaliser"])
        self.imu_columns = np.asarray(self.meta["features"]["imu_columns"], dtype=int)
        self.pressure_columns = np.asarray(self.meta["features"]["pressure_columns"], dtype=int)
        self.offsets = np.asarray(self.meta["skeleton"]["rest_offsets_m"], dtype=np.float64)
        self.joints = tuple(self.meta["skeleton"]["joints"])
        self.parents = tuple(self.meta["skeleton"]["parents"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(intra_op_threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {}
        for kind, info in self.meta["models"].items():
            self.sessions[kind] = ort.InferenceSession(str(self.dir / info["file"]), sess_options=opts,
                                                      providers=["CPUExecutionProvider"])
        if ("pose" in self.sessions) != ("pose_cond" in self.sessions):
            raise TakeError("model set has only half of the pose model", str(path),
                            expected="pose.onnx and pose_cond.onnx")

    def feature_options(self) -> dict:
        """``extract_features`` keywords that reproduce the features this set was trained on.

        Its own orientation filter where this machine has it; sets exported before the
        gyro offset was a choice were trained on the mid-stance median.
        """
        from ..ahrs import has_imufusion
        trained = self.meta["features"].get("ahrs_backend")
        backend = trained if trained == "complementary" or (trained == "imufusion" and has_imufusion()) else "auto"
        return {"rate": self.rate, "ahrs_backend": backend,
                "tilt_offset": self.meta["features"].get("tilt_offset", "median")}

    def has(self, kind: str) -> bool:
        return kind in self.sessions

    def run(self, kind: str, **inputs) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        return self.sessions[kind].run(None, feeds)[0]
