# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate the embedded demo take ``step2motion_addon/samples/demo_walk.s2m``.

Deterministic: the take comes from ``synthetic_walk`` with a fixed seed and the
file's creation stamp from SOURCE_DATE_EPOCH, so re-running gives the same bytes.
Usage: ``.venv/bin/python tools/make_demo_sample.py [OUTPUT]``.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from step2motion_addon.core.formats import save_take  # noqa: E402
from step2motion_addon.core.synthetic import synthetic_walk  # noqa: E402

DEMO = dict(duration=18.0, rate=100.0, body_mass_kg=70.0, insole_size=5, seed=7)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "step2motion_addon" / "samples" / "demo_walk.s2m"
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1704110400")   # 2024-01-01 12:00 UTC
    take = synthetic_walk(**DEMO)
    take.meta.name = "demo walk"
    take.meta.notes = "Procedural walking take made by tools/make_demo_sample.py (no recorded data)."
    save_take(take, out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {take.duration:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
