# SPDX-License-Identifier: GPL-3.0-or-later
"""Install the built extension zip into a throw-away Blender profile and report what happened.

Two halves:

* test-side helpers (``linux_zip``, ``run_install_check``) used by
  ``test_extension_install.py``;
* the check itself (``main``), which runs in a *separate process* so that
  ``BLENDER_USER_RESOURCES`` is set before Blender starts and the profile is
  clean: ``python _install_helpers.py ...`` with the bpy module, or
  ``blender --background --factory-startup --python _install_helpers.py -- ...``
  inside a real Blender binary (pytest-blender). It prints one JSON line of
  findings; the test asserts on them so failures read as facts, not tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "linux-x64"
MODULE = "bl_ext.user_default.step2motion"
RESULT_PREFIX = "S2M-INSTALL-RESULT "
SAMPLE_IN_PACKAGE = Path("samples") / "demo_walk.s2m"


# --------------------------------------------------------------------------- test side
def skip_or_fail_in_ci(reason: str) -> None:
    """Skip locally; in CI (CI=true) a missing artefact is a failure, never a silent skip."""
    import pytest  # noqa: PLC0415

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def _newest_source_mtime() -> float:
    paths = [ROOT / "blender_manifest.toml", *(ROOT / "tools" / "wheels").glob("*.txt")]
    for path in [*(ROOT / "step2motion_addon").rglob("*"), *(ROOT / "models").rglob("*")]:
        if path.is_file() and "__pycache__" not in path.parts:
            paths.append(path)
    return max(p.stat().st_mtime for p in paths)


def build_tool():
    """tools/build_extension.py as a module (tools/ is not a package)."""
    import importlib.util  # noqa: PLC0415

    if "build_extension" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_extension",
                                                      ROOT / "tools" / "build_extension.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_extension"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_extension"]


def linux_zip(python: str | None = None) -> tuple[Path | None, str]:
    """The linux-x64 extension zip, rebuilt when any source is newer.

    Returns (path, "") or (None, reason to skip) when it cannot be built here
    (no network and no cached wheels, or no blender_ext.py in this Python).
    """
    be = build_tool()
    out = be.DIST_DIR / be.zip_name(be.load_manifest(), PLATFORM)
    if out.is_file() and out.stat().st_mtime >= _newest_source_mtime():
        return out, ""
    cmd = [python or sys.executable, str(ROOT / "tools" / "build_extension.py"), "--platform", PLATFORM]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        text = result.stdout + result.stderr
        if "pip download failed" in text or "not cached" in text or "blender_ext.py" in text:
            return None, f"cannot build the {PLATFORM} extension zip here: {text.strip()[-400:]}"
        raise RuntimeError(f"tools/build_extension.py failed:\n{text}")
    return out, ""


def blender_command(script_args: list[str]) -> list[str]:
    """How to start a clean Blender on this script: bpy module or real binary."""
    import bpy  # noqa: PLC0415

    if bpy.app.binary_path:  # inside a real Blender (pytest-blender)
        return [bpy.app.binary_path, "--background", "--factory-startup", "--python-exit-code", "1",
                "--python", __file__, "--", *script_args]
    return [sys.executable, __file__, *script_args]


def run_install_check(zip_path: Path, profile: Path, sample: Path | None = None,
                      timeout: float = 300.0) -> dict:
    """Run ``main`` in a fresh process with its own Blender user resources."""
    args = ["--zip", str(zip_path)]
    if sample is not None:
        args += ["--sample", str(sample)]
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(profile))
    env.pop("PYTHONPATH", None)  # the installed copy must not see the source tree
    env.pop("STEP2MOTION_MODELS", None)  # nor a model set outside the extension
    result = subprocess.run(blender_command(args), capture_output=True, text=True, env=env,
                            cwd=profile, timeout=timeout, stdin=subprocess.DEVNULL)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        raise AssertionError(f"install check printed no result (rc={result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    findings = json.loads(lines[-1][len(RESULT_PREFIX):])
    findings["returncode"] = result.returncode
    findings["log"] = (result.stdout + result.stderr)[-3000:]
    return findings


# --------------------------------------------------------------------------- Blender side
def _print_result(findings: dict) -> None:
    print(RESULT_PREFIX + json.dumps(findings, default=str), flush=True)


def _insoles(bpy) -> dict:
    return {ob.get("s2m_side"): ob for ob in bpy.data.objects if ob.get("s2m_role") == "insole"}


def _compare_animation(bpy, take, insoles: dict, scene) -> dict:
    """Recorded pressure resampled to a few frames vs the keyed custom properties."""
    import numpy as np  # noqa: PLC0415

    fps = scene.render.fps / scene.render.fps_base
    frames = np.unique(np.linspace(scene.frame_start, scene.frame_end, 9).round().astype(int))
    worst, compared, mismatches = 0.0, 0, []
    for side, stream in take.feet.items():
        ob = insoles.get(side)
        if ob is None or not stream.has_pressure:
            continue
        ok = stream.valid & np.all(np.isfinite(stream.pressure), axis=1)
        t_valid = stream.time[ok]
        for f in frames.tolist():
            scene.frame_set(f)
            t = take.start + (f - scene.frame_start) / fps
            if t < t_valid[0] or t > t_valid[-1]:
                continue
            for c in range(stream.cells):
                expected = float(np.interp(t, t_valid, stream.pressure[ok, c]))
                got = float(ob[f"pressure_{c + 1:02d}"])
                compared += 1
                err = abs(got - expected)
                worst = max(worst, err)
                if err > 1e-3 + 1e-3 * abs(expected) and len(mismatches) < 5:
                    mismatches.append({"side": side, "frame": f, "cell": c + 1,
                                       "got": got, "expected": expected})
    return {"compared": compared, "max_abs_error": worst, "mismatches": mismatches,
            "frames": frames.tolist()}


def main(argv: list[str]) -> int:
    import argparse  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    if "--" in argv:  # real Blender passes its own arguments before "--"
        argv = argv[argv.index("--") + 1:]
    parser = argparse.ArgumentParser()
    parser.add_argument("--zip", required=True)
    parser.add_argument("--sample")
    args = parser.parse_args(argv)
    findings: dict = {"steps": []}
    try:
        _run_checks(args, findings, importlib)
    except Exception as ex:  # report what was reached, then fail the process
        import traceback  # noqa: PLC0415
        findings["error"] = f"{type(ex).__name__}: {ex}"
        findings["traceback"] = traceback.format_exc()[-2000:]
        _print_result(findings)
        return 1
    _print_result(findings)
    return 0


def _run_checks(args, findings: dict, importlib) -> None:
    import bpy  # noqa: PLC0415

    steps = findings["steps"]
    findings["blender_version"] = bpy.app.version_string
    findings["user_resources"] = bpy.utils.resource_path("USER")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default")
    findings["repo_directory"] = repo.directory

    findings["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=args.zip, repo="user_default", enable_on_install=True))
    steps.append("installed")
    findings["enabled"] = MODULE in bpy.context.preferences.addons
    module = sys.modules.get(MODULE)
    findings["module_file"] = getattr(module, "__file__", None)
    findings["operator"] = "step2motion_take" in dir(bpy.ops.import_scene)

    # Bundled wheels land in the extensions' shared site-packages. In a bpy-module
    # process the venv's packages come first on sys.path, so check that folder itself.
    import importlib.machinery  # noqa: PLC0415
    import importlib.metadata  # noqa: PLC0415
    site = bpy.utils.user_resource("EXTENSIONS", path=".local/lib/python{}.{}/site-packages".format(
        *sys.version_info[:2]))
    findings["ext_site_packages"] = site
    findings["ext_distributions"] = {d.metadata["Name"]: d.version
                                     for d in importlib.metadata.distributions(path=[site])}
    findings["ext_importable"] = {
        m: importlib.machinery.PathFinder.find_spec(m, [site]) is not None
        for m in ("onnxruntime", "bleak", "imufusion", "dbus_fast", "google")}
    import onnxruntime, bleak, imufusion  # noqa: E401, PLC0415
    findings["wheel_imports"] = {m.__name__: m.__file__ for m in (onnxruntime, bleak, imufusion)}
    steps.append("wheels imported")

    sample = Path(args.sample) if args.sample else None
    if sample is None and module is not None:
        embedded = Path(module.__file__).parent / SAMPLE_IN_PACKAGE
        if embedded.is_file():
            sample = embedded
    if sample is None:
        raise RuntimeError("no recording to import: no embedded demo sample and no --sample given")
    findings["sample"] = str(sample)

    if findings["operator"]:
        findings["import"] = sorted(bpy.ops.import_scene.step2motion_take(filepath=str(sample)))
        steps.append("imported")
        formats = importlib.import_module(MODULE + ".core.formats")
        findings["load_take_from"] = formats.__file__
        take = formats.load_take(str(sample))
        scene = bpy.context.scene
        insoles = _insoles(bpy)
        findings["insole_sides"] = sorted(k for k in insoles if k)
        findings["take_sides"] = take.sides
        findings["fps"] = scene.render.fps / scene.render.fps_base
        findings["frame_range"] = [scene.frame_start, scene.frame_end]
        findings["take_duration"] = take.duration
        findings["animation"] = _compare_animation(bpy, take, insoles, scene)
        steps.append("compared")
        _reconstruct_check(bpy, findings, importlib, module)

    # Disable, then enable again: both must register/unregister cleanly.
    bpy.ops.preferences.addon_disable(module=MODULE)
    findings["enabled_after_disable"] = MODULE in bpy.context.preferences.addons
    findings["operator_after_disable"] = "step2motion_take" in dir(bpy.ops.import_scene)
    bpy.ops.preferences.addon_enable(module=MODULE)
    findings["operator_after_reenable"] = "step2motion_take" in dir(bpy.ops.import_scene)
    steps.append("disabled and re-enabled")
    # Uninstalling an enabled extension disables it and purges its modules (bl_pkg does
    # this only for enabled ones; a disabled add-on stays in sys.modules by design).
    findings["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(
        repo_directory=repo.directory, pkg_id="step2motion"))
    steps.append("uninstalled")
    findings["files_after_uninstall"] = os.path.exists(os.path.join(repo.directory, "step2motion"))
    findings["modules_after_uninstall"] = sorted(m for m in sys.modules if m.startswith(MODULE))
    findings["enabled_after_uninstall"] = MODULE in bpy.context.preferences.addons
    findings["operator_after_uninstall"] = "step2motion_take" in dir(bpy.ops.import_scene)
    importlib.invalidate_caches()
    findings["importable_after_uninstall"] = importlib.util.find_spec(MODULE) is not None

def _reconstruct_check(bpy, findings: dict, importlib, module) -> None:
    """Reconstruct the imported demo take with the model set shipped inside the extension."""
    packaged = Path(module.__file__).parent / "models"
    findings["packaged_model_sets"] = sorted(p.parent.name for p in packaged.glob("*/model_set.json"))
    findings["reconstruct_operator"] = "reconstruct" in dir(bpy.ops.step2motion)
    if not findings["packaged_model_sets"] or not findings["reconstruct_operator"]:
        return
    recon_op = importlib.import_module(MODULE + ".blender.reconstruct_op")
    bake = importlib.import_module(MODULE + ".blender.bake")
    findings["model_set_found"] = str(recon_op.find_model_set())
    root = next(ob for ob in bpy.context.scene.objects if ob.get("s2m_role") == "take")
    bpy.context.view_layer.objects.active = root
    before = {a.name for a in bpy.data.actions}
    findings["reconstruct"] = sorted(bpy.ops.step2motion.reconstruct())
    arm = next((ob for ob in bpy.data.objects if ob.get("s2m_role") == "character"), None)
    findings["character"] = arm.name if arm else None
    new = [a for a in bpy.data.actions if a.name not in before]
    findings["new_actions"] = [a.name for a in new]
    if arm is not None and arm.animation_data is not None:
        tracks = [t for t in arm.animation_data.nla_tracks if t.strips and not t.mute]
        action = tracks[-1].strips[0].action if tracks else None
        findings["baked_action"] = action.name if action else None
        if action is not None:
            paths = {fc.data_path for fc in bake.action_fcurves(action)}
            findings["keyed_bones"] = sorted({p.split('"')[1] for p in paths if p.startswith("pose.bones[")
                                              and p.endswith("rotation_quaternion")})
            findings["keyed_frames"] = max(len(fc.keyframe_points) for fc in bake.action_fcurves(action))
    findings["steps"].append("reconstructed")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # A real Blender keeps running the script's caller; exit explicitly with the result.
    sys.stdout.flush()
    os._exit(code)
