"""The packaged bundles (`make bundles`): they run without Python or the source tree.

Every test runs a COPY of the built folders in a fresh temporary folder, with a working
folder, HOME and environment that cannot see this checkout or its virtual environment:
what a logistics officer gets after copying `dist/sync-server/` to a laptop.

The bundles are built by `make bundles` (CI's `.ci/run` builds them first and sets
DFK_REQUIRE_BUNDLES=1, so a missing bundle FAILS there). Run locally without a build, the
module skips with the reason. DFK_BUNDLE_DIR points at another dist folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.system, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = Path(os.environ.get("DFK_BUNDLE_DIR") or ROOT / "dist")
REQUIRED = os.environ.get("DFK_REQUIRE_BUNDLES") == "1"
PROGRAMS = {"fieldapp": "fieldapp", "sync-server": "sync-server"}  # folder: executable
NOBODY = 65534  # runs the permission tests when we are root (root may write anywhere)


@pytest.fixture(scope="module")
def moved() -> Iterator[Path]:
    """Both bundles copied away from the checkout, readable by an unprivileged user."""
    missing = [name for name, exe in PROGRAMS.items() if not (BUNDLE_DIR / name / exe).is_file()]
    if missing:
        reason = f"bundles not built in {BUNDLE_DIR} ({', '.join(missing)}): run `make bundles`"
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="dfk-moved-bundles-"))
    folder.chmod(0o755)
    try:
        for name in PROGRAMS:
            shutil.copytree(BUNDLE_DIR / name, folder / name, symlinks=True)
        (folder / "work").mkdir()
        (folder / "work").chmod(0o777)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_bundle(
    moved: Path,
    program: str,
    *args: str,
    home: Path | None = None,
    unprivileged: bool = False,
    extra_env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Start the moved bundle with nothing of this checkout in reach."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home or moved / "work"),
        "LANG": "C.UTF-8",
        "KIVY_NO_ARGS": "1",
        **(extra_env or {}),
    }
    options = {}
    if unprivileged and os.geteuid() == 0:
        options = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return subprocess.run(
        [str(moved / program / PROGRAMS[program]), *args],
        cwd=moved / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def read_only_folder(parent: Path) -> Path:
    """A folder the program cannot write: root-owned when we are root (the program then
    runs as nobody), mode 555 otherwise."""
    folder = parent / f"read-only-{os.urandom(3).hex()}"
    folder.mkdir()
    folder.chmod(0o755 if os.geteuid() == 0 else 0o555)
    return folder


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The error a person reads: one line on stderr, no usage dump, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr or f"nothing on stderr (stdout: {result.stdout})"
    return lines[0]


def code_folder(output: str) -> Path:
    line = next(line for line in output.splitlines() if "code from" in line)
    return Path(line.split("code from", 1)[1].strip())


@pytest.mark.parametrize("program", ["sync-server", "fieldapp"])
def test_a_moved_bundle_passes_its_self_test_with_its_own_code(moved, program):
    result = run_bundle(moved, program, "--self-test")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    loaded_from = code_folder(result.stdout)
    assert loaded_from.is_relative_to(moved / program), loaded_from
    assert not loaded_from.is_relative_to(ROOT)


def test_the_server_bundle_serves_and_is_refused_a_busy_port_without_writing(moved):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data_dir = moved / "work" / "busy-port-data"

        result = run_bundle(
            moved, "sync-server", "serve", "--init", "--data-dir", str(data_dir),
            "--port", str(port),
        )  # fmt: skip

    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in one_sentence(result)
    assert not data_dir.exists()  # refused before --init created anything


@pytest.mark.parametrize(
    ("program", "args", "said"),
    [
        ("sync-server", ["serve", "--port", "eighty"], "invalid int value: 'eighty'"),
        ("sync-server", ["serve", "--port", "70000"], "--port 70000 is not a port"),
        ("sync-server", ["--no-such-option"], "unrecognized arguments: --no-such-option"),
        ("sync-server", [], "required: COMMAND"),
        ("sync-server", ["enroll", "--enumerator", "Ana", "--district", "MZ1120"],
         "there is no sync server database"),
        ("fieldapp", ["--size", "big"], "expected WIDTHxHEIGHT in pixels"),
        ("fieldapp", ["--language", "fr"], "invalid choice: 'fr'"),
        ("fieldapp", ["--self-test-screenshots", "shots"], "only used with --self-test"),
    ],
)  # fmt: skip
def test_bad_arguments_get_one_clear_sentence_and_a_non_zero_exit(moved, program, args, said):
    result = run_bundle(moved, program, *args)

    assert result.returncode != 0
    assert said in one_sentence(result)


def test_the_server_refuses_a_read_only_data_folder(moved):
    data_dir = read_only_folder(moved / "work")

    result = run_bundle(
        moved, "sync-server", "serve", "--init", "--data-dir", str(data_dir), "--port", free_port(),
        unprivileged=True,
    )  # fmt: skip

    assert result.returncode == 2
    assert f"{data_dir} is read-only" in one_sentence(result)
    assert list(data_dir.iterdir()) == []


def test_the_server_bundle_keeps_its_data_in_the_user_data_folder_by_default(moved):
    """Not in the working folder (on Windows, often the bundle itself): the user's data
    folder. A read-only home makes the program say where it wanted to write."""
    home = read_only_folder(moved / "work")

    result = run_bundle(
        moved,
        "sync-server",
        "serve",
        "--init",
        "--port",
        free_port(),
        home=home,
        unprivileged=True,
    )

    assert result.returncode == 2
    said = one_sentence(result)
    assert f"cannot create {home}/.local/share/dfk-sync-server" in said


def test_the_app_bundle_keeps_its_data_in_the_user_data_folder_and_refuses_a_read_only_one(
    moved,
):
    home = read_only_folder(moved / "work")

    result = run_bundle(
        moved, "fieldapp", home=home, unprivileged=True, extra_env={"FIELDAPP_OFFSCREEN": "1"}
    )

    assert result.returncode == 1
    said = one_sentence(result)
    assert f"Cannot create the data folder {home}/.local/share/displacement-field-kit" in said


def test_the_app_refuses_a_data_folder_it_cannot_write(moved):
    data_dir = read_only_folder(moved / "work")

    result = run_bundle(
        moved, "fieldapp", "--data-dir", str(data_dir), unprivileged=True,
        extra_env={"FIELDAPP_OFFSCREEN": "1"},
    )  # fmt: skip

    assert result.returncode == 1
    assert f"The data folder {data_dir} is not writable" in one_sentence(result)


@pytest.mark.parametrize(
    ("program", "packages"),
    [
        ("fieldapp", ["forms", "fieldapp", "sync_core"]),
        ("sync-server", ["forms", "sync_server", "sync_core"]),
    ],
)
def test_a_bundle_carries_every_data_file_of_its_packages(moved, program, packages):
    """Forms, GeoJSON, Sphere thresholds, kv files, translations, templates, static files,
    the duplicate model: every non-Python file in the source tree, found by walking it, so
    a file added later and missed by the spec fails here."""
    internal = moved / program / "_internal"
    missing = []
    for package in packages:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            if not (internal / relative).is_file():
                missing.append(str(relative))
    assert missing == []
    # Kivy's own data (fonts, shaders, style.kv), where its PyInstaller hook puts it.
    kivy_font = internal / "kivy_install" / "data" / "fonts" / "Roboto-Regular.ttf"
    assert kivy_font.is_file() == (program == "fieldapp")
    if program == "sync-server":
        assert (internal / "fastapi_offline" / "static" / "swagger-ui-bundle.js").is_file()
