# SPDX-License-Identifier: GPL-3.0-or-later
"""Geometry Nodes groups and the material of the take scene.

Heatmap: one float input per cell (driven from the insole's keyed
``pressure_XX`` properties) is picked per face by the face's ``cell`` attribute,
divided by the colour range and mapped through the colour ramp into the
``s2m_color`` corner attribute. Workbench shows that attribute directly
("Attribute" colour mode); Cycles/EEVEE read it through the material, so the
heatmap renders the same in all three engines.

Trace: deletes the COP ribbon's quads outside the last N frames (Scene Time).
"""

from __future__ import annotations

import bpy

from . import colormap, compat
from .meshes import COLOR_ATTR

HEATMAP_GROUP = "S2M Heatmap"
TRACE_GROUP = "S2M COP Trace"
MATERIAL = "S2M Data Colour"
LABEL_MATERIAL = "S2M Label"
CELLS = 16


def _socket(ng, name, in_out, socket_type, default=None, min_value=None):
    s = ng.interface.new_socket(name, in_out=in_out, socket_type=socket_type)
    if default is not None:
        s.default_value = default
    if min_value is not None:
        s.min_value = min_value
    return s


def socket_identifier(ng: bpy.types.NodeTree, name: str) -> str:
    """Modifier inputs are keyed/driven through socket identifiers, looked up by name."""
    for item in ng.interface.items_tree:
        if getattr(item, "in_out", None) == "INPUT" and item.name == name:
            return item.identifier
    raise KeyError(name)


def cell_input_name(cell: int) -> str:
    return f"Pressure {cell + 1:02d}"


def heatmap_group() -> bpy.types.NodeTree:
    ng = bpy.data.node_groups.get(HEATMAP_GROUP)
    if ng is not None:
        return ng
    ng = bpy.data.node_groups.new(HEATMAP_GROUP, "GeometryNodeTree")
    _socket(ng, "Geometry", "INPUT", "NodeSocketGeometry")
    _socket(ng, "Geometry", "OUTPUT", "NodeSocketGeometry")
    for c in range(CELLS):
        _socket(ng, cell_input_name(c), "INPUT", "NodeSocketFloat", 0.0)
    _socket(ng, "Colour Max", "INPUT", "NodeSocketFloat", 30.0, min_value=0.001)
    nodes, link = ng.nodes, ng.links.new
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    cell = nodes.new("GeometryNodeInputNamedAttribute")
    cell.data_type = "INT"
    cell.inputs["Name"].default_value = "cell"
    switch = nodes.new("GeometryNodeIndexSwitch")
    switch.data_type = "FLOAT"
    while len(switch.index_switch_items) < CELLS:
        switch.index_switch_items.new()
    link(cell.outputs["Attribute"], switch.inputs["Index"])
    for c in range(CELLS):
        link(gin.outputs[cell_input_name(c)], switch.inputs[c + 1])
    div = nodes.new("ShaderNodeMath")
    div.operation = "DIVIDE"
    div.use_clamp = True
    link(switch.outputs[0], div.inputs[0])
    link(gin.outputs["Colour Max"], div.inputs[1])
    ramp = nodes.new("ShaderNodeValToRGB")
    els = ramp.color_ramp.elements
    stops = colormap.stops_linear()
    while len(els) < len(stops):
        els.new(0.5)
    for el, (pos, rgb) in zip(els, stops):
        el.position = pos
        el.color = (*rgb, 1.0)
    link(div.outputs[0], ramp.inputs["Fac"])
    store = nodes.new("GeometryNodeStoreNamedAttribute")
    store.data_type = "FLOAT_COLOR"
    store.domain = "CORNER"
    store.inputs["Name"].default_value = COLOR_ATTR
    link(gin.outputs["Geometry"], store.inputs["Geometry"])
    link(ramp.outputs["Color"], store.inputs["Value"])
    link(store.outputs["Geometry"], gout.inputs["Geometry"])
    for k, node in enumerate((gin, cell, switch, div, ramp, store, gout)):
        node.location = (k * 200 - 600, 0)
    return ng


