# SPDX-License-Identifier: GPL-3.0-or-later
"""The extension manifest, the pinned per-platform wheel sets and the built zips."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ["linux-x64", "macos-arm64", "windows-x64"]
SPDX_GPL = "SPDX:GPL-3.0-or-later"
PERMISSION_KEYS = {"files", "network", "clipboard", "camera", "microphone"}


def _load_build_tool():
    """tools/build_extension.py as a module (tools/ is not a package)."""
    if "build_extension" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_extension",
                                                      ROOT / "tools" / "build_extension.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_extension"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_extension"]


be = _load_build_tool()


@pytest.fixture(scope="module")
def manifest() -> dict:
    with (ROOT / "blender_manifest.toml").open("rb") as fh:
        return tomllib.load(fh)


def _skip(reason: str) -> None:
    """Skip locally; in CI (which runs `make extension` first) a missing artefact fails."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def _terse_ok(text: str) -> bool:
    """Blender's rule for taglines and permission reasons: ≤64 chars, no trailing punctuation."""
    return 0 < len(text) <= 64 and text == text.strip() and text[-1] not in ".,;:!?"


# --------------------------------------------------------------------------- manifest
def test_manifest_has_the_required_keys_and_values(manifest):
    for key in ("schema_version", "id", "name", "tagline", "version", "type", "maintainer",
                "license", "blender_version_min"):
        assert key in manifest, key
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "step2motion" and manifest["id"].isidentifier()
    assert manifest["name"] == "Step2Motion"
    assert manifest["type"] == "add-on"
    assert manifest["license"] == [SPDX_GPL]
    assert manifest["blender_version_min"] == "4.2.0"
    assert "blender_version_max" not in manifest  # 5.0 is supported
    assert _terse_ok(manifest["tagline"]), manifest["tagline"]
    assert "Bluetooth" in manifest["tagline"]  # there is no Bluetooth permission key to say it


def test_manifest_version_matches_the_package():
    import step2motion_addon

    with (ROOT / "blender_manifest.toml").open("rb") as fh:
        assert tomllib.load(fh)["version"] == step2motion_addon.__version__


def test_permissions_are_known_keys_with_terse_reasons(manifest):
    permissions = manifest["permissions"]
    assert set(permissions) == {"files", "network"}
    assert set(permissions) <= PERMISSION_KEYS
    for key, reason in permissions.items():
        assert _terse_ok(reason), (key, reason)


def test_manifest_platforms_and_wheels_match_the_pins(manifest):
    assert sorted(manifest["platforms"]) == PLATFORMS == be.platforms()
    assert sorted(manifest["wheels"]) == be.manifest_wheels()
    assert be.check_manifest(manifest) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pins_cover_each_platform_and_never_numpy(platform):
    names = {be.normalize(be.wheel_name_version(w)[0]) for w in be.read_pins(platform)}
    assert {"onnxruntime", "flatbuffers", "packaging", "protobuf", "bleak", "typing-extensions",
            "imufusion"} <= names
    assert "numpy" not in names
    backend = {"linux-x64": {"dbus-fast"},
               "windows-x64": {"winrt-runtime", "winrt-windows-devices-bluetooth",
                               "winrt-windows-devices-bluetooth-genericattributeprofile"},
               "macos-arm64": {"pyobjc-core", "pyobjc-framework-corebluetooth",
                               "pyobjc-framework-libdispatch", "pyobjc-framework-cocoa"}}[platform]
    assert backend <= names
    # Each pinned wheel is for this platform (or pure Python), as Blender's build sees it.
    for wheel in be.read_pins(platform):
        tag = wheel[:-4].split("-")[-1]
        assert tag == "any" or platform in _blender_platforms(tag), (platform, wheel)


def _blender_platforms(wheel_platform_tag: str) -> list[str]:
    tool = be.find_blender_ext() if importlib.util.find_spec("bpy") else None
    if tool is None:
        pytest.skip("bpy (which ships blender_ext.py) is not installed")
    spec = importlib.util.spec_from_file_location("blender_ext_for_tests", tool)
    module = sys.modules.get("blender_ext_for_tests")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["blender_ext_for_tests"] = module
        spec.loader.exec_module(module)
    return module.blender_platforms_from_wheel_platform(wheel_platform_tag)


