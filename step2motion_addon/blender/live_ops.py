# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators of the Live Capture panel: sources, zero, calibration, recording.

Every operator turns a failure into one ERROR report line (no traceback) and
CANCELLED. Settings the panel edits live on the window manager (not saved in
the .blend: ports and devices belong to this computer and session); each
operator property, when given explicitly (scripts, tests), wins over them.
"""

from __future__ import annotations

import os

import bpy

from ..core.errors import TakeError
from . import live
from .insole_scene import SceneOptions
from .preferences import get_preferences

FORMATS = (("open", "Open frame", "Step2Motion open insole frame (DIY, ESP32, bridges)"),
           ("moticon", "Moticon OpenGo", "OpenGo desktop software's live UDP output (text vectors)"),
           ("auto", "Auto", "Decide per datagram"))
SOURCES = (("UDP", "UDP", "Listen for frames on a UDP port"),
           ("REPLAY", "Replay", "Play a recorded take as if it were live"),
           ("BLE", "Bluetooth", "Open-frame insoles over Bluetooth LE"))


class STEP2MOTION_LiveSettings(bpy.types.PropertyGroup):
    source: bpy.props.EnumProperty(name="Source", items=SOURCES, default="UDP")
    host: bpy.props.StringProperty(name="Host", default="127.0.0.1",
                                   description="Address to listen on; 127.0.0.1 accepts only this computer")
    port: bpy.props.IntProperty(name="Port", default=9000, min=0, max=65535)
    format: bpy.props.EnumProperty(name="Format", items=FORMATS, default="open")
    allow: bpy.props.StringProperty(name="Allowed Sender", default="",
                                    description="Accept datagrams only from this address (empty: any)")
    replay_path: bpy.props.StringProperty(name="Take", subtype="FILE_PATH", default="")
    replay_rate: bpy.props.FloatProperty(name="Speed", default=1.0, min=0.05, max=100.0)
    replay_loop: bpy.props.BoolProperty(name="Loop", default=True)
    adapter: bpy.props.StringProperty(name="Adapter", default="", description="Bluetooth adapter (Linux: hci0)")
    ble_kind: bpy.props.EnumProperty(
        name="Insoles", default="OPEN",
        items=(("OPEN", "Open frame", "Open-frame insoles (Nordic UART Service, OI-L-/OI-R- names): scan and pick"),
               ("ORPHE", "ORPHE", "ORPHE INSOLE / CORE: the two found are connected; the mount position set "
                                  "in ORPHE's app says which foot each one is")))
    scan_seconds: bpy.props.FloatProperty(name="Scan Time", default=5.0, min=1.0, max=60.0, unit="TIME_ABSOLUTE")
    insole_size: bpy.props.IntProperty(name="Insole Size", default=5, min=1, max=10)
    record_folder: bpy.props.StringProperty(
        name="Folder", subtype="DIR_PATH", default="",
        description="Where new takes are written (empty: next to the saved .blend, else the add-on's user folder)")
    take_name: bpy.props.StringProperty(name="Name", default="", description="File name of the next take")
    calibrate_seconds: bpy.props.FloatProperty(name="Duration", default=3.0, min=0.5, max=30.0)
    body_hop: bpy.props.IntProperty(
        name="Update Every", default=10, min=1, max=50,
        description="Model frames (30 Hz) between two new poses of the following character: fewer gives "
                    "fresher poses for more CPU (one model window each)")
    body_smooth: bpy.props.BoolProperty(
        name="Smooth", default=True,
        description="Play each model window's frames at their own rate (continuous motion, one update "
                    "interval later) instead of jumping to the newest pose once per window")
    body_in_place: bpy.props.BoolProperty(
        name="In Place", default=True,
        description="Keep the following character over its spot (turning and height still follow): "
                    "it stays next to the live insoles instead of walking out of view")


def settings(context) -> STEP2MOTION_LiveSettings:
    return context.window_manager.step2motion_live


def _pick(op, context, name, setting: str = ""):
    """The operator's property when set explicitly, else the panel setting (``setting`` or same name)."""
    if op.properties.is_property_set(name):
        return getattr(op, name)
    return getattr(settings(context), setting or name)


