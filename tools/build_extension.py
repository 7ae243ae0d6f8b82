# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the Blender extension zips, one per platform, with their Python wheels.

    python tools/build_extension.py [--platform linux-x64 ...] [--offline] [--sync-manifest]

Steps per platform:
1. read the pinned wheel filenames from ``tools/wheels/<platform>.txt``;
2. download the missing ones into ``wheels/<platform>/`` (gitignored cache) with
   ``pip download --no-deps`` and that platform's tags (pip resolving markers for
   the build host would pick wrong dependencies for the other platforms);
3. check every ``Requires-Dist`` of every wheel, evaluated for the target
   platform and CPython 3.11, is in the set (numpy excepted: Blender ships it);
4. stage ``blender_manifest.toml`` (restricted to the platform and its wheels)
   + the add-on package + the wheels in ``build/extension/<platform>/``, and the
   trained model sets of the top-level ``models/`` (each folder with a
   ``model_set.json``) as ``<extension root>/models/<set>/``: the runtime
   models only (pose, its condition encoder, root, IMU→pressure; the baseline
   regressors stay out), where ``find_model_set`` looks first;
5. run Blender's own ``blender_ext.py build --split-platforms`` into ``dist/``
   and ``blender_ext.py validate`` on the zip.

Staging one platform at a time keeps pure-Python wheels of one platform (the
``winrt-*`` ones are ``py3-none-any``) out of the other platforms' zips.
"""

from __future__ import annotations

import argparse
import email.parser
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON_DIR = ROOT / "step2motion_addon"
PIN_DIR = ROOT / "tools" / "wheels"
CACHE_DIR = ROOT / "wheels"
STAGE_DIR = ROOT / "build" / "extension"
DIST_DIR = ROOT / "dist"
MODELS_DIR = ROOT / "models"
# Models the add-on runs; the baselines (mlp, transformer) are for evaluation only.
RUNTIME_MODELS = ("pose", "pose_cond", "root", "pressure")
MODEL_SET_FILE = "model_set.json"

PYTHON_VERSION = "3.11"  # Blender 4.2 LTS to 5.0 embed CPython 3.11

# pip tags per Blender platform. pip does not expand manylinux_2_28 to older
# manylinux tags, so the linux list names them.
PIP_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64"],
}

# Environment markers of each target, for evaluating Requires-Dist.
MARKER_ENV = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                  "platform_machine": "x86_64"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                    "platform_machine": "AMD64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                    "platform_machine": "arm64"},
}

# Provided by Blender itself; bundling numpy would shadow Blender's build.
PROVIDED_BY_BLENDER = {"numpy"}

# Imports each platform's zip must make work (module names, not distributions).
REQUIRED_IMPORTS = ("onnxruntime", "bleak", "imufusion")


class BuildError(RuntimeError):
    pass


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise BuildError(f"{filename}: not a wheel filename (name-version-python-abi-platform.whl)")
    return parts[0], parts[1]


def read_pins(platform: str) -> list[str]:
    path = PIN_DIR / f"{platform}.txt"
    if not path.is_file():
        raise BuildError(f"{path}: no pinned wheel list for platform {platform!r}")
    pins = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            wheel_name_version(line)
        except BuildError as ex:
            raise BuildError(f"{path}:{number}: {ex}") from None
        pins.append(line)
    return pins


def platforms() -> list[str]:
    return sorted(p.stem for p in PIN_DIR.glob("*.txt"))


def manifest_wheels() -> list[str]:
    """The repository manifest lists the union of every platform's wheels."""
    return sorted({f"./wheels/{w}" for p in platforms() for w in read_pins(p)})


def wheel_path(platform: str, filename: str) -> Path:
    return CACHE_DIR / platform / filename


def download(platform: str, offline: bool) -> list[Path]:
    pins = read_pins(platform)
    missing = [w for w in pins if not wheel_path(platform, w).is_file()]
    if missing and offline:
        raise BuildError(f"{platform}: {len(missing)} wheels not cached in {CACHE_DIR / platform} "
                         f"and --offline given (first: {missing[0]})")
    if missing:
        dest = CACHE_DIR / platform
        dest.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--no-deps", "--python-version", PYTHON_VERSION,
               "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
               "--dest", str(dest)]
        for tag in PIP_PLATFORMS[platform]:
            cmd += ["--platform", tag]
        cmd += ["==".join(wheel_name_version(w)) for w in missing]
        print(f"[{platform}] downloading {len(missing)} wheels", flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"{platform}: pip download failed:\n{result.stderr.strip()[-2000:]}")
        still = [w for w in missing if not wheel_path(platform, w).is_file()]
        if still:
            got = sorted(p.name for p in dest.glob("*.whl") if p.name not in pins)
            raise BuildError(f"{platform}: pip fetched other files than pinned; missing {still}, "
                             f"unexpected {got}")
    return [wheel_path(platform, w) for w in pins]


