# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion → a smart-insole take (Moticon units, 100 Hz), physically derived.

Pipeline per clip: canonical FK → 100 Hz, smoothed → per foot a flat sole
frame and the 16 cell points → ground height and soft cell contact → body
vertical force from the centre-of-mass acceleration, shared between the feet
by contact and the lever rule → each foot's load spread over its loaded cells
→ pressures quantised like the device, force and COP computed from them exactly
as the device does → accelerometer (specific force, gravity included, with
heel-strike transients) and gyro in the pitched insole frame, with noise and
bias → step events from the force.
"""

from __future__ import annotations

import numpy as np

from .. import insole
from ..errors import TakeError
from ..motion import kinematics as kin
from ..motion.cleanup import root_jumps
from ..motion import rotations as rot
from ..motion.skeleton import JOINT_INDEX as J, Motion
from ..take import Event, FootStream, Take, TakeMeta
from . import body, foot
from .params import SimParams

# Relative pressure of each cell with the whole sole flat on the ground (shod
# foot), fitted to the phase-by-phase load shares of the real OpenGo walks: heel,
# lateral midfoot (the lateral column) and central metatarsal heads/hallux high,
# first metatarsal head moderate, medial arch nearly unloaded, lesser toes light.
DEFAULT_LOAD_PROFILE = np.array([1.0, 0.84, 1.08, 1.19, 0.80, 1.24, 0.08, 0.85,
                                 0.43, 0.82, 1.01, 0.68, 0.65, 1.16, 0.19, 0.25])
IMPACT_S = 0.03              # heel pad + shoe stop the landing heel within ~20–40 ms
IMPACT_MAX_MPS = 1.5          # landing speeds above this are mocap artefacts
EVENT_ON_N, EVENT_OFF_N = 40.0, 20.0
# A landing foot takes load from touch-down on (contact above TOUCH_ON), not from
# the soft tail of its contact state while it still glides over the floor; it
# keeps load until its contact has faded out (below TOUCH_OFF): loading is a
# collision, unloading a roll-off over the toes.
TOUCH_ON, TOUCH_OFF = 0.03, 1e-3
SIDES = ("left", "right")
_FOOT = {"left": ("LeftFoot", "LeftToeBase"), "right": ("RightFoot", "RightToeBase")}


def simulate_insoles(motion: Motion, params: SimParams | None = None, truth: dict | None = None) -> Take:
    """Simulate both insoles for a canonical motion. Returns a Take at ``params.rate``.

    ``truth``, when given, receives per side ``"up"``: earth Z in that IMU's own frame, (n, 3),
    mirrored on the left like its readings; what an orientation filter's ``earth_up`` should give;
    and ``"q"``: the IMU's true orientation in the world (n, 4), unmirrored (its heading is the
    insole's, on both feet).
    """
    p = params or SimParams()
    jumps = root_jumps(motion)
    if jumps.size:
        i = int(jumps[0])
        step = float(np.linalg.norm(motion.root_pos[i + 1] - motion.root_pos[i]))
        raise TakeError(f"the root moves {step:.2f} m between frames {i} and {i + 1} "
                        f"({step * motion.fps:.0f} m/s): a cut or a reference pose, not motion",
                        expected="one continuous take; core.motion.cleanup.drop_reference_frames "
                                 "removes a reference pose before it")
    rng = np.random.default_rng(p.seed)
    rate = float(p.rate)
    dt = 1.0 / rate
    pos_src, grot_src = motion.fk(with_rotations=True)
    pos = kin.resample_linear(pos_src, motion.fps, rate)
    n = pos.shape[0]
    # Smooth away the kinks of linear upsampling and marker jitter (≈ source frame interval).
    sigma = max(0.6 * rate / motion.fps, 1.5)
    pos = kin.gaussian_smooth(pos, sigma)
    # Time resolution (samples) of the kinematics: linear upsampling (a triangle of
    # one source frame), this smoothing and the 1-sample smoothing of the IMU's acceleration.
    sigma_kin = float(np.sqrt(sigma ** 2 + (rate / motion.fps) ** 2 / 6.0 + 1.0))
    time = np.arange(n) * dt

    # -- per foot geometry and kinematics ------------------------------------------
    feet = {}
    for side in SIDES:
        fj, tj = J[_FOOT[side][0]], J[_FOOT[side][1]]
        q = kin.smooth_quat(kin.resample_quat(grot_src[:, fj], motion.fps, rate), sigma)
        sole = foot.sole_rotation(q)
        ankle = pos[:, fj]
        corr = foot.flat_correction(sole, ankle, rate)
        sole = rot.mul(sole, corr[None])
        toe_local = rot.rotate(rot.conj(rot.mul(foot.SOLE_FROM_FOOT, corr)), motion.offsets[tj])
        # The toes bend at the metatarsal heads: their cells follow the toe segment,
        # which lies flat on the floor while the ball of the foot is down (push-off),
        # whatever the mocap toe joint did; the metatarsal heads sit on the hinge.
        qt = kin.smooth_quat(kin.resample_quat(grot_src[:, tj], motion.fps, rate), sigma)
        toe_sole = rot.mul(foot.sole_rotation(qt), corr[None])
        heading = rot.rotate(sole, np.array([1.0, 0, 0]))
        flat = rot.yaw(np.arctan2(heading[:, 1], heading[:, 0]))
        ball_z = pos[:, tj, 2]
        down = np.clip(1.0 - (ball_z - np.percentile(ball_z, 5)) / 0.03, 0.0, 1.0)
        toe_sole = rot.nlerp(toe_sole, flat, down)
        feet[side] = dict(sole=sole, ankle=ankle, toe=toe_local, toe_sole=toe_sole, ball=pos[:, tj])
    # One pair of insoles: the longer foot decides the size.
    foot_len = max(float(np.linalg.norm(f["toe"])) for f in feet.values()) / foot.ANKLE_TO_BALL
    size = insole.size_for_foot_length(foot_len) if p.insole_size is None else int(p.insole_size)
    for side, f in feet.items():
        f["geo"] = geo = foot.build_geometry(side, f["toe"], size)
        cells = f["ankle"][:, None, :] + rot.rotate(f["sole"][:, None, :], geo.cells[None])   # (n, 16, 3)
        toes, hinge = foot.TOE_CELLS, foot.HINGE_CELLS
        cells[:, toes] = f["ball"][:, None, :] + rot.rotate(f["toe_sole"][:, None, :], (geo.cells[toes] - f["toe"])[None])
        mid = rot.nlerp(f["sole"], f["toe_sole"], np.full(n, 0.5))
        cells[:, hinge] = f["ball"][:, None, :] + rot.rotate(mid[:, None, :], (geo.cells[hinge] - f["toe"])[None])
        f["cells"] = cells

    # -- ground and contact -------------------------------------------------------
    # Ground height per foot: mocap skeletons often put one foot a centimetre or
    # two lower than the other, so each foot is referred to its own floor level.
    areas = insole.cell_areas(size)
    grounds = {}
    for side in SIDES:
        f = feet[side]
        z = f["cells"][..., 2]
        grounds[side] = float(np.percentile(z.min(1), 5)) + float(p.ground_offset_m or 0.0)
        h = z - grounds[side]
        v = np.linalg.norm(np.gradient(f["cells"][..., :2], dt, axis=0), axis=-1)
        f["w"] = w = foot.contact_weights(h)
        f["contact"] = foot.foot_contact(h, v)
        f["centre"] = (w[..., None] * f["cells"][..., :2]).sum(1) / np.maximum(w.sum(1), 1e-9)[:, None]
    ground = 0.5 * (grounds["left"] + grounds["right"])

    # -- whole-body vertical force and its split between the feet ----------------
    com = kin.gaussian_smooth(body.centre_of_mass(pos), max(sigma, 3.0))
    acc_z = kin.gaussian_smooth(kin.derivative(kin.derivative(com[:, 2], dt), dt), 2.0)
    cl, cr = feet["left"]["contact"], feet["right"]["contact"]
    # The body is supported while either foot is down: P(left or right) of the two contact states.
    tl, tr = foot.touching(cl, TOUCH_ON, TOUCH_OFF), foot.touching(cr, TOUCH_ON, TOUCH_OFF)
    support = (1.0 - (1.0 - cl) * (1.0 - cr)) * (tl | tr)
    total = body.vertical_force(acc_z, p.body_mass_kg) * support
    line = feet["left"]["centre"] - feet["right"]["centre"]
    s = ((com[:, :2] - feet["right"]["centre"]) * line).sum(1) / np.maximum((line ** 2).sum(1), 1e-6)
    s = np.clip(s, 0.0, 1.0)
    eps = 0.03
    wl, wr = cl * (eps + s), cr * (eps + 1.0 - s)
    share_l = np.where(wl + wr > 0, wl / np.maximum(wl + wr, 1e-12), 0.5)
    only_l, only_r = tl & ~tr, tr & ~tl

    def grounded(share):                  # no load on a foot in the air
        return np.where(only_l, 1.0, np.where(only_r, 0.0, share))

    share_l = grounded(np.clip(kin.gaussian_smooth(grounded(share_l), 2.0), 0.0, 1.0))

    profile = DEFAULT_LOAD_PROFILE if p.load_profile is None else np.asarray(p.load_profile, dtype=np.float64)
    take_feet, events = {}, []
    for side in SIDES:
        f = feet[side]
        load = total * (share_l if side == "left" else 1.0 - share_l)
        # Along the foot the load leans towards the body's centre of mass (the
        # ground reaction points at it): behind the foot at heel strike, ahead of
        # it in push-off, so the COP rolls heel → toe through the stance as on a
        # real foot, not only when the foot pitches. (The dynamic zero-moment
        # point would be exact, but mocap COM accelerations are too noisy for it.)
        heading = rot.rotate(f["sole"], np.array([1.0, 0, 0]))[:, :2]
        heading /= np.maximum(np.linalg.norm(heading, axis=1, keepdims=True), 1e-9)
        length = f["geo"].length
        u = ((f["cells"][..., :2] - f["ankle"][:, None, :2]) * heading[:, None]).sum(-1) / length
        ahead = ((com[:, :2] - f["ankle"][:, :2]) * heading).sum(-1) / length
        shape = foot.lean_towards(f["w"] * profile, areas, u, ahead)
        shape = foot.roll_across(shape, areas, insole.CELL_Y, ahead)
        shape = foot.limit_toe_share(shape, areas, profile)
        denom = (shape * areas).sum(1)
        pressure = load[:, None] * shape / np.maximum(denom, 1e-9)[:, None]
        pressure *= 1.0 + p.pressure_gain_spread * rng.standard_normal(16)
        pressure += (0.05 * p.noise) * rng.standard_normal(pressure.shape) * (pressure > 0)
        pressure = np.clip(np.round(pressure / insole.PRESSURE_STEP) * insole.PRESSURE_STEP, 0.0, insole.PRESSURE_MAX)
        # COP gated at 50 N like the device: a step's first and last loaded samples read COP 0.
        force, cop = insole.force_and_cop(pressure, size, min_force=insole.COP_MIN_FORCE_N)
        side_events = _events(force, time, side)
        events += side_events
        acc, gyro, up, q_imu = _imu(f, p, rng, side, dt, side_events, sigma_kin)
        if truth is not None:
            truth[side] = {"up": up, "q": q_imu}
        take_feet[side] = FootStream(side, time, pressure.astype(np.float32), acc, gyro,
                                     force.astype(np.float32), cop.astype(np.float32))
    events.sort(key=lambda e: (e.time, e.side))
    meta = TakeMeta(device="simulated", insole_size=size, body_mass_kg=float(p.body_mass_kg),
                    name=str(motion.meta.get("name", "")), source_format="simulator",
                    source_path=str(motion.meta.get("source", "")),
                    extra={"seed": p.seed, "shoe_drop_deg": p.shoe_drop_deg, "imu_yaw_deg": p.imu_yaw_deg,
                           "ground_m": ground, "noise": p.noise,
                           "foot_length_m": {s: feet[s]["geo"].foot_length for s in SIDES}})
    return Take(take_feet, meta, events)


def _events(force: np.ndarray, time: np.ndarray, side: str) -> list:
    """Heel strike / toe off from the force with hysteresis, as the device reports steps."""
    out = []
    loaded = bool(force[0] > EVENT_ON_N)
    on = np.flatnonzero((force[1:] > EVENT_ON_N) & (force[:-1] <= EVENT_ON_N)) + 1
    off = np.flatnonzero((force[1:] < EVENT_OFF_N) & (force[:-1] >= EVENT_OFF_N)) + 1
    marks = sorted([(i, "heel_strike") for i in on] + [(i, "toe_off") for i in off])
    for i, kind in marks:
        if kind == "heel_strike" and not loaded:
            out.append(Event(float(time[i]), side, kind))
            loaded = True
        elif kind == "toe_off" and loaded:
            out.append(Event(float(time[i]), side, kind))
            loaded = False
    return out


def _imu(f: dict, p: SimParams, rng: np.random.Generator, side: str, dt: float, events: list,
         sigma_kin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accelerometer (g), gyro (deg/s), the true earth up in the insole frame and the IMU's true
    orientation in the world (unmirrored) of one foot."""
    geo = f["geo"]
    mirror = -1.0 if side == "left" else 1.0
    drop = rot.from_axis_angle(np.array([0.0, 1, 0]), np.array(np.radians(p.shoe_drop_deg)))
    yaw = rot.from_axis_angle(np.array([0.0, 0, 1]), np.array(np.radians(mirror * p.imu_yaw_deg)))
    q = rot.mul(f["sole"], rot.mul(drop, yaw)[None])                      # insole frame in the world
    point = f["ankle"] + rot.rotate(f["sole"], geo.imu[None])
    acc_world = kin.derivative(kin.derivative(point, dt), dt)
    acc_world = kin.gaussian_smooth(acc_world, 1.0)
    specific = acc_world + np.array([0.0, 0.0, body.G])
    acc = rot.rotate(rot.conj(q), specific) / body.G
    # Heel-strike transients: the heel pad and shoe stop the heel within a few
    # tens of milliseconds; mocap (30–60 fps, smoothed) spreads that stop over
    # ~100 ms. Add a half-sine deceleration of the heel's landing speed over
    # IMPACT_S minus its version at the kinematics' resolution (what the mocap
    # already holds), as a world-vertical specific force seen in the insole frame.
    n = acc.shape[0]
    heel_vz = kin.derivative(f["cells"][:, :4, 2].mean(1), dt)
    k = max(int(round(IMPACT_S / dt)), 1)
    half_sine = np.sin(np.pi * (np.arange(k) + 0.5) / k)
    half_sine *= 1.0 / (half_sine.sum() * dt)                 # unit area: 1 m/s of speed removed
    window = int(round(0.15 / dt))
    impacts = np.zeros(n)
    for e in events:
        if e.kind != "heel_strike":
            continue
        i = int(round(e.time / dt))
        before = heel_vz[max(i - window, 0):i + 1]
        speed = float(np.clip(-before.min(), 0.0, IMPACT_MAX_MPS)) if before.size else 0.0
        stop = max(i - window, 0) + int(np.argmax(before >= -0.05 * max(speed, 1e-3)) if before.size else 0)
        m = min(k, n - stop)
        impacts[stop:stop + m] += p.impact_gain * speed * half_sine[:m]
    impacts -= kin.gaussian_smooth(impacts, sigma_kin)
    world = np.zeros((n, 3))
    world[:, 2] = impacts
    acc += rot.rotate(rot.conj(q), world) / body.G
    gyro = np.degrees(kin.body_angular_velocity(q, dt))
    # Sensor errors: a constant bias per take plus white noise, then the device's band limit.
    acc += p.noise * (0.02 * rng.standard_normal(3) + 0.012 * rng.standard_normal(acc.shape))
    gyro += p.noise * (1.5 * rng.standard_normal(3) + 0.8 * rng.standard_normal(gyro.shape))
    acc = kin.gaussian_smooth(acc, 0.7)
    gyro = kin.gaussian_smooth(gyro, 0.7)
    up = rot.rotate(rot.conj(q), np.array([0.0, 0.0, 1.0]))
    if side == "left":            # mirrored insole: Y is medial (the wearer's right)
        acc[:, 1] *= -1.0
        up[:, 1] *= -1.0
        gyro[:, 0] *= -1.0
        gyro[:, 2] *= -1.0
    return acc.astype(np.float32), gyro.astype(np.float32), up, q