def trace_group() -> bpy.types.NodeTree:
    ng = bpy.data.node_groups.get(TRACE_GROUP)
    if ng is not None:
        return ng
    ng = bpy.data.node_groups.new(TRACE_GROUP, "GeometryNodeTree")
    _socket(ng, "Geometry", "INPUT", "NodeSocketGeometry")
    _socket(ng, "Geometry", "OUTPUT", "NodeSocketGeometry")
    _socket(ng, "Length", "INPUT", "NodeSocketFloat", 60.0, min_value=0.0)
    nodes, link = ng.nodes, ng.links.new
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    frame = nodes.new("GeometryNodeInputNamedAttribute")
    frame.data_type = "INT"
    frame.inputs["Name"].default_value = "frame"
    now = nodes.new("GeometryNodeInputSceneTime")
    # age = now - frame; keep 0 <= age < Length
    age = nodes.new("ShaderNodeMath")
    age.operation = "SUBTRACT"
    link(now.outputs["Frame"], age.inputs[0])
    link(frame.outputs["Attribute"], age.inputs[1])
    too_old = nodes.new("ShaderNodeMath")
    too_old.operation = "GREATER_THAN"      # age > Length - 1  → delete
    minus_one = nodes.new("ShaderNodeMath")
    minus_one.operation = "SUBTRACT"
    minus_one.inputs[1].default_value = 1.0
    link(gin.outputs["Length"], minus_one.inputs[0])
    link(age.outputs[0], too_old.inputs[0])
    link(minus_one.outputs[0], too_old.inputs[1])
    future = nodes.new("ShaderNodeMath")
    future.operation = "LESS_THAN"          # age < 0 → delete
    future.inputs[1].default_value = 0.0
    link(age.outputs[0], future.inputs[0])
    either = nodes.new("ShaderNodeMath")
    either.operation = "MAXIMUM"
    link(too_old.outputs[0], either.inputs[0])
    link(future.outputs[0], either.inputs[1])
    delete = nodes.new("GeometryNodeDeleteGeometry")
    delete.domain = "FACE"
    link(gin.outputs["Geometry"], delete.inputs["Geometry"])
    link(either.outputs[0], delete.inputs["Selection"])
    link(delete.outputs["Geometry"], gout.inputs["Geometry"])
    for k, node in enumerate((gin, frame, age, too_old, either, delete, gout)):
        node.location = (k * 200 - 600, 0)
    now.location = (-400, 200)
    minus_one.location = (-200, -200)
    future.location = (0, 200)
    return ng


def data_material() -> bpy.types.Material:
    """Shows ``s2m_color`` in Cycles/EEVEE (Workbench reads the attribute itself)."""
    mat = bpy.data.materials.get(MATERIAL)
    if mat is not None:
        return mat
    mat = bpy.data.materials.new(MATERIAL)
    tree = compat.material_node_tree(mat)
    nodes = tree.nodes
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None) or nodes.new("ShaderNodeBsdfPrincipled")
    out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL"), None) or nodes.new("ShaderNodeOutputMaterial")
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = COLOR_ATTR
    attr.location = (-400, 200)
    tree.links.new(attr.outputs["Color"], bsdf.inputs["Base Color"])
    # A little emission keeps data colours readable whatever the lighting.
    emit = bsdf.inputs.get("Emission Color") or bsdf.inputs.get("Emission")
    if emit is not None:
        tree.links.new(attr.outputs["Color"], emit)
        strength = bsdf.inputs.get("Emission Strength")
        if strength is not None:
            strength.default_value = 0.35
    bsdf.inputs["Roughness"].default_value = 0.7
    tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def label_material() -> bpy.types.Material:
    mat = bpy.data.materials.get(LABEL_MATERIAL)
    if mat is None:
        mat = bpy.data.materials.new(LABEL_MATERIAL)
        mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
        tree = compat.material_node_tree(mat)
        bsdf = next((n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (0.8, 0.8, 0.8, 1.0)
    return mat
