# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the animated insole scene of a take (headless-safe: no operators, no UI).

Layout: a take root empty carries the visual options as custom properties; per
foot an insole mesh (keyed ``pressure_01..16``, ``total_force``, ``cop_x``,
``cop_y``, ``contact``, ``step_event``), a COP marker, a ground-reaction-force
arrow and a COP trace, all children of the insole and *driven* from its keyed
properties, so the recorded values are keyed exactly once and every visual
follows them (and the options) live.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import bpy
import numpy as np

from ..core import insole
from ..core.errors import TakeError
from ..core.take import EVENT_CODES, Event, Take
from . import colormap, compat, meshes, node_groups

CONTACT_N = 10.0            # N: below this a foot counts as unloaded (hides marker and arrow)
HEATMAP_MOD = "Heatmap"
TRACE_MOD = "Trace"
PRESSURE_GROUP = "Pressure (N/cm²)"
FORCE_GROUP = "Force and COP"
EVENT_GROUP = "Steps"


@dataclass
class SceneOptions:
    fps: float | None = 30.0        # scene rate; None keeps the take's sample rate
    color_max: float = 0.0          # N/cm² at the top of the colour map; 0 = auto
    trace_length: int = 45          # frames of COP trace behind the marker; 0 = none
    arrow_scale: float = 0.25       # arrow length in metres per kN
    show_trace: bool = True
    show_arrows: bool = True
    frame_start: int = 1
    stance_width: float = 0.22      # m between the insole centres
    max_markers: int = 2000         # timeline markers for step events (beyond: keyed only)
    name: str = ""


def pressure_prop(cell: int) -> str:
    return f"pressure_{cell + 1:02d}"


# -- timing ---------------------------------------------------------------------
def scene_rate(take: Take, options: SceneOptions) -> float:
    rate = options.fps if options.fps else take.rate
    if not rate or rate <= 0:
        raise TakeError("the take has no usable sample rate (fewer than two samples?)",
                        path=take.meta.source_path or None)
    return float(rate)


def frame_times(take: Take, fps: float) -> np.ndarray:
    """Take time (s) of each scene frame, first frame at the take's first sample."""
    n = int(math.floor(take.duration * fps + 1e-6)) + 1
    return take.start + np.arange(n) / fps


def set_scene_rate(scene: bpy.types.Scene, fps: float) -> None:
    whole = max(1, int(round(fps)))
    scene.render.fps = whole
    scene.render.fps_base = whole / fps


