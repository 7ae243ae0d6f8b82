"""Command line: ``python -m step2motion_addon COMMAND``.

Each command lives in its own module of this package, defining ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``. Commands that need
Blender import ``bpy`` (the PyPI wheel works) inside ``run`` only.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..core.errors import TakeError

# Fixed order as shown in --help; a module that is absent is simply not offered.
COMMANDS = ("info", "import", "simulate", "reconstruct", "live", "emulate")


def _module_name(command: str) -> str:
    return "cmd_" + command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m step2motion_addon",
                                     description="Motion capture from smart insoles.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        try:
            module = importlib.import_module(f".{_module_name(command)}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(_module_name(command)):
                continue
            raise
        p = sub.add_parser(command, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except TakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
