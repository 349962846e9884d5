"""`python -m fieldapp` starts the real app (App.run) and keeps its data where it's told."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fieldapp.store import Store

pytestmark = [pytest.mark.system, pytest.mark.ui]


def test_python_m_fieldapp_starts_on_the_given_data_dir(tmp_path):
    data_dir = tmp_path / "tablet"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fieldapp",
            "--data-dir",
            str(data_dir),
            "--enumerator",
            "ENUM-014",
            "--language",
            "pt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FIELDAPP_OFFSCREEN": "1"},  # no display here: draw offscreen
    )
    try:
        deadline = time.monotonic() + 60
        started = False
        while time.monotonic() < deadline and not started:
            assert process.poll() is None, process.stderr.read()
            if (data_dir / "fieldapp.db").exists():
                with Store(data_dir / "fieldapp.db") as store:
                    started = any(e["action"] == "app-started" for e in store.audit_entries())
            time.sleep(0.3)
        assert started, "the app never reached its home screen"
    finally:
        process.terminate()
        process.wait(timeout=30)
    with Store(data_dir / "fieldapp.db") as store:
        assert store.get_setting("enumerator") == "ENUM-014"
        assert store.get_setting("language") in (None, "pt")
        assert {f["form_id"] for f in store.cached_forms()} == {
            "household_registration",
            "site_check",
            "diaspora_mapping",
        }