# -- resampling -------------------------------------------------------------------
def _interp(t: np.ndarray, src_t: np.ndarray, values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Linear interpolation of (n,) or (n, k) values over the valid samples; 0 outside."""
    src_t, values = src_t[ok], values[ok]
    if values.ndim == 1:
        values = values[:, None]
    out = np.zeros((len(t), values.shape[1]), dtype=np.float64)
    if len(src_t) == 0:
        return out
    for k in range(values.shape[1]):
        out[:, k] = np.interp(t, src_t, values[:, k], left=0.0, right=0.0)
    return out


def resample_foot(stream, times: np.ndarray, size: int | None) -> dict:
    """Pressure, force, COP and contact of one foot at the scene frame times.

    Recorded force/COP channels are used when present (what the device said);
    otherwise they follow from the pressures through the device model.
    """
    ok = stream.valid.copy()
    n = len(times)
    out = {}
    # 16 cells, or an ORPHE insole's 6 drawn on their foot regions (insole.as_moticon16)
    pressure = insole.as_moticon16(stream.pressure) if stream.has_pressure else None
    has16 = pressure is not None
    if has16:
        ok &= np.isfinite(pressure).all(axis=1)
        out["pressure"] = _interp(times, stream.time, pressure.astype(np.float64), ok)
    if stream.force is not None:
        f_ok = ok & np.isfinite(stream.force)
        force = _interp(times, stream.time, stream.force.astype(np.float64), f_ok)[:, 0]
        src_force = np.where(np.isfinite(stream.force), stream.force, 0.0)
    elif has16:
        src_force = insole.force_and_cop(np.nan_to_num(pressure), size)[0]
        force = _interp(times, stream.time, src_force, ok)[:, 0]
    else:
        src_force = np.zeros(len(stream))
        force = np.zeros(n)
    if stream.cop is not None:
        c_ok = ok & np.isfinite(stream.cop).all(axis=1)
        cop = _interp(times, stream.time, stream.cop.astype(np.float64), c_ok)
    elif has16:
        cop = insole.force_and_cop(out["pressure"], size)[1]
    else:
        cop = np.zeros((n, 2))
    # Loaded only where both neighbouring samples are: no COP jumps to the
    # device's (0, 0) "unloaded" value at heel strike and toe off.
    src_loaded = ((src_force > CONTACT_N) & stream.valid).astype(np.float64)
    loaded = np.interp(times, stream.time, src_loaded, left=0.0, right=0.0) > 1.0 - 1e-9
    out.update(force=force, cop=cop, contact=loaded & (force > CONTACT_N))
    return out


def auto_colour_max(take: Take) -> float:
    """A round colour range covering nearly all loaded cell values (N/cm²)."""
    values = [s.pressure[np.isfinite(s.pressure) & (s.pressure > 0)] for s in take.feet.values()
              if s.has_pressure]
    values = np.concatenate(values) if values else np.zeros(0)
    if values.size == 0:
        return 10.0
    top = float(np.percentile(values, 99.5))
    return float(max(5.0, math.ceil(top / 5.0) * 5.0))


def _event_keys(take: Take, side: str, contact: np.ndarray, times: np.ndarray, frame0: int):
    """Frames and Moticon codes of the foot's step events (from the take, else from contact)."""
    events = [e for e in take.events if e.side == side and e.code is not None]
    if not events and contact.any():
        edges = np.diff(contact.astype(np.int8))
        events = [Event(float(times[i + 1]), side, "heel_strike") for i in np.nonzero(edges == 1)[0]]
        events += [Event(float(times[i + 1]), side, "toe_off") for i in np.nonzero(edges == -1)[0]]
        events.sort(key=lambda e: e.time)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 1.0
    frames = {}
    for e in events:
        f = frame0 + int(round((e.time - times[0]) * fps))
        frames[f] = e
    return sorted(frames.items())


# -- objects --------------------------------------------------------------------------
def _link(coll, ob, parent=None):
    coll.objects.link(ob)
    if parent is not None:
        ob.parent = parent
    return ob


def _add_driver(owner, data_path: str, expression: str, variables: dict, index: int = -1):
    """A driver reading custom properties; single-variable drivers need no Python."""
    fc = owner.driver_add(data_path, index) if index >= 0 else owner.driver_add(data_path)
    drv = fc.driver
    for name, (target, path) in variables.items():
        var = drv.variables.new()
        var.name = name
        var.type = "SINGLE_PROP"
        var.targets[0].id = target
        var.targets[0].data_path = path
    if expression in variables:
        drv.type = "AVERAGE"
    else:
        drv.type = "SCRIPTED"
        drv.expression = expression      # simple expression: evaluated without Python
    return fc


def _set_option_props(root, options: SceneOptions, colour_max: float) -> None:
    specs = (
        ("s2m_color_max", float(colour_max), dict(min=0.1, soft_max=100.0, description="Pressure at the top of the colour map (N/cm²)")),
        ("s2m_trace_length", int(options.trace_length), dict(min=0, soft_max=600, description="COP trace length in frames")),
        ("s2m_arrow_scale", float(options.arrow_scale), dict(min=0.0, soft_max=2.0, description="Force arrow length in metres per kN")),
        ("s2m_show_trace", bool(options.show_trace), dict(description="Show the COP trace")),
        ("s2m_show_arrows", bool(options.show_arrows), dict(description="Show the ground reaction force arrows")),
    )
    for key, value, ui in specs:
        root[key] = value
        if not isinstance(value, bool):
            root.id_properties_ui(key).update(**ui)
        else:
            root.id_properties_ui(key).update(description=ui["description"])


def set_option(root, key: str, value) -> None:
    """Change a visual option of a take from Python (the panel's edits do this by themselves).

    Tagging the root makes the depsgraph re-read it: drivers see evaluated copies.
    """
    root[key] = value
    root.update_tag()
    if key == "s2m_color_max":
        update_legend(root)


def update_legend(root) -> None:
    """Rewrite the legend labels for the root's current colour range."""
    top = float(root.get("s2m_color_max", 30.0))
    for ob in root.children:
        if ob.get("s2m_role") == "legend_label" and ob.type == "FONT":
            frac = float(ob.get("s2m_fraction", 0.0))
            ob.data.body = f"{frac * top:g}"


def _legend(coll, root, colour_max: float, x: float, y: float) -> dict:
    height, width = 0.20, 0.018
    bar = bpy.data.objects.new("S2M Legend", meshes.legend_bar_mesh("S2M Legend", colormap.colour_linear, width, height))
    bar.location = (x, y - height / 2, 0.0)
    bar["s2m_role"] = "legend"
    _link(coll, bar, root)
    bar.data.materials.append(node_groups.data_material())
    label_mat = node_groups.label_material()
    out = {"legend": bar}
    for frac in (0.0, 0.5, 1.0):
        curve = bpy.data.curves.new(f"S2M Legend {frac:g}", "FONT")
        curve.size = 0.022
        curve.align_y = "CENTER"
        curve.materials.append(label_mat)
        ob = bpy.data.objects.new(curve.name, curve)
        ob.location = (x + width + 0.008, y - height / 2 + frac * height, 0.0)
        ob["s2m_role"] = "legend_label"
        ob["s2m_fraction"] = frac
        _link(coll, ob, root)
        out[f"legend_label_{int(frac * 100)}"] = ob
    curve = bpy.data.curves.new("S2M Legend Unit", "FONT")
    curve.body = "N/cm²"
    curve.size = 0.022
    curve.materials.append(label_mat)
    ob = bpy.data.objects.new(curve.name, curve)
    ob.location = (x - 0.004, y + height / 2 + 0.02, 0.0)
    ob["s2m_role"] = "legend_unit"
    _link(coll, ob, root)
    out["legend_unit"] = ob
    update_legend(root)
    return out


def _build_foot(coll, root, take: Take, side: str, data: dict, frames: np.ndarray,
                options: SceneOptions, size: int | None, name: str) -> dict:
    sign = 1.0 if side == "right" else -1.0
    mat = node_groups.data_material()
    me = meshes.insole_mesh(f"{name} {side} insole", side, size)
    me.materials.append(mat)
    ins = _link(coll, bpy.data.objects.new(f"{name} {side.title()} Insole", me), root)
    ins.location = (sign * options.stance_width / 2, 0.0, 0.0)
    ins.rotation_euler = (0.0, 0.0, math.pi / 2)     # foot frame X (toe-ward) → world +Y
    ins["s2m_role"] = "insole"
    ins["s2m_side"] = side
    ins["s2m_insole_size"] = int(size if size is not None else insole.DEFAULT_SIZE)

    rim_me = meshes.outline_slab_mesh(f"{name} {side} rim", side, size)
    rim_me.materials.append(mat)
    rim = _link(coll, bpy.data.objects.new(f"{name} {side.title()} Rim", rim_me), ins)
    rim["s2m_role"] = "rim"
    rim.hide_select = True

    # Keyed, user-visible data: the recorded values at the scene frames.
    n = len(frames)
    props = []
    if "pressure" in data and data["pressure"].shape[1] == node_groups.CELLS:
        for c in range(node_groups.CELLS):
            props.append((pressure_prop(c), data["pressure"][:, c], PRESSURE_GROUP, "LINEAR"))
    props += [("total_force", data["force"], FORCE_GROUP, "LINEAR"),
              ("cop_x", data["cop"][:, 0], FORCE_GROUP, "LINEAR"),
              ("cop_y", data["cop"][:, 1], FORCE_GROUP, "LINEAR"),
              ("contact", data["contact"].astype(np.float64), EVENT_GROUP, "CONSTANT")]
    for key, values, _, _ in props:
        ins[key] = float(values[0]) if n else 0.0
    ins["step_event"] = 0
    _, channels = compat.new_action(f"{name} {side}", ins)
    for key, values, group, interp in props:
        compat.write_fcurve(channels, f'["{key}"]', frames, values, group=group, interpolation=interp)
    ev = data["events"]
    if ev:
        # Each event is a one-frame pulse of its Moticon code (11/15, 21/25);
        # an event always wins over the end of the previous pulse.
        pulse = {f + 1: 0.0 for f, _ in ev}
        pulse.update({f: float(e.code) for f, e in ev})
        kf = np.array(sorted(pulse), dtype=np.float64)
        kv = np.array([pulse[f] for f in sorted(pulse)])
        compat.write_fcurve(channels, '["step_event"]', kf, kv, group=EVENT_GROUP, interpolation="CONSTANT")

    # Heatmap: modifier inputs driven from the keyed properties.
    heat = node_groups.heatmap_group()
    mod = ins.modifiers.new(HEATMAP_MOD, "NODES")
    mod.node_group = heat
    if props and props[0][0] == pressure_prop(0):
        for c in range(node_groups.CELLS):
            ident = node_groups.socket_identifier(heat, node_groups.cell_input_name(c))
            _add_driver(ins, f'modifiers["{HEATMAP_MOD}"]["{ident}"]', "p", {"p": (ins, f'["{pressure_prop(c)}"]')})
    ident = node_groups.socket_identifier(heat, "Colour Max")
    _add_driver(ins, f'modifiers["{HEATMAP_MOD}"]["{ident}"]', "m", {"m": (root, '["s2m_color_max"]')})

    length = insole.insole_length(size)
    kx = length
    ky = sign * length * insole.WIDTH_RATIO       # to_metres: the left foot is mirrored
    cop_vars = {"c": (ins, '["cop_x"]')}

    marker = _link(coll, bpy.data.objects.new(f"{name} {side.title()} COP",
                                              meshes.uv_sphere_mesh(f"{name} {side} cop", 0.0065)), ins)
    marker.data.materials.append(mat)
    marker["s2m_role"] = "cop"
    marker.location.z = 0.004
    arrow = _link(coll, bpy.data.objects.new(f"{name} {side.title()} Force",
                                             meshes.arrow_mesh(f"{name} {side} force")), ins)
    arrow.data.materials.append(mat)
    arrow["s2m_role"] = "force_arrow"
    for ob in (marker, arrow):
        _add_driver(ob, "location", f"c*{kx!r}", cop_vars, 0)
        _add_driver(ob, "location", f"c*{ky!r}", {"c": (ins, '["cop_y"]')}, 1)
    for axis in range(3):
        _add_driver(marker, "scale", "c", {"c": (ins, '["contact"]')}, axis)
    show = {"c": (ins, '["contact"]'), "s": (root, '["s2m_show_arrows"]')}
    _add_driver(arrow, "scale", "c*s", show, 0)
    _add_driver(arrow, "scale", "c*s", show, 1)
    _add_driver(arrow, "scale", "c*s*f*k/1000.0",
                dict(show, f=(ins, '["total_force"]'), k=(root, '["s2m_arrow_scale"]')), 2)

    # COP trace: a ribbon through every loaded frame, cut to the last N frames.
    pts = insole.to_metres(data["cop"], side, size)
    trace = _link(coll, bpy.data.objects.new(
        f"{name} {side.title()} COP Trace",
        meshes.trace_mesh(f"{name} {side} trace", pts, frames.astype(np.int64), data["contact"])), ins)
    trace.data.materials.append(mat)
    trace["s2m_role"] = "cop_trace"
    trace.hide_select = True
    tmod = trace.modifiers.new(TRACE_MOD, "NODES")
    tmod.node_group = node_groups.trace_group()
    ident = node_groups.socket_identifier(tmod.node_group, "Length")
    _add_driver(trace, f'modifiers["{TRACE_MOD}"]["{ident}"]', "n*s",
                {"n": (root, '["s2m_trace_length"]'), "s": (root, '["s2m_show_trace"]')})
    return {"insole": ins, "rim": rim, "cop": marker, "arrow": arrow, "trace": trace}


def build_take_scene(context, take: Take, options: SceneOptions | None = None,
                     progress=None) -> dict:
    """Create the animated scene of ``take`` in ``context.scene``; returns the created objects.

    Keys: ``root``, ``collection``, ``insole_<side>``, ``rim_<side>``, ``cop_<side>``,
    ``arrow_<side>``, ``trace_<side>``, ``legend``, ``legend_label_0/50/100``,
    ``legend_unit``. ``progress(fraction)`` is called along the way.
    """
    options = options or SceneOptions()
    report = progress or (lambda _f: None)
    if not take.feet:
        raise TakeError("the take holds no foot data", path=take.meta.source_path or None)
    scene = context.scene
    fps = scene_rate(take, options)
    times = frame_times(take, fps)
    frame0 = int(options.frame_start)
    frames = (frame0 + np.arange(len(times))).astype(np.float64)
    size = take.meta.insole_size
    name = options.name or take.meta.name or (os.path.splitext(os.path.basename(take.meta.source_path))[0]
                                              if take.meta.source_path else "Take")
    name = f"S2M {name}"[:50]

    coll = bpy.data.collections.new(name)
    scene.collection.children.link(coll)
    root = bpy.data.objects.new(name, None)
    root.empty_display_type = "PLAIN_AXES"
    root.empty_display_size = 0.05
    coll.objects.link(root)
    colour_max = options.color_max if options.color_max > 0 else auto_colour_max(take)
    _set_option_props(root, options, colour_max)
    root["s2m_role"] = "take"
    report(0.05)

    created = {"root": root, "collection": coll}
    peaks = {}
    total = np.zeros(len(times))
    for k, side in enumerate(take.sides):
        data = resample_foot(take.feet[side], times, size)
        data["events"] = _event_keys(take, side, data["contact"], times, frame0)
        report(0.1 + 0.4 * k)
        objs = _build_foot(coll, root, take, side, data, frames, options, size, name)
        for key, ob in objs.items():
            created[f"{key}_{side}"] = ob
        peaks[side] = float(data["force"].max()) if len(times) else 0.0
        total += data["force"]
        if len(data["events"]) <= options.max_markers:
            for f, e in data["events"]:
                label = ("L " if side == "left" else "R ") + ("HS" if e.kind == "heel_strike" else "TO" if e.kind == "toe_off" else e.kind)
                scene.timeline_markers.new(label, frame=int(f))
        else:
            take.note(f"{len(data['events'])} {side} step events: keyed as step_event only, too many for timeline markers")
        report(0.3 + 0.4 * k)

    created.update(_legend(coll, root, colour_max, x=options.stance_width / 2 + 0.1, y=0.0))

    # Summary for the sidebar panel.
    meta = take.meta
    root["s2m_file"] = meta.source_path or ""
    root["s2m_device"] = meta.device
    root["s2m_duration"] = float(take.duration)
    root["s2m_rate"] = float(take.rate)
    root["s2m_fps"] = float(fps)
    root["s2m_insole_size"] = int(size if size is not None else insole.DEFAULT_SIZE)
    for side, peak in peaks.items():
        root[f"s2m_peak_{side}"] = peak
    root["s2m_peak_frame"] = int(frame0 + int(np.argmax(total))) if len(total) else frame0
    root["s2m_report"] = "\n".join(take.report)

    set_scene_rate(scene, fps)
    scene.frame_start = frame0
    scene.frame_end = int(frames[-1])
    scene.frame_set(frame0)
    # Workbench shows the data colours in "Attribute" colour mode.
    scene.display.shading.color_type = "VERTEX"
    report(1.0)
    return created


def take_root(obj) -> bpy.types.Object | None:
    """The take root of ``obj`` (itself or an ancestor), or None."""
    while obj is not None:
        if obj.get("s2m_role") == "take":
            return obj
        obj = obj.parent
    return None
