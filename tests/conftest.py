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
    if bpy is None:
        return
    v = bpy.app.version
    # Leave before the interpreter's teardown, keeping pytest's exit status, where a bpy
    # wheel's own teardown is broken:
    # * 4.2 segfaults once Blender's glTF exporter has run (reproduced with a 10-line
    #   script that only exports an empty scene);
    # * 4.5 deadlocks after a full Blender + core run: a static GlobalState destructor
    #   destroys the condition variable its "delayed close" thread still waits on (gdb:
    #   __pthread_cond_destroy under ~GlobalState vs delayed_close_thread_run).
    if (v < (4, 3, 0) and "io_scene_gltf2" in sys.modules) or v[:2] == (4, 5):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["code"])
