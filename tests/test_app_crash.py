"""Kill the app while it fills a form, 50 times: no saved answer is ever lost.

A child process fills a household registration through FormSession (what the screens
call) and reports each answer once the session has saved it. We SIGKILL it at a random
moment, restart, and check that every reported answer is in the draft and that SQLite's
integrity check passes. Each run continues the same draft, like an enumerator whose
tablet keeps dying.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from fieldapp.catalog import FormCatalog
from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from forms.samples import sample_household

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from form_filling_child import operations

CHILD = Path(__file__).parent / "helpers" / "form_filling_child.py"
KILLS = 50

pytestmark = [pytest.mark.system, pytest.mark.slow]


def read_line(process: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    line = process.stdout.readline()
    assert time.monotonic() < deadline, "the child took too long to start"
    return line.strip()


def test_killed_fifty_times_while_filling_a_form_loses_no_saved_answer(tmp_path):
    data_dir = tmp_path / "tablet"
    data_dir.mkdir()
    store = Store(data_dir / "fieldapp.db")
    catalog = FormCatalog(store, data_dir / "forms")
    catalog.install_bundled()
    form = catalog.newest("household_registration")
    record_id = store.create_draft(form.form_id, form.version)
    store.close()

    ops = operations(sample_household(seed=11, members=6))
    rng = random.Random(2026)
    confirmed = 0
    kills = 0
    while kills < KILLS:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(data_dir), record_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = read_line(child)
        assert ready.startswith("ready"), ready
        resumed_at = int(ready.split()[1])
        assert resumed_at >= confirmed, f"lost answers: {confirmed} were saved, {resumed_at} found"
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        output, _ = child.communicate()
        kills += 1
        reported = [int(line) for line in output.split() if line.isdigit()]
        if reported:
            confirmed = max(confirmed, max(reported))
        if "complete" in output:
            # The form got filled before this kill: start a new household in the same store.
            store = Store(data_dir / "fieldapp.db")
            record_id = store.create_draft(form.form_id, form.version)
            store.close()
            confirmed = 0

        with closing(sqlite3.connect(data_dir / "fieldapp.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = Store(data_dir / "fieldapp.db")
        session = FormSession(form, store, record_id)
        for kind, name, index, value in ops[:confirmed]:
            if kind == "answer":
                assert session.value(Slot(form.question(name), index)) == value, (name, index)
        store.close()
    assert kills == KILLS
