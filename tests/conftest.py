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
