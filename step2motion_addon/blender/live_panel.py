# SPDX-License-Identifier: GPL-3.0-or-later
"""3D viewport sidebar "Step2Motion" > "Live Capture": source, per-foot status, zero, calibration, recording.

The panel only reads the controller's cached status (refreshed by the live
timer a few times a second); drawing never touches the device threads.
"""

from __future__ import annotations

import os

import bpy

from . import live
from .live_ops import has_reconstruct, settings


def _fmt(value, spec: str, unit: str = "", missing: str = "–") -> str:
    return missing if value is None else f"{value:{spec}}{unit}"


class VIEW3D_PT_step2motion_live(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Step2Motion"
    bl_label = "Live Capture"
    bl_idname = "VIEW3D_PT_step2motion_live"

    def draw(self, context):
        layout = self.layout
        c = live.controller()
        s = settings(context)
        if not c.active:
            self._draw_source(layout, c, s)
        else:
            self._draw_running(layout, c, s)
        for msg in list(c.messages)[-3:]:
            layout.label(text=msg, icon="INFO")

    def _draw_source(self, layout, c, s):
        layout.prop(s, "source", expand=True)
        col = layout.column()
        col.use_property_split = True
        if s.source == "UDP":
            col.prop(s, "host")
            col.prop(s, "port")
            col.prop(s, "format")
            col.prop(s, "allow")
            col.prop(s, "insole_size")
            layout.operator("step2motion.live_udp", icon="PLAY")
        elif s.source == "REPLAY":
            col.prop(s, "replay_path")
            col.prop(s, "replay_rate")
            col.prop(s, "replay_loop")
            layout.operator("step2motion.live_replay", icon="PLAY")
        else:
            col.prop(s, "ble_kind")
            col.prop(s, "adapter")
            if s.ble_kind == "ORPHE":
                layout.operator("step2motion.live_connect", icon="LINKED")
                return
            col.prop(s, "scan_seconds")
            col.prop(s, "insole_size")
            row = layout.row()
            row.enabled = c.scan_state != "scanning"
            row.operator("step2motion.live_scan", icon="VIEWZOOM",
                         text="Scanning…" if c.scan_state == "scanning" else "Scan for Insoles")
            if c.scan_state and c.scan_state not in ("scanning", "done"):
                layout.label(text=c.scan_state, icon="ERROR")
            if c.scan_results:
                box = layout.box()
                for dev in c.scan_results:
                    row = box.row(align=True)
                    mark = [side[0].upper() for side, addr in c.picked.items() if addr == dev["address"]]
                    row.label(text=f"{dev['name'] or dev['address']}  {_fmt(dev['rssi'], 'd', ' dBm')}",
                              icon="CHECKMARK" if mark else "BLANK1")
                    for side in ("left", "right"):
                        op = row.operator("step2motion.live_pick", text=side[0].upper(),
                                          depress=c.picked.get(side) == dev["address"])
                        op.side, op.address = side, dev["address"]
            elif c.scan_state == "done":
                layout.label(text="No insole found (see docs: Troubleshooting)", icon="ERROR")
            layout.operator("step2motion.live_connect", icon="LINKED")

    def _draw_running(self, layout, c, s):
        st = c.refresh_status()
        row = layout.row()
        row.label(text=st.get("source", ""), icon="PLAY" if st.get("running") else "PAUSE")
        row.operator("step2motion.live_stop", text="", icon="CANCEL")
        for err in st.get("errors", [])[:2]:
            layout.label(text=err, icon="ERROR")
        for warning in st.get("warnings", [])[:2]:      # e.g. listening on the network with no sender set
            layout.label(text=warning, icon="INFO")
        for side in ("left", "right"):
            f = st.get("feet", {}).get(side)
            box = layout.box()
            head = box.row()
            head.label(text=f"{side.title()}: {f['state'] if f else 'no data'}",
                       icon="CHECKMARK" if f and f["state"] == "streaming" else "QUESTION")
            if not f:
                continue
            if f["zeroed"]:
                head.label(text="zeroed")
            grid = box.grid_flow(row_major=True, columns=2, align=True)
            grid.label(text=f"Rate {f['rate_hz']:.0f} Hz")
            grid.label(text=f"Loss {f['loss_pct']:.1f}% ({f['lost']})")
            grid.label(text=f"Battery {_fmt(f['battery'], 'd', '%')}")
            grid.label(text=f"RSSI {_fmt(f['rssi'], 'd', ' dBm')}")
            grid.label(text=f"Latency {_fmt(f['latency_ms'], '.0f', ' ms')}")
            grid.label(text=f"Reconnects {f['reconnects']}")
        if st.get("queue_dropped") or c.display_dropped:
            layout.label(text=f"Display skipped {c.display_dropped + st.get('queue_dropped', 0)} frames "
                              "(all recorded)", icon="INFO")

        row = layout.row(align=True)
        row.operator("step2motion.live_zero", icon="MOD_LENGTH").side = "BOTH"
        if c.baseline:
            op = row.operator("step2motion.live_zero", text="", icon="X")
            op.clear = True
        row = layout.row(align=True)
        left = c.calibrating()
        if left > 0:
            row.label(text=f"Stand still… {left:.1f} s", icon="TIME")
        else:
            row.operator("step2motion.live_calibrate", icon="ARMATURE_DATA")
            row.prop(s, "calibrate_seconds", text="")
        if c.calibration:
            layout.label(text=f"Body mass ≈ {c.calibration['body_mass_kg']:.1f} kg")

        self._draw_body(layout, c, s)

        box = layout.box()
        rec = st.get("recording")
        if rec:
            box.label(text=f"● Recording {rec['elapsed_s']:.0f} s", icon="REC")
            box.label(text=os.path.basename(rec["path"]), icon="FILE")
            box.label(text=f"{rec['frames']['left']} + {rec['frames']['right']} frames written")
            box.operator("step2motion.live_record_stop", icon="SNAP_FACE")
        else:
            col = box.column()
            col.use_property_split = True
            col.prop(s, "record_folder")
            col.prop(s, "take_name")
            if not s.record_folder:
                col.label(text=live.default_record_folder())
            box.operator("step2motion.live_record", icon="REC")
        if c.last_recording and not rec:
            layout.label(text=f"Last: {os.path.basename(c.last_recording)}", icon="FILE_TICK")
            if has_reconstruct():
                layout.operator("step2motion.reconstruct", icon="ARMATURE_DATA")
        coll = bpy.data.collections.get(c.view.get("collection", ""))
        if not c.view_objects() or (coll is not None and coll.hide_viewport):
            layout.operator("step2motion.live_view", icon="HIDE_OFF")

    def _draw_body(self, layout, c, s):
        box = layout.box()
        body = c.body
        if body is None:
            row = box.row(align=True)
            row.operator("step2motion.live_follow", icon="ARMATURE_DATA")
            row.prop(s, "body_hop", text="")
            row = box.row(align=True)
            row.prop(s, "body_in_place")
            row.prop(s, "body_smooth")
            return
        st = body.stats()
        head = box.row()
        head.label(text=f"Following: {st['arm']}", icon="ARMATURE_DATA")
        head.operator("step2motion.live_follow", text="", icon="X").stop = True
        if st["error"]:
            box.label(text=st["error"], icon="ERROR")
            return
        grid = box.grid_flow(row_major=True, columns=2, align=True)
        grid.label(text=f"Pose every {st['hop']} frames")
        grid.label(text=f"Model {_fmt(st['window_ms_p50'], '.0f', ' ms')}")
        grid.label(text=f"Latency {_fmt(st['fresh_ms_p50'], '.0f', ' ms')}")
        grid.label(text=f"Skipped {st['skipped']} frames")


classes = (VIEW3D_PT_step2motion_live,)
