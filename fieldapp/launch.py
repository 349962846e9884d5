"""Checks made before the app window opens, each ending in one clear sentence.

`python -m fieldapp` (and `make run`) must say what is wrong instead of a traceback or a
black window: a window size it can't use, no display to draw on, a data folder that is
a file or can't be written, or another copy of the app already open on the same data
folder (two apps on one database would each believe its own screen).
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path
from typing import IO

OFFSCREEN_ENV = "FIELDAPP_OFFSCREEN"  # "1": run without a display (tests, CI)
LOCK_NAME = "fieldapp.lock"


class LaunchError(Exception):
    """Why the app can't start; the message is one sentence for the person starting it."""


def parse_size(text: str) -> tuple[int, int]:
    """'1280x800' -> (1280, 800); anything else is a LaunchError (argparse shows it)."""
    match = re.fullmatch(r"\s*(\d{3,5})\s*[xX×]\s*(\d{3,5})\s*", text)
    if not match:
        raise LaunchError(f"expected WIDTHxHEIGHT in pixels, such as 1280x800, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def check_display(environ: dict[str, str] | None = None, platform: str = sys.platform) -> None:
    """On Linux, refuse to open an invisible window when there is no display."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get(OFFSCREEN_ENV) == "1" or not platform.startswith("linux"):
        return
    if "ANDROID_ARGUMENT" in environ:  # Kivy's Android launcher
        return
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        raise LaunchError(
            "No display found (DISPLAY is not set): start the app on a desktop or tablet, "
            "or see its screens with `python -m fieldapp.screenshots OUTDIR`."
        )


def prepare_data_dir(path: Path) -> Path:
    """Create the data folder if needed; a LaunchError if it is a file or not writable."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise LaunchError(f"The data folder {path} is a file, not a folder: choose another.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LaunchError(
            f"Cannot create the data folder {path}: {error.strerror or error}."
        ) from None
    if not os.access(path, os.W_OK):
        raise LaunchError(f"The data folder {path} is not writable: choose another.")
    return path


def lock_data_dir(path: Path) -> IO[str]:
    """Hold an exclusive lock on the data folder for as long as the returned file is open.

    The lock is the operating system's (flock): it disappears with the process, even
    after a crash or a power cut, so a stale lock never keeps the app from starting.
    """
    handle = (path / LOCK_NAME).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise LaunchError(
            f"The app is already open on {path} (process {holder}): use that window, or "
            "close it before starting another."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
