# SPDX-License-Identifier: GPL-3.0-or-later
"""Registration of the Blender side, and the import operator on good and bad files."""

from __future__ import annotations

import types

import pytest

bpy = pytest.importorskip("bpy")

import step2motion_addon  # noqa: E402
from step2motion_addon import blender  # noqa: E402
from step2motion_addon.blender import import_op, panel  # noqa: E402
from step2motion_addon.core.formats import save_take  # noqa: E402
from step2motion_addon.core.synthetic import synthetic_walk  # noqa: E402


def _ours():
    return [cls for module in blender.MODULES for cls in module.classes]


@pytest.fixture
def registered(empty_scene):
    step2motion_addon.register()
    yield
    step2motion_addon.unregister()


def test_register_unregister_reregister_leaves_nothing(empty_scene):
    for _ in range(2):
        step2motion_addon.register()
        assert all(cls.is_registered for cls in _ours())
        assert "step2motion_take" in dir(bpy.ops.import_scene)
        assert panel._legend_follows_range in bpy.app.handlers.depsgraph_update_post
        draw_funcs = getattr(bpy.types.TOPBAR_MT_file_import, "_dyn_ui_initialize", lambda: [])()
        assert import_op.menu_func_import in draw_funcs            # File > Import > Insole Recording
        assert bpy.types.FileHandler.bl_rna_get_subclass_py("IO_FH_step2motion_take") is not None
        step2motion_addon.unregister()
        assert not any(cls.is_registered for cls in _ours())
        assert not hasattr(bpy.types, "IMPORT_SCENE_OT_step2motion_take")
        assert not hasattr(bpy.types, "VIEW3D_PT_step2motion_take")
        assert panel._legend_follows_range not in bpy.app.handlers.depsgraph_update_post
        draw_funcs = getattr(bpy.types.TOPBAR_MT_file_import, "_dyn_ui_initialize", lambda: [])()
        assert import_op.menu_func_import not in draw_funcs


def test_preferences_keyed_by_top_level_package():
    from step2motion_addon.blender import preferences
    assert preferences.ADDON_ID == "step2motion_addon"
    assert preferences.STEP2MOTION_AddonPreferences.bl_idname == "step2motion_addon"
    path = preferences.user_data_dir()       # not an extension here: a temp folder, never the package
    assert path and "step2motion_addon" not in path


def test_operator_imports_a_take(registered, tmp_path):
    path = tmp_path / "walk.s2m"
    take = synthetic_walk(duration=4.0, seed=5)
    save_take(take, str(path))
    assert bpy.ops.import_scene.step2motion_take(filepath=str(path), fps=25.0, trace_length=7) == {"FINISHED"}
    insoles = {ob["s2m_side"]: ob for ob in bpy.data.objects if ob.get("s2m_role") == "insole"}
    assert sorted(insoles) == ["left", "right"]
    scene = bpy.context.scene
    assert scene.render.fps == 25 and scene.frame_end == 1 + int(take.duration * 25 + 1e-6)
    root = next(ob for ob in bpy.data.objects if ob.get("s2m_role") == "take")
    assert root["s2m_trace_length"] == 7 and root["s2m_file"] == str(path)


@pytest.mark.parametrize("name, content, expected", [
    ("garbage.txt", "hello\nworld\n", "garbage.txt:1"),
    ("empty.csv", "", "empty.csv"),
    ("broken.s2m", "not a database", "broken.s2m"),
    ("missing.txt", None, "missing.txt"),
])
def test_operator_bad_file_cancels_with_one_line_message(registered, tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    before = len(bpy.data.objects)
    # Blender turns an operator's ERROR report into RuntimeError for Python callers;
    # the operator itself returned CANCELLED (nothing was created).
    with pytest.raises(RuntimeError) as err:
        bpy.ops.import_scene.step2motion_take(filepath=str(path))
    message = str(err.value).strip()
    assert expected in message and "Traceback" not in message
    assert len(message.splitlines()) == 1
    assert len(bpy.data.objects) == before


def test_file_handler_takes_what_the_loader_reads_and_only_in_the_viewport(registered):
    fh = import_op.IO_FH_step2motion_take
    assert fh.bl_import_operator == import_op.IMPORT_SCENE_OT_step2motion_take.bl_idname
    assert set(fh.bl_file_extensions.split(";")) == {".txt", ".csv", ".s2m"}
    # No window in a bpy-module process: a drop outside a 3D viewport is refused.
    assert not fh.poll_drop(bpy.context)


class _Layout:
    """Records what a panel draws (a bpy-module process has no window to draw into)."""

    def __init__(self, log):
        self.log, self.use_property_split, self.active, self.enabled = log, False, True, True

    def _sub(self, *a, **k):
        return _Layout(self.log)
    row = column = box = split = _sub

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def prop(self, data, name, **kw):
        if name.startswith('["'):
            assert name[2:-2] in data.keys(), name        # the custom property the drivers read
        else:
            assert name in data.bl_rna.properties, name
        self.log.append(("prop", kw.get("text", name)))

    def operator(self, idname, **kw):
        group, name = idname.split(".")
        assert name in dir(getattr(bpy.ops, group)), idname
        self.log.append(("op", idname))

    def separator(self, **kw):
        pass


def _draw_take_panel():
    log = []
    p = types.SimpleNamespace(layout=_Layout(log))
    panel.VIEW3D_PT_step2motion_take.draw(p, bpy.context)
    return log


def test_take_panel_shows_the_summary_and_the_options_of_the_imported_take(registered, tmp_path):
    assert ("op", "import_scene.step2motion_take") in _draw_take_panel()     # empty scene: offers the import
    path = tmp_path / "walk.s2m"
    save_take(synthetic_walk(duration=3.0, seed=2), str(path))
    assert bpy.ops.import_scene.step2motion_take(filepath=str(path)) == {"FINISHED"}
    log = _draw_take_panel()
    labels = [t for kind, t in log if kind == "label"]
    assert "walk.s2m" in labels and any(t.startswith("Duration: 3.0 s") for t in labels)
    assert any(t.startswith("Peak force left:") for t in labels)
    props = [t for kind, t in log if kind == "prop"]
    assert props == ["Colour Range", "Show Trace", "Trace Length", "Show Arrows", "Arrow Scale (m/kN)"]
    assert ("op", "step2motion.peak_frame") in log