class _LiveOp:
    bl_options = {"REGISTER"}

    def fail(self, message: str):
        self.report({"ERROR"}, " ".join(str(message).split()))    # one line
        return {"CANCELLED"}


class STEP2MOTION_OT_live_udp(_LiveOp, bpy.types.Operator):
    """Listen for insole frames on a UDP port"""
    bl_idname = "step2motion.live_udp"
    bl_label = "Start UDP Listener"

    host: bpy.props.StringProperty(name="Host", default="127.0.0.1")
    port: bpy.props.IntProperty(name="Port", default=9000, min=0, max=65535)
    format: bpy.props.EnumProperty(name="Format", items=FORMATS, default="open")
    allow: bpy.props.StringProperty(name="Allowed Sender", default="")
    insole_size: bpy.props.IntProperty(name="Insole Size", default=5, min=1, max=10)

    def execute(self, context):
        from ..devices.udp import UdpSource
        host = _pick(self, context, "host").strip() or "127.0.0.1"
        port = _pick(self, context, "port")
        allow = _pick(self, context, "allow").strip() or None
        try:
            source = UdpSource(host, port, _pick(self, context, "format"), allow=allow)
            live.controller().start(source, "udp", f"udp://{host}:{port}", scene=context.scene,
                                    insole_size=_pick(self, context, "insole_size"))
        except (live.LiveError, ValueError, OSError) as exc:
            return self.fail(str(exc))
        self.report({"INFO"}, f"Listening on {live.controller().label}")
        return {"FINISHED"}


class STEP2MOTION_OT_live_replay(_LiveOp, bpy.types.Operator):
    """Play a recorded take as if it came from insoles now"""
    bl_idname = "step2motion.live_replay"
    bl_label = "Start Replay"

    filepath: bpy.props.StringProperty(name="Take", subtype="FILE_PATH", default="")
    rate: bpy.props.FloatProperty(name="Speed", default=1.0, min=0.05, max=100.0)
    loop: bpy.props.BoolProperty(name="Loop", default=True)

    def execute(self, context):
        from ..core.formats import load_take
        from ..devices.replay import ReplaySource
        path = _pick(self, context, "filepath", "replay_path")
        path = bpy.path.abspath(path) if path else ""
        if not path:
            return self.fail("choose a take file to replay")
        rate = _pick(self, context, "rate", "replay_rate")
        loop = _pick(self, context, "loop", "replay_loop")
        try:
            take = load_take(path)
            live.controller().start(ReplaySource(take, rate=rate, loop=loop), "replay",
                                    f"replay {os.path.basename(path)}", scene=context.scene,
                                    insole_size=take.meta.insole_size)
        except (TakeError, live.LiveError, ValueError, OSError) as exc:
            return self.fail(f"cannot replay: {exc}")
        self.report({"INFO"}, f"Replaying {os.path.basename(path)} at {rate:g}x")
        return {"FINISHED"}


class STEP2MOTION_OT_live_scan(_LiveOp, bpy.types.Operator):
    """Look for open-frame insoles over Bluetooth (runs in the background; results appear in the panel)"""
    bl_idname = "step2motion.live_scan"
    bl_label = "Scan for Insoles"

    def execute(self, context):
        s = settings(context)
        try:
            live.controller().scan(s.scan_seconds, s.adapter.strip() or None)
        except live.LiveError as exc:
            return self.fail(str(exc))
        live.ensure_timer()       # redraws the panel while the scan runs
        return {"FINISHED"}


class STEP2MOTION_OT_live_pick(_LiveOp, bpy.types.Operator):
    """Use this device for the given foot"""
    bl_idname = "step2motion.live_pick"
    bl_label = "Pick Insole"

    side: bpy.props.EnumProperty(items=(("left", "Left", ""), ("right", "Right", "")))
    address: bpy.props.StringProperty()

    def execute(self, context):
        try:
            live.controller().pick(self.side, self.address)
        except live.LiveError as exc:
            return self.fail(str(exc))
        return {"FINISHED"}


