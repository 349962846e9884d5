"""`sync-server --self-test` and `fieldapp --self-test` from the source tree (the virtual
environment): the same code the bundles run (tests/test_bundles.py runs it there), kept
working here even when no bundle was built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.system, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIVY_NO_ARGS": "1", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def test_the_server_self_test_serves_accepts_a_push_and_stops(tmp_path):
    result = run("sync_server.cli", "--self-test", tmp_path=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "household of 6 accepted and stored" in result.stdout
    assert "/login (pt)" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working folder


def test_the_app_self_test_draws_and_saves_a_household_and_keeps_its_screenshots(tmp_path):
    shots = tmp_path / "shots"

    result = run(
        "fieldapp", "--self-test", "--self-test-screenshots", str(shots), tmp_path=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "household of 6 finalized, queued for sync" in result.stdout
    assert sorted(p.name for p in shots.iterdir()) == ["selftest-form.png", "selftest-home.png"]
    # The real user data folder was never touched: the self-test uses a temporary one.
    assert not (tmp_path / ".local" / "share" / "displacement-field-kit").exists()


def test_the_android_source_folder_holds_everything_the_app_needs(tmp_path):
    """What build_specs/buildozer.spec packages: main.py and copies of the packages. Run
    from there, the app must use those copies (not this checkout) and pass its self-test."""
    source = tmp_path / "android-src"
    subprocess.run(["bash", str(ROOT / "scripts" / "android-src.sh"), str(source)], check=True)
    env = {**os.environ, "KIVY_NO_ARGS": "1", "HOME": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "main.py", "--self-test"], cwd=source, env=env, capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"code from {source}" in result.stdout
    assert not (source / "sync_server").exists()  # the tablet never carries the server
