# SPDX-License-Identifier: GPL-3.0-or-later
"""A private BlueZ look-alike for BLE tests without radio hardware.

Starts a private ``dbus-daemon`` (Debian package ``dbus``) and, as a separate
process, the PyPI package ``bluezoo`` (a user-space mock of BlueZ's D-Bus API;
GPL-2.0, so it is only ever *run*, never imported or shipped) with several
virtual adapters. bleak's unmodified Linux backend and ``bless`` peripherals
then talk to it through ``DBUS_SYSTEM_BUS_ADDRESS``.

    python tools/ble_test_env.py -- CMD ARGS...   # run CMD inside the environment
    python tools/ble_test_env.py --check          # exit 0 if it can run here

Adapters: hci0 is the central (bleak); hci1, hci2, ... host emulated insoles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def unavailable_reason() -> str | None:
    """Why the environment cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "BLE emulation needs Linux (D-Bus)"
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is absent (apt-get install -y dbus)"
    for module in ("bless", "bleak"):
        try:
            __import__(module)
        except ImportError:
            return f"PyPI package {module} is not installed"
    if _bluezoo_cmd() is None:
        return "PyPI package bluezoo is not installed (run as a separate process only)"
    return None


def _bluezoo_cmd() -> list[str] | None:
    exe = os.path.join(os.path.dirname(sys.executable), "bluezoo")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("bluezoo")
    return [found] if found else None


class BleTestEnv:
    """Context manager: private bus + bluezoo with ``adapters`` adapters."""

    def __init__(self, adapters: int = 3, scan_interval: int = 1, verbose: bool = False):
        self.adapters = adapters
        self.scan_interval = scan_interval
        self.verbose = verbose
        self.dir = None
        self.address = None
        self._procs: list[subprocess.Popen] = []
        self._old_env = None

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        return env

    def __enter__(self) -> "BleTestEnv":
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.dir = tempfile.mkdtemp(prefix="s2m-ble-")
        sock = os.path.join(self.dir, "system_bus_socket")
        cfg = os.path.join(self.dir, "bus.conf")
        with open(cfg, "w") as fh:
            fh.write(_CONFIG.format(socket=sock))
        self.address = f"unix:path={sock}"
        out = None if self.verbose else subprocess.DEVNULL
        self._procs.append(subprocess.Popen(["dbus-daemon", f"--config-file={cfg}", "--nofork", "--nopidfile"],
                                            stdout=out, stderr=out))
        _wait_for(lambda: os.path.exists(sock), 5, "dbus-daemon did not create its socket")
        cmd = _bluezoo_cmd() + ["--auto-enable", "--scan-interval", str(self.scan_interval)]
        if not self.verbose:
            cmd.append("-q")
        for i in range(self.adapters):
            cmd += ["-a", f"00:00:5E:00:53:{i + 1:02X}"]   # documentation-range addresses
        self._procs.append(subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out))
        _wait_for(self._bluez_ready, 10, "bluezoo did not register org.bluez")
        self._old_env = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        return self

    def _bluez_ready(self) -> bool:
        if self._procs[-1].poll() is not None:
            raise RuntimeError(f"bluezoo exited with {self._procs[-1].returncode}")
        r = subprocess.run(["dbus-send", f"--bus={self.address}", "--print-reply", "--dest=org.freedesktop.DBus",
                            "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.bluez"],
                           capture_output=True, text=True) if shutil.which("dbus-send") else None
        if r is None:
            time.sleep(1.0)
            return True
        return "boolean true" in r.stdout

    def __exit__(self, *exc) -> None:
        if self._old_env is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self._old_env
        for p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_for(predicate, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="only say whether it can run here")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    reason = unavailable_reason()
    if args.check:
        print(reason or "ok")
        return 1 if reason else 0
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    cmd = [c for c in args.command if c != "--"] or [os.environ.get("SHELL", "sh")]
    with BleTestEnv(args.adapters, verbose=args.verbose) as env:
        print(f"DBUS_SYSTEM_BUS_ADDRESS={env.address}", file=sys.stderr)
        return subprocess.call(cmd, env=env.env)


if __name__ == "__main__":
    sys.exit(main())
