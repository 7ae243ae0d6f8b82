# SPDX-License-Identifier: GPL-3.0-or-later
"""Draws docs/img/architecture.png: the packages and the data flow (matplotlib only)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "architecture.png"

# (x, y, w, h, title, body, colour)
BOXES = {
    "sources": (0.2, 6.6, 3.4, 1.6, "Inputs", "Moticon .txt · generic .csv\nnative .s2m · BVH (simulator)\nBLE / UDP insoles · replay", "#e8e8e8"),
    "devices": (0.2, 3.9, 3.4, 2.3, "…/devices/  (asyncio)", "open_frame · moticon_udp · orphe\nble (bleak) · udp · replay\nclock · recorder\nLiveSession (asyncio thread)", "#f6d6b8"),
    "core": (4.4, 3.9, 4.3, 4.3, "step2motion_addon/core/ (numpy)", "take · insole · errors\nahrs · dead_reckoning (foot strides)\nformats/  moticon · generic_csv · native\nprocessing · synthetic · features\nmotion/  bvh · skeleton · retarget · cleanup\nsim/  insole simulator\ninference/  ONNX runtime, sampler, root\npostprocess · rigmap · recon_run", "#cfe3f7"),
    "blender": (9.4, 3.9, 3.3, 4.3, "…/blender/  (bpy)", "compat (4.2 → 5.0)\ninsole_scene · heatmap\nimport · simulate · reconstruct\nbake · retarget · live view\npanels · file handler", "#d5ecd4"),
    "cli": (4.4, 1.0, 4.3, 2.3, "…/cli/  (python -m step2motion_addon)", "info · import · simulate\nreconstruct · live · emulate", "#efe3f5"),
    "training": (0.2, 1.0, 3.4, 2.3, "training/  (PyTorch)", "dataset (simulated shards)\nmodels · train · export\nevaluate (runs core.inference)", "#f7efc5"),
    "models": (9.4, 1.0, 3.3, 2.3, "models/", "ONNX pose diffusion\nroot Transformer\nIMU → pressure\nMLP / Transformer baselines\nmodel_set.json + model card", "#e8e8e8"),
}
ARROWS = [("sources", "devices"), ("devices", "core"), ("core", "blender"), ("core", "cli"),
          ("models", "blender")]
# Arrows between boxes that are not neighbours: explicit curved paths around the others.
CURVED = [((5.0, 3.9), (2.2, 3.35), -0.25, "training imports core"),
          ((1.9, 0.95), (11.0, 0.95), 0.18, "export ONNX + metadata")]


def anchors(a, b):
    """Edge midpoints facing each other, so arrows never cross box text."""
    ax_, ay, aw, ah, *_ = BOXES[a]
    bx, by, bw, bh, *_ = BOXES[b]
    if ax_ + aw <= bx or bx + bw <= ax_:                      # side by side
        lo, hi = max(ay, by), min(ay + ah, by + bh)
        y = (lo + hi) / 2 if hi > lo else (ay + ah / 2 + by + bh / 2) / 2
        return ((ax_ + aw, y), (bx, y)) if ax_ < bx else ((ax_, y), (bx + bw, y))
    lo, hi = max(ax_, bx), min(ax_ + aw, bx + bw)
    x = (lo + hi) / 2
    return ((x, ay), (x, by + bh)) if ay > by else ((x, ay + ah), (x, by))


def main() -> None:
    fig, ax = plt.subplots(figsize=(12.8, 8.4), dpi=80)
    ax.set_xlim(0, 12.8)
    ax.set_ylim(-0.4, 8.6)
    ax.axis("off")
    for name, (x, y, w, h, title, body, colour) in BOXES.items():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#444", lw=1.2))
        ax.text(x + 0.12, y + h - 0.3, title, fontsize=10.5, weight="bold", va="center")
        ax.text(x + 0.12, y + h - 0.6, body, fontsize=9, va="top", family="monospace")
    for a, b in ARROWS:
        start, end = anchors(a, b)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18,
                                     color="#555", lw=1.6, shrinkA=2, shrinkB=2))
    for start, end, rad, label in CURVED:
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18, color="#555", lw=1.6,
                                     connectionstyle=f"arc3,rad={rad}"))
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - (1.2 if rad > 0 else -0.3))
        ax.text(*mid, label, ha="center", fontsize=9, style="italic", color="#333")
    ax.text(6.4, 8.45, "Data flow: file or device → Take → features → ONNX models → canonical motion → baked Action",
            ha="center", fontsize=12)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, bbox_inches="tight")
    print(OUT)


if __name__ == "__main__":
    main()
