"""Starting things tells the truth (issue #9, "Why" 4): `make run`, `python -m fieldapp`
and the `sync-server` commands stop with one clear sentence when something is wrong,
never a traceback, a black window or a success message for something that failed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sync_helpers import ROOT, cli, free_port

pytestmark = [pytest.mark.system, pytest.mark.slow]

NO_DISPLAY = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
NO_DISPLAY.pop("FIELDAPP_OFFSCREEN", None)
OFFSCREEN = {**NO_DISPLAY, "FIELDAPP_OFFSCREEN": "1"}


def fieldapp(*args: str, env=OFFSCREEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldapp", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_fieldapp_refuses_a_window_size_it_cannot_use():
    message = one_sentence(fieldapp("--size", "big"))
    assert "expected WIDTHxHEIGHT in pixels, such as 1280x800, not 'big'" in message


def test_fieldapp_without_a_display_says_so(tmp_path):
    result = fieldapp("--data-dir", str(tmp_path / "tablet"), env=NO_DISPLAY)
    assert one_sentence(result).startswith("fieldapp: No display found")


def test_fieldapp_refuses_a_data_folder_that_is_a_file(tmp_path):
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    assert one_sentence(fieldapp("--data-dir", str(target))) == (
        f"fieldapp: The data folder {target} is a file, not a folder: choose another."
    )


def test_one_app_per_data_folder(tmp_path):
    data_dir = tmp_path / "tablet"
    first = subprocess.Popen(
        [sys.executable, "-m", "fieldapp", "--data-dir", str(data_dir), "--enumerator", "E"],
        env=OFFSCREEN,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        lock = data_dir / "fieldapp.lock"
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        message = one_sentence(fieldapp("--data-dir", str(data_dir)))
        assert message == (
            f"fieldapp: The app is already open on {data_dir} (process {first.pid}): use that "
            "window, or close it before starting another."
        )
    finally:
        first.terminate()
        first.wait(timeout=30)
    # The lock goes with the process: the next start is allowed.
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-m", "fieldapp", "--data-dir", str(data_dir)],
            env=OFFSCREEN,
            capture_output=True,
            timeout=8,
        )


# --- sync-server ---------------------------------------------------------------------


def server_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(data_dir, *args, check=False)


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory) -> Path:
    """A server database made by `serve --init`, as a coordinator would."""
    data_dir = tmp_path_factory.mktemp("district") / "server"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync_server.cli",
            "serve",
            "--init",
            "--data-dir",
            str(data_dir),
            "--port",
            str(free_port()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (data_dir / "sync.db").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    process.terminate()
    process.wait(timeout=30)
    return data_dir


def test_enroll_accepts_only_gazetteer_districts_and_names_the_nearest(server_dir):
    result = server_cli(server_dir, "enroll", "--enumerator", "E", "--district", "banana")
    assert "unknown district 'banana'" in one_sentence(result)
    result = server_cli(server_dir, "enroll", "--enumerator", "E", "--district", "Namacura")
    assert "Nearest: MZ1120 (Namacurra)" in one_sentence(result)
    result = server_cli(server_dir, "coordinator", "--name", "C", "--district", "MZ112")
    assert "MZ1120 (Namacurra)" in one_sentence(result)


def test_enroll_accepts_only_the_district_s_gazetteer_sites(server_dir):
    args = ("enroll", "--enumerator", "E", "--district", "MZ1120", "--site")
    assert "unknown site 'NOPE' in district MZ1120. Nearest: MOZ-ZAM-0001" in one_sentence(
        server_cli(server_dir, *args, "NOPE")
    )
    assert "is in district MZ1103, not MZ1120" in one_sentence(
        server_cli(server_dir, *args, "MOZ-ZAM-0003")
    )
    ok = server_cli(server_dir, *args, "MOZ-ZAM-0001")
    assert ok.returncode == 0 and "Enrollment code:" in ok.stdout


def test_commands_refuse_a_missing_database_instead_of_creating_one(tmp_path):
    typo = tmp_path / "sync-dta"
    result = server_cli(typo, "enroll", "--enumerator", "E", "--district", "MZ1120")
    assert one_sentence(result) == (
        f"sync-server enroll: there is no sync server database in {typo}: check --data-dir, "
        f"or create one with `sync-server serve --init --data-dir {typo}`."
    )
    assert not typo.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for command in (["serve"], ["revoke", "--device", "x"], ["publish-form", "f.xlsx"]):
        result = server_cli(a_file, *command)
        assert one_sentence(result).endswith(f"--data-dir {a_file} is a file, not a folder.")


def test_revoke_accepts_the_short_device_id_shown_on_the_tablet(tmp_path):
    from tests.sync_helpers import running_server

    with running_server(tmp_path / "district") as server:
        device_id, _token = server.enroll()
        result = server_cli(server.data_dir, "revoke", "--device", device_id[:8])
        assert result.returncode == 0, result.stderr
        assert "Revoked 1" in result.stdout
        revoked = server.query("SELECT revoked_at FROM accounts WHERE account_id = ?", (device_id,))
        assert revoked[0]["revoked_at"]


# --- make run ------------------------------------------------------------------------


def run_demo(tmp_path: Path, port: int, env=OFFSCREEN) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run-demo.sh")],
        env={**env, "PORT": str(port), "DEMO_DIR": str(tmp_path / "demo")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_make_run_without_a_display_says_so_and_starts_nothing(tmp_path):
    code, out, err = finished(run_demo(tmp_path, free_port(), env=NO_DISPLAY))
    assert code == 1 and out == ""
    assert err.startswith("make run: no display found (DISPLAY is not set)")
    assert not (tmp_path / "demo" / "server.log").exists()


def test_make_run_on_a_busy_port_says_so_and_how_to_choose_another(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = finished(run_demo(tmp_path, port))
    assert code == 1 and "sync server:" not in out
    assert err.strip() == (
        f"make run: port {port} is already in use by another program: choose another, "
        "e.g. PORT=8010 make run"
    )


def test_make_run_shows_the_server_log_when_the_server_does_not_start(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "server").write_text("not a folder")
    code, out, err = finished(run_demo(tmp_path, free_port()))
    assert code == 1 and "sync server:" not in out and "enrolled" not in out
    assert "the sync server did not start; the last lines of" in err
    assert "is a file, not a folder" in err


def test_make_run_one_demo_per_folder_and_ctrl_c_stops_both(tmp_path):
    port = free_port()
    first = run_demo(tmp_path, port)
    try:
        line = first.stdout.readline()
        assert line.startswith(f"sync server: http://127.0.0.1:{port}"), first.stderr.read()
        assert "enrollment code" in first.stdout.readline()
        log_before = (tmp_path / "demo" / "server.log").read_text()

        code, out, err = finished(run_demo(tmp_path, free_port()))
        assert code == 1 and out == ""
        assert err.startswith("make run: a demo is already running on")
        assert (tmp_path / "demo" / "server.log").read_text().startswith(log_before)

        lock = tmp_path / "demo" / "tablet" / "fieldapp.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        app_pid = int(lock.read_text())
        os.kill(first.pid, signal.SIGINT)  # Ctrl-C
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    with pytest.raises(ConnectionRefusedError), socket.socket() as probe:
        probe.connect(("127.0.0.1", port))  # the server is gone
    deadline = time.monotonic() + 30
    while Path(f"/proc/{app_pid}").exists():
        assert time.monotonic() < deadline, "the app kept running after Ctrl-C"
        time.sleep(0.2)