def wheel_metadata(path: Path):
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if len(names) != 1:
            raise BuildError(f"{path.name}: expected one .dist-info/METADATA, found {names}")
        return email.parser.BytesParser().parsebytes(zf.read(names[0]), headersonly=True)


def wheel_top_level_modules(path: Path) -> set[str]:
    """Importable top-level names a wheel provides (packages and extension modules)."""
    tops = set()
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            head = name.split("/", 1)[0]
            if head.endswith((".dist-info", ".data")) or head.endswith("-stubs"):
                continue
            tops.add(head.split(".", 1)[0] if "/" not in name else head)
    return tops


def check_requirements(platform: str, paths: list[Path]) -> list[str]:
    """Problems with the wheel set: unmet Requires-Dist, duplicates, missing imports."""
    from packaging.markers import Marker  # noqa: PLC0415 (build-time only)
    from packaging.requirements import Requirement

    env = {"python_version": PYTHON_VERSION, "python_full_version": PYTHON_VERSION + ".9",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": "", **MARKER_ENV[platform]}
    problems: list[str] = []
    have: dict[str, str] = {}
    requires: list[tuple[str, str]] = []
    for path in paths:
        meta = wheel_metadata(path)
        name = normalize(meta["Name"])
        if name in have:
            problems.append(f"{platform}: {name} bundled twice ({have[name]}, {meta['Version']})")
        have[name] = meta["Version"]
        for req in meta.get_all("Requires-Dist") or []:
            requires.append((path.name, req))
    for owner, text in requires:
        req = Requirement(text)
        if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
            continue
        name = normalize(req.name)
        if name in PROVIDED_BY_BLENDER:
            continue
        if name not in have:
            problems.append(f"{platform}: {owner} requires {text!r}, not in tools/wheels/{platform}.txt")
        elif not req.specifier.contains(have[name], prereleases=True):
            problems.append(f"{platform}: {owner} requires {text!r}, pinned {name} {have[name]}")
    provided = set().union(*(wheel_top_level_modules(p) for p in paths))
    for module in REQUIRED_IMPORTS:
        if module not in provided:
            problems.append(f"{platform}: no wheel provides the module {module!r}")
    for name in PROVIDED_BY_BLENDER:
        if name in have:
            problems.append(f"{platform}: {name} must not be bundled (Blender ships it)")
    return problems


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_value(value) -> str:
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise BuildError(f"manifest value of type {type(value).__name__} is not supported")


def dump_manifest(data: dict) -> str:
    """Minimal TOML writer for the manifest's shape: strings, lists, one level of tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, items in ((k, v) for k, v in data.items() if isinstance(v, dict)):
        lines += ["", f"[{table}]"] + [f"{k} = {toml_value(v)}" for k, v in items.items()]
    return "\n".join(lines) + "\n"


def load_manifest() -> dict:
    with MANIFEST.open("rb") as fh:
        return tomllib.load(fh)


def addon_version() -> str:
    text = (ADDON_DIR / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise BuildError(f"{ADDON_DIR / '__init__.py'}: no __version__ = \"...\" line")
    return match.group(1)


def check_manifest(data: dict) -> list[str]:
    problems = []
    if data.get("version") != addon_version():
        problems.append(f"blender_manifest.toml version {data.get('version')!r} != "
                        f"step2motion_addon.__version__ {addon_version()!r}")
    if sorted(data.get("wheels", [])) != manifest_wheels():
        problems.append("blender_manifest.toml wheels differ from tools/wheels/*.txt "
                        "(run tools/build_extension.py --sync-manifest)")
    if sorted(data.get("platforms", [])) != platforms():
        problems.append(f"blender_manifest.toml platforms {data.get('platforms')} != {platforms()}")
    return problems


def sync_manifest() -> None:
    """Rewrite the manifest's wheels array from the pin files, keeping the rest of the text."""
    text = MANIFEST.read_text(encoding="utf-8")
    block = "wheels = [\n" + "".join(f"  {toml_string(w)},\n" for w in manifest_wheels()) + "]"
    new, count = re.subn(r"^wheels = \[.*?^\]", block, text, count=1, flags=re.M | re.S)
    if count != 1:
        raise BuildError(f"{MANIFEST}: no 'wheels = [' ... ']' block to rewrite")
    MANIFEST.write_text(new, encoding="utf-8")


def find_blender_ext() -> Path:
    """blender_ext.py ships inside the bpy wheel; plain Python runs it."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("bpy is not installed in this Python: cannot find blender_ext.py")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise BuildError("blender_ext.py not found inside the bpy package")


def stage(platform: str, wheels: list[Path], manifest: dict) -> Path:
    root = STAGE_DIR / platform
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(ADDON_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    (root / "wheels").mkdir()
    for path in wheels:
        shutil.copy2(path, root / "wheels" / path.name)
    staged = dict(manifest, platforms=[platform], wheels=[f"./wheels/{p.name}" for p in wheels])
    (root / "blender_manifest.toml").write_text(dump_manifest(staged), encoding="utf-8")
    if (root / "models").exists():
        raise BuildError(f"{ADDON_DIR / 'models'} exists: model sets belong in {MODELS_DIR}")
    stage_models(root)
    return root


def model_sets(models_dir: Path = None) -> list[Path]:
    """Folders of ``models/`` holding a model set (``model_set.json``)."""
    models_dir = MODELS_DIR if models_dir is None else models_dir
    return sorted(p.parent for p in models_dir.glob(f"*/{MODEL_SET_FILE}")) if models_dir.is_dir() else []


def stage_models(root: Path, models_dir: Path = None) -> list[str]:
    """Copy each model set's runtime ONNX files + metadata into ``root/models/<set>/``; names staged."""
    import json  # noqa: PLC0415

    staged = []
    for src in model_sets(models_dir):
        meta = json.loads((src / MODEL_SET_FILE).read_text(encoding="utf-8"))
        models = {k: v for k, v in meta.get("models", {}).items() if k in RUNTIME_MODELS}
        if "pose" not in models or "pose_cond" not in models:
            raise BuildError(f"{src}: model set without pose.onnx + pose_cond.onnx; not shippable")
        dest = root / "models" / src.name
        dest.mkdir(parents=True)
        for info in models.values():
            if not (src / info["file"]).is_file():
                raise BuildError(f"{src / info['file']}: listed in {MODEL_SET_FILE} but missing")
            shutil.copy2(src / info["file"], dest / info["file"])
        for extra in ("README.md", "LICENSE", "LICENSE.txt", "ACKNOWLEDGEMENTS.md"):
            if (src / extra).is_file():
                shutil.copy2(src / extra, dest / extra)
        meta["models"] = models
        (dest / MODEL_SET_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        staged.append(src.name)
    return staged


def run_blender_ext(tool: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def zip_name(manifest: dict, platform: str) -> str:
    return f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip"


def build(platform: str, offline: bool = False) -> Path:
    manifest = load_manifest()
    problems = check_manifest(manifest)
    wheels = download(platform, offline)
    problems += check_requirements(platform, wheels)
    if problems:
        raise BuildError("\n".join(problems))
    root = stage(platform, wheels, manifest)
    tool = find_blender_ext()
    DIST_DIR.mkdir(exist_ok=True)
    run_blender_ext(tool, "build", "--source-dir", str(root), "--output-dir", str(DIST_DIR),
                    "--split-platforms")
    out = DIST_DIR / zip_name(manifest, platform)
    if not out.is_file():
        raise BuildError(f"blender_ext.py build did not write {out}")
    run_blender_ext(tool, "validate", str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", choices=platforms(),
                        help="build only this platform (repeatable; default: all)")
    parser.add_argument("--offline", action="store_true", help="use cached wheels only")
    parser.add_argument("--sync-manifest", action="store_true",
                        help="rewrite the manifest's wheels list from tools/wheels/*.txt and stop")
    parser.add_argument("--check", action="store_true",
                        help="check manifest/pins consistency and stop (no download)")
    args = parser.parse_args(argv)
    try:
        if args.sync_manifest:
            sync_manifest()
            print(f"updated {MANIFEST.relative_to(ROOT)}")
            return 0
        if args.check:
            problems = check_manifest(load_manifest())
            print("\n".join(problems) or "manifest and pins agree")
            return 1 if problems else 0
        for platform in args.platform or platforms():
            out = build(platform, offline=args.offline)
            size = out.stat().st_size / 1e6
            print(f"[{platform}] {out.relative_to(ROOT)} ({size:.1f} MB) built and validated")
    except BuildError as ex:
        print(f"build_extension: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