def test_requirement_check_catches_a_missing_dependency(tmp_path):
    """The closure check is what keeps the pins honest: drop a dependency, it must complain."""
    wheels = _cached_wheels("linux-x64")
    without = [p for p in wheels if not p.name.startswith("typing_extensions-")]
    problems = be.check_requirements("linux-x64", without)
    assert any("typing-extensions" in p or "typing_extensions" in p for p in problems), problems
    assert be.check_requirements("linux-x64", wheels) == []


# --------------------------------------------------------------------------- built artefacts
def _cached_wheels(platform: str) -> list[Path]:
    paths = [be.wheel_path(platform, w) for w in be.read_pins(platform)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        _skip(f"{platform} wheels not downloaded (run `make extension`); missing {missing[0]}")
    return paths


def _built_zip(platform: str) -> Path:
    path = be.DIST_DIR / be.zip_name(be.load_manifest(), platform)
    if not path.is_file():
        _skip(f"{path.relative_to(ROOT)} not built (run `make extension`)")
    return path


@pytest.mark.parametrize("platform", PLATFORMS)
def test_cached_wheel_set_is_complete_for_its_platform(platform):
    assert be.check_requirements(platform, _cached_wheels(platform)) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_built_zip_holds_manifest_package_and_only_its_wheels(platform):
    with zipfile.ZipFile(_built_zip(platform)) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode("utf-8"))
    assert "__init__.py" in names and "blender_manifest.toml" in names  # zip root = extension root
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    zipped_wheels = sorted(n for n in names if n.startswith("wheels/"))
    assert zipped_wheels == sorted(f"wheels/{w}" for w in be.read_pins(platform))
    assert manifest["build"]["generated"]["platforms"] == [platform]
    assert sorted(manifest["build"]["generated"]["wheels"]) == [f"./{w}" for w in zipped_wheels]
    assert manifest["version"] == be.addon_version()


# --------------------------------------------------------------------------- offline install
@pytest.mark.slow
def test_linux_wheel_set_installs_offline_and_imports(tmp_path):
    """Blender's view of the wheels: a fresh Python with only numpy (Blender's) preinstalled."""
    if not all(be.wheel_path("linux-x64", w).is_file() for w in be.read_pins("linux-x64")):
        result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_extension.py"),
                                 "--platform", "linux-x64"], capture_output=True, text=True)
        if result.returncode != 0:
            _skip("linux-x64 wheels are not cached and could not be downloaded: "
                        + result.stderr.strip()[-300:])
    cache = be.CACHE_DIR / "linux-x64"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Stand-in for Blender's bundled numpy: this interpreter's numpy, and nothing else from it.
    import numpy

    numpy_dir = tmp_path / "blender_numpy"
    numpy_dir.mkdir()
    src = Path(numpy.__file__).parent.parent
    for entry in src.iterdir():
        if entry.name == "numpy" or entry.name.startswith(("numpy-", "numpy.libs")):
            (numpy_dir / entry.name).symlink_to(entry)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "blender_numpy.pth").write_text(str(numpy_dir) + "\n")

    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(cache), PIP_CONFIG_FILE=os.devnull,
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    install = subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--find-links", str(cache),
                              "onnxruntime", "bleak", "imufusion"],
                             capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run([str(py), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    code = ("import onnxruntime, bleak, imufusion, numpy, sys\n"
            "for m in (onnxruntime, bleak, imufusion): assert m.__file__.startswith(sys.prefix), m\n"
            "assert 'CPUExecutionProvider' in onnxruntime.get_available_providers()\n"
            "ahrs = imufusion.Ahrs()\n"
            "print(onnxruntime.__version__, numpy.__version__)\n")
    run = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == ["1.31.1", numpy.__version__]
