# SPDX-License-Identifier: GPL-3.0-or-later
"""``simulate``: a motion capture clip (BVH) → a simulated smart-insole take."""

from __future__ import annotations

HELP = "simulate smart-insole recordings (Moticon units, 100 Hz) from a BVH motion clip"


def add_arguments(parser) -> None:
    parser.add_argument("motion", help="motion clip (.bvh or .bvh.gz)")
    parser.add_argument("--out", required=True, help="take to write: .txt (Moticon), .csv or .s2m")
    parser.add_argument("--body-mass", type=float, default=70.0, metavar="KG", help="body mass in kg (default 70)")
    parser.add_argument("--insole-size", type=int, default=None, metavar="N",
                        help="Moticon insole size (default: from the skeleton's foot length)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for sensor noise (default 0)")


def run(args) -> int:
    from ..core.formats import save_take
    from ..core.motion.bvh import load_bvh
    from ..core.motion.cleanup import drop_reference_frames
    from ..core.motion.retarget import motion_from_bvh
    from ..core.sim import SimParams, simulate_insoles

    motion = drop_reference_frames(motion_from_bvh(load_bvh(args.motion)))
    if motion.meta.get("reference_frames_dropped"):
        print(f"{args.motion}: {motion.meta['reference_frames_dropped']} leading reference frame(s) dropped "
              "(the root jumps from them to the take)")
    take = simulate_insoles(motion, SimParams(body_mass_kg=args.body_mass, insole_size=args.insole_size,
                                              seed=args.seed))
    save_take(take, args.out)
    steps = sum(1 for e in take.events if e.kind == "heel_strike")
    print(f"{args.out}: {take.duration:.1f} s simulated, insole size {take.meta.insole_size}, {steps} steps")
    return 0
