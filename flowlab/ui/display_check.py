"""Can Qt open a window here? Asked before Qt starts: a platform plugin that cannot load makes Qt abort the whole
process (a core dump), which no ``try`` catches. Checked cheaply: the display variables, and whether the X11
plugin's shared libraries load (the dynamic linker names the first one missing)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

APT_LINE = "sudo apt install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1"
HEADLESS = ("Without a window, `flowlab train PRESET.json --steps N --out DIR` and "
            "`flowlab render PRESET.json --out shot.png` still work.")


def _platforms_dir() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"


def display_problem(environ: dict[str, str] | None = None) -> str | None:
    """None when Qt should start; else a few plain lines: what is missing, how to fix it, what works without."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    plugins = _platforms_dir()
    if platform and plugins.is_dir() and not any(plugins.glob(f"libq{platform}.*")) \
            and not any(plugins.glob(f"q{platform}.*")):
        known = sorted(p.name.split(".")[0].removeprefix("libq").removeprefix("q") for p in plugins.iterdir())
        return (f"flowlab: the window cannot open: QT_QPA_PLATFORM={platform} names no Qt platform here "
                f"(there are: {', '.join(known)}).\n{HEADLESS}")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb"):
        return None  # Windows, macOS, Wayland or offscreen: Qt's own checks are enough
    if platform == "" and env.get("WAYLAND_DISPLAY"):
        return None
    if not env.get("DISPLAY"):
        return ("flowlab: the window cannot open: there is no display (DISPLAY is not set: an ssh session or a "
                "container?).\nRun it on a desktop, or over `ssh -X`.\n" + HEADLESS)
    xcb = plugins / "libqxcb.so"
    if xcb.exists():
        try:
            ctypes.CDLL(str(xcb))
        except OSError as e:
            missing = str(e).split(":")[0]
            return (f"flowlab: the window cannot open: Qt's X11 support needs a system library that is missing "
                    f"({missing}).\nOn Debian or Ubuntu: {APT_LINE}\n" + HEADLESS)
    return None
