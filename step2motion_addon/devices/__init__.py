# SPDX-License-Identifier: GPL-3.0-or-later
"""Live capture: device decoders and transports (pure Python + asyncio, never bpy).

* Decoders turn one packet into :class:`~.frame.Frame` objects and raise only
  :class:`~.frame.FrameError` subclasses: :mod:`.open_frame` (the project's own
  format, ``docs/protocol.md``), :mod:`.moticon_udp` (OpenGo desktop UDP
  output), :mod:`.orphe` (ORPHE INSOLE notifications).
* Transports feed a :class:`~.session.LiveSession`: :mod:`.udp`, :mod:`.replay`
  and :mod:`.ble` (bleak, imported lazily because Blender bundles it as a wheel).
* :mod:`.clock` maps device time to host time and counts loss;
  :mod:`.recorder` writes what arrives to a native take file.
"""