class STEP2MOTION_OT_live_connect(_LiveOp, bpy.types.Operator):
    """Connect to the picked insoles (or any open-frame insoles found) over Bluetooth"""
    bl_idname = "step2motion.live_connect"
    bl_label = "Connect"

    def execute(self, context):
        s = settings(context)
        c = live.controller()
        try:
            import bleak  # noqa: F401
        except ImportError:
            return self.fail("Bluetooth needs the 'bleak' package, which is not installed")
        try:
            if s.ble_kind == "ORPHE":
                from ..devices.ble import OrpheBleSource
                source, names = OrpheBleSource(adapter=s.adapter.strip() or None), "ORPHE"
            else:
                source = live.picked_ble_source(dict(c.picked), s.adapter.strip() or None)
                names = ", ".join(f"{k} {v}" for k, v in c.picked.items()) or "any insoles"
            c.start(source, "ble", f"Bluetooth ({names})", scene=context.scene, insole_size=s.insole_size)
        except (live.LiveError, ValueError, OSError) as exc:
            return self.fail(str(exc))
        self.report({"INFO"}, "Connecting… (status in the Live Capture panel)")
        return {"FINISHED"}


class STEP2MOTION_OT_live_stop(_LiveOp, bpy.types.Operator):
    """Stop the live source (disconnects insoles, closes the listener; a running recording is closed)"""
    bl_idname = "step2motion.live_stop"
    bl_label = "Stop Live"

    def execute(self, context):
        c = live.controller()
        if not c.active:
            return self.fail("no live source is running")
        summary = c.stop()
        if summary:
            self.report({"INFO"}, f"Recording closed: {summary['path']}")
        return {"FINISHED"}


class STEP2MOTION_OT_live_zero(_LiveOp, bpy.types.Operator):
    """Take the current readings of an unloaded foot as its zero (lift the foot first)"""
    bl_idname = "step2motion.live_zero"
    bl_label = "Zero Pressure"

    side: bpy.props.EnumProperty(items=(("BOTH", "Both", ""), ("left", "Left", ""), ("right", "Right", "")),
                                 default="BOTH")
    clear: bpy.props.BoolProperty(name="Clear", default=False, description="Forget the zero instead")

    def execute(self, context):
        c = live.controller()
        if self.clear:
            c.clear_zero()
            return {"FINISHED"}
        sides = ("left", "right") if self.side == "BOTH" else (self.side,)
        try:
            c.zero(sides)
        except live.LiveError as exc:
            return self.fail(str(exc))
        self.report({"INFO"}, f"Zeroed {', '.join(sides)}")
        return {"FINISHED"}


class STEP2MOTION_OT_live_calibrate(_LiveOp, bpy.types.Operator):
    """Stand still on both feet: estimates body weight and the insoles' gravity direction"""
    bl_idname = "step2motion.live_calibrate"
    bl_label = "Stand Still Calibration"

    seconds: bpy.props.FloatProperty(name="Duration", default=3.0, min=0.5, max=30.0)

    def execute(self, context):
        seconds = _pick(self, context, "seconds", "calibrate_seconds")
        try:
            live.controller().start_calibration(seconds)
        except live.LiveError as exc:
            return self.fail(str(exc))
        return {"FINISHED"}


class STEP2MOTION_OT_live_record(_LiveOp, bpy.types.Operator):
    """Start recording everything received to a new .s2m take"""
    bl_idname = "step2motion.live_record"
    bl_label = "Record"

    folder: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH", default="")
    name: bpy.props.StringProperty(name="Name", default="")

    def execute(self, context):
        folder = _pick(self, context, "folder", "record_folder")
        name = _pick(self, context, "name", "take_name")
        try:
            path = live.controller().start_recording(folder, name)
        except live.LiveError as exc:
            return self.fail(str(exc))
        self.report({"INFO"}, f"Recording to {path}")
        return {"FINISHED"}


