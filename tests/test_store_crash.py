"""Kill the app mid-autosave, 50 times over: no answer it reported saved is ever lost.

SIGKILL stops the process between any two instructions, the way Android kills an app or a
flat battery stops a tablet, except that the kernel still writes out what SQLite handed it:
this proves the store's transactions are atomic and the file survives, not that the storage
honours fsync (that is what ``synchronous=FULL`` is for).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fieldapp.store import Store

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "helpers" / "autosave_child.py"
KILLS = 50


def complete_lines(output: str) -> list[str]:
    # The kill may land in the middle of a print: a line without its newline doesn't count
    lines = output.split("\n")
    return lines[:-1]


@pytest.mark.slow
def test_answers_reported_saved_survive_sigkill(tmp_path, capsys):
    path = tmp_path / "store.db"
    with Store(path) as store:
        record_id = store.create_draft("household_registration", "2024061201")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    saves = 0
    for kill in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(path), record_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        ready = child.stdout.readline()
        if not ready.startswith("ready"):
            child.kill()
            pytest.fail(f"the child didn't start: {child.communicate()[1]}")
        reported = int(ready.split()[1])
        delay = rng.uniform(0.05, 0.5)
        try:
            child.wait(timeout=delay)
            pytest.fail(f"the child stopped by itself: {child.communicate()[1]}")
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
        output, errors = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, errors
        lines = complete_lines(output)
        if lines:
            reported = int(lines[-1])
        saves += len(lines)

        context = f"kill {kill + 1} (seed {seed}, after {delay:.3f} s, {reported} reported)"
        with Store(path) as store:
            draft = store.draft(record_id)
        missing = [i for i in range(reported) if draft.answers.get(f"a{i}") != i]
        assert missing == [], f"{context}: answers lost: {missing[:10]}"
        # At most the save in flight when the kill came, and never half of one
        assert len(draft.answers) in (reported, reported + 1), context
        assert draft.position == len(draft.answers), context
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        finally:
            conn.close()
    assert saves > KILLS  # the kills landed among saves, not only before the first one
    with capsys.disabled():
        print(f"\n{KILLS} kills after {saves} reported saves; the draft has {reported}+ answers")
