"""Shared fixtures. Data from ../shared is optional: tests that need it skip cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STEP2MOTION_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (only developers and CI have it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def moticon_files(shared_data) -> list[Path]:
    files = sorted((shared_data / "insoles" / "moticon").glob("*.txt"))
    if not files:
        pytest.skip("no Moticon recordings in shared data")
    return files


_EXIT_STATUS = {"code": 0}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    import sys
    bpy = sys.modules.get("bpy")
    if bpy is not None and bpy.app.version < (4, 3, 0) and "io_scene_gltf2" in sys.modules:
        # The bpy 4.2 wheel segfaults in its own interpreter teardown once Blender's glTF
        # exporter has run (reproduced with a 10-line script that only exports an empty
        # scene). Leave before that teardown, keeping pytest's exit status.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["code"])
