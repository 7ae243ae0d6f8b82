# SPDX-License-Identifier: GPL-3.0-or-later
"""The package split holds: core/ and devices/ never import bpy, nor does the package root."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "step2motion_addon"

_SCRIPT = r"""
import importlib, pkgutil, sys

class NoBpy:
    def find_spec(self, name, path=None, target=None):
        if name == "bpy" or name.startswith(("bpy.", "bpy_", "mathutils", "bmesh")):
            raise ImportError(f"{name} must not be imported here")
        return None

sys.meta_path.insert(0, NoBpy())
import step2motion_addon
failed = []
for sub in ("core", "devices"):
    try:
        pkg = importlib.import_module(f"step2motion_addon.{sub}")
    except ModuleNotFoundError:
        continue
    for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            if "must not be imported" in str(exc):
                failed.append(f"{info.name}: {exc}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_core_and_devices_never_import_bpy():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_pickle_or_eval_in_the_package():
    offenders = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for bad in ("import pickle", "pickle.load", "eval(", "exec(", "allow_pickle=True"):
            if bad in text:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    assert not offenders, offenders