class STEP2MOTION_OT_live_record_stop(_LiveOp, bpy.types.Operator):
    """Stop recording and build the recorded take's insole scene"""
    bl_idname = "step2motion.live_record_stop"
    bl_label = "Stop Recording"
    bl_options = {"REGISTER", "UNDO"}

    build: bpy.props.BoolProperty(name="Build Scene", default=True)
    bake: bpy.props.BoolProperty(name="Reconstruct Body", default=True,
                                 description="Run the full reconstruction on the finished take and bake it "
                                             "(the same as Reconstruct Motion in the Full Body panel)")

    def execute(self, context):
        c = live.controller()
        if c.recorder is None:
            return self.fail("not recording")
        if not self.build:
            summary = c.stop_recording()
            self.report({"INFO"}, f"Saved {summary['path']}")
            return {"FINISHED"}
        prefs = get_preferences(context)
        opts = SceneOptions(fps=prefs.default_fps if prefs else 30.0,
                            trace_length=prefs.default_trace_length if prefs else 45)
        try:
            path, created, take = live.finish_recording(context, c, opts)
        except (live.LiveError, TakeError, OSError) as exc:
            return self.fail(str(exc))
        root = created["root"]
        for ob in context.view_layer.objects:
            ob.select_set(False)
        if root.name in context.view_layer.objects:
            context.view_layer.objects.active = root
            root.select_set(True)
        saved = f"Saved {os.path.basename(path)} ({take.duration:.1f} s)"
        if self.bake and has_reconstruct():
            # The take is already safe on disk; a failed reconstruction only adds a warning.
            try:
                result = bpy.ops.step2motion.reconstruct()
            except RuntimeError as exc:
                result = {"CANCELLED"}
                self.report({"WARNING"}, f"{saved}; body not reconstructed: {str(exc).strip().splitlines()[-1]}")
                return {"FINISHED"}
            if "FINISHED" in result:
                self.report({"INFO"}, f"{saved}; body reconstructed and baked")
                return {"FINISHED"}
        hint = " — Reconstruct Motion is available in the Full Body panel" if has_reconstruct() else ""
        self.report({"INFO"}, f"{saved}{hint}")
        return {"FINISHED"}


class STEP2MOTION_OT_live_follow(_LiveOp, bpy.types.Operator):
    """Make a character follow the insoles live: the selected armature (through its bone map), the scene's
    Step2Motion character, or a new one. The model runs in the background; nothing is keyed"""
    bl_idname = "step2motion.live_follow"
    bl_label = "Follow with Character"

    stop: bpy.props.BoolProperty(name="Stop", default=False, description="Stop following instead")
    hop: bpy.props.IntProperty(name="Update Every", default=10, min=1, max=50)
    in_place: bpy.props.BoolProperty(name="In Place", default=True)
    smooth: bpy.props.BoolProperty(name="Smooth", default=True)

    def execute(self, context):
        c = live.controller()
        if self.stop:
            if c.body is None:
                return self.fail("no character is following")
            c.stop_follow()
            return {"FINISHED"}
        recon = getattr(context.scene, "step2motion_recon", None)
        models_dir = recon.models_dir if recon is not None else ""
        try:
            body = c.follow(context, models_dir=models_dir, hop=_pick(self, context, "hop", "body_hop"),
                            in_place=_pick(self, context, "in_place", "body_in_place"),
                            smooth=_pick(self, context, "smooth", "body_smooth"))
        except live.LiveError as exc:
            return self.fail(str(exc))
        self.report({"INFO"}, f"{body.arm_name} follows the insoles")
        return {"FINISHED"}


class STEP2MOTION_OT_live_view(_LiveOp, bpy.types.Operator):
    """Show (or rebuild) the live insoles in this scene"""
    bl_idname = "step2motion.live_view"
    bl_label = "Show Live View"

    def execute(self, context):
        live.controller().ensure_view(context.scene)
        return {"FINISHED"}


def has_reconstruct() -> bool:
    """The character engineer's operator, when that part of the add-on is registered."""
    return hasattr(bpy.types, "STEP2MOTION_OT_reconstruct")


classes = (STEP2MOTION_LiveSettings, STEP2MOTION_OT_live_udp, STEP2MOTION_OT_live_replay,
           STEP2MOTION_OT_live_scan, STEP2MOTION_OT_live_pick, STEP2MOTION_OT_live_connect,
           STEP2MOTION_OT_live_stop, STEP2MOTION_OT_live_zero, STEP2MOTION_OT_live_calibrate,
           STEP2MOTION_OT_live_record, STEP2MOTION_OT_live_record_stop, STEP2MOTION_OT_live_follow,
           STEP2MOTION_OT_live_view)


def register():
    bpy.types.WindowManager.step2motion_live = bpy.props.PointerProperty(type=STEP2MOTION_LiveSettings)


def unregister():
    del bpy.types.WindowManager.step2motion_live
