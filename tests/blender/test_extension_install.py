# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: the linux-x64 extension zip installs, enables, imports a take, uninstalls.

Exactly what a user does with Get Extensions > Install from Disk, in a fresh
Blender profile (``BLENDER_USER_RESOURCES`` in a temporary folder), through
Blender's own extension operators. The check runs in a child process (see
``_install_helpers``) so the profile and a clean Blender apply.
"""

from __future__ import annotations

import pytest

pytest.importorskip("bpy")

from _install_helpers import (  # noqa: E402
    MODULE, build_tool, linux_zip, run_install_check, skip_or_fail_in_ci)

normalize, read_pins, wheel_name_version = (
    build_tool().normalize, build_tool().read_pins, build_tool().wheel_name_version)

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture(scope="module")
def extension_zip():
    path, reason = linux_zip()
    if path is None:
        skip_or_fail_in_ci(reason)
    return path


@pytest.fixture(scope="module")
def findings(extension_zip, tmp_path_factory):
    """One install/import/uninstall cycle; every test below reads its findings.

    The recording is the extension's own embedded demo take (samples/demo_walk.s2m).
    """
    profile = tmp_path_factory.mktemp("blender_user")
    result = run_install_check(extension_zip, profile)
    result["profile"] = str(profile)
    return result


def _context(findings) -> str:
    return (f"steps reached: {findings.get('steps')}; error: {findings.get('error')}\n"
            f"{findings.get('traceback', '')}\n--- log ---\n{findings.get('log', '')}")


def test_installs_into_the_temporary_profile_and_enables(findings):
    assert findings.get("install") == ["FINISHED"], _context(findings)
    assert findings["user_resources"] == findings["profile"]
    assert findings["enabled"], _context(findings)
    assert findings["module_file"] and findings["module_file"].startswith(findings["profile"]), (
        f"{MODULE} loaded from {findings['module_file']}, not from the installed copy")


def test_bundled_wheels_are_installed_and_importable(findings):
    assert findings.get("wheel_imports"), _context(findings)
    assert findings["ext_site_packages"].startswith(findings["profile"])
    # Every pinned linux wheel was installed by Blender into the extension's site-packages.
    installed = {normalize(k): v for k, v in findings["ext_distributions"].items()}
    pinned = {normalize(n): v for n, v in map(wheel_name_version, read_pins("linux-x64"))}
    assert installed == pinned
    assert all(findings["ext_importable"].values()), findings["ext_importable"]
    assert "numpy" not in installed  # Blender's own numpy is used


def test_import_operator_is_registered(findings):
    assert findings.get("operator") is True, (
        "bpy.ops.import_scene.step2motion_take is not registered by the installed extension\n"
        + _context(findings))


def test_imported_take_animates_the_insoles(findings):
    if not findings.get("operator"):
        pytest.fail("import operator missing, nothing imported\n" + _context(findings))
    assert findings.get("import") == ["FINISHED"], _context(findings)
    assert findings["load_take_from"].startswith(findings["profile"])
    assert findings["insole_sides"] == sorted(findings["take_sides"])
    start, end = findings["frame_range"]
    assert (end - start) / findings["fps"] == pytest.approx(findings["take_duration"], abs=2 / findings["fps"])
    anim = findings["animation"]
    assert anim["compared"] >= 16 * 2 * 5, anim
    assert not anim["mismatches"], anim
    assert anim["max_abs_error"] < 1e-2


def test_installed_extension_reconstructs_the_demo_with_its_shipped_models(findings):
    """Full body from the embedded demo through the installed operator and the zip's own model set."""
    from _install_helpers import ROOT  # noqa: PLC0415
    shipped = sorted(p.parent.name for p in (ROOT / "models").glob("*/model_set.json"))
    if not shipped:
        pytest.skip("no model set in models/ to ship (export one with training.export --out models/<name>)")
    assert findings.get("packaged_model_sets") == shipped, _context(findings)
    assert findings["model_set_found"].startswith(findings["profile"]), findings["model_set_found"]
    assert findings.get("reconstruct") == ["FINISHED"], _context(findings)
    assert findings["character"] and findings["baked_action"] in findings["new_actions"]
    from step2motion_addon.core.motion.skeleton import CANONICAL_JOINTS  # noqa: PLC0415
    assert findings["keyed_bones"] == sorted(CANONICAL_JOINTS)
    assert findings["keyed_frames"] > 30 * 15          # the 18 s demo at 30 fps or more


def test_disable_reenable_and_uninstall_remove_the_extension(findings):
    assert "uninstalled" in findings["steps"], _context(findings)
    assert findings["enabled_after_disable"] is False
    assert findings["operator_after_disable"] is False
    assert findings["operator_after_reenable"] is True
    assert findings["uninstall"] == ["FINISHED"]
    assert findings["files_after_uninstall"] is False
    assert findings["modules_after_uninstall"] == []
    assert findings["enabled_after_uninstall"] is False
    assert findings["operator_after_uninstall"] is False
    assert findings["importable_after_uninstall"] is False
    assert findings["returncode"] == 0, _context(findings)
