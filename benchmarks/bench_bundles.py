"""The packaged bundles next to the same programs started from the virtual environment.

    .venv/bin/python benchmarks/bench_bundles.py       # builds dist/ first if it is missing

| measure                                  | bundle                     | baseline (same run)      |
| size on disk                             | dist/fieldapp, sync-server | .venv (what it replaces) |
| server cold start: launch -> /health 200 | dist/sync-server serve     | .venv `sync-server serve`|
|   (a new database, then a restart)       |                            |                          |
| app cold start: launch -> window open    | dist/fieldapp --self-test  | .venv `fieldapp ...`     |
|   and home screen drawn                  |                            |                          |

Each start is a new process; the median of RUNS, bundle and venv runs interleaved so both
see the same machine load. DFK_BUNDLE_DIR points at another dist folder.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from sync_server.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(os.environ.get("DFK_BUNDLE_DIR") or ROOT / "dist")
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
RUNS = 3


def folder_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def server_start(command: list[str], data_dir: Path) -> float:
    """Seconds from launching `serve` to its first 200 on /health; the server is stopped."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "serve", "--init", "--data-dir", str(data_dir), "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=data_dir.parent,
    )  # fmt: skip
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} serve exited with {process.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                    return time.perf_counter() - started
            except requests.ConnectionError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=30)


def app_start(command: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds from launching the app's self-test to (window open, home screen drawn)."""
    env = {**os.environ, "KIVY_NO_ARGS": "1", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--self-test"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, cwd=cwd, env=env,
    )  # fmt: skip
    marks: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        for step in ("open the window", "draw the home screen"):
            if line.startswith(f"  ok  {step}"):
                marks[step] = time.perf_counter() - started
    if process.wait(timeout=240) != 0 or len(marks) != 2:
        raise RuntimeError(f"{command[0]} --self-test failed")
    return marks["open the window"], marks["draw the home screen"]


def main() -> None:
    if not all((DIST / name / name).is_file() for name in ("fieldapp", "sync-server")):
        print(f"bundles missing in {DIST}: building them (make bundles)...", flush=True)
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-bundles.sh")],
            check=True,
            cwd=ROOT,
            env={**os.environ, "DIST": str(DIST)},
        )
    server = {"bundle": [str(DIST / "sync-server" / "sync-server")],
              "venv": [str(VENV_PYTHON), "-m", "sync_server.cli"]}  # fmt: skip
    app = {"bundle": [str(DIST / "fieldapp" / "fieldapp")],
           "venv": [str(VENV_PYTHON), "-m", "fieldapp"]}  # fmt: skip

    print("size on disk")
    sizes = {
        "dist/fieldapp": folder_size(DIST / "fieldapp"),
        "dist/sync-server": folder_size(DIST / "sync-server"),
        ".venv (both programs, dev extras)": folder_size(ROOT / ".venv"),
    }
    for name, size in sizes.items():
        print(f"  {name:36s} {size / 1e6:8.1f} MB")

    first: dict[str, list[float]] = {"bundle": [], "venv": []}
    again: dict[str, list[float]] = {"bundle": [], "venv": []}
    window: dict[str, list[float]] = {"bundle": [], "venv": []}
    home: dict[str, list[float]] = {"bundle": [], "venv": []}
    with tempfile.TemporaryDirectory(prefix="bench-bundles-") as folder:
        for run in range(RUNS):
            for kind in ("bundle", "venv"):
                data_dir = Path(folder) / f"{kind}-{run}" / "data"
                data_dir.parent.mkdir(parents=True)
                first[kind].append(server_start(server[kind], data_dir))
                again[kind].append(server_start(server[kind], data_dir))
                opened, drawn = app_start(app[kind], data_dir.parent)
                window[kind].append(opened)
                home[kind].append(drawn)

    print(f"cold start, median of {RUNS} (bundle / venv = ratio)")
    for label, values in (
        ("server, new database -> /health", first),
        ("server, restart -> /health", again),
        ("app -> window open", window),
        ("app -> home screen drawn", home),
    ):
        bundle, venv = statistics.median(values["bundle"]), statistics.median(values["venv"])
        print(f"  {label:34s} {bundle:6.2f} s / {venv:6.2f} s = {bundle / venv:4.2f}")


if __name__ == "__main__":
    sys.exit(main())
