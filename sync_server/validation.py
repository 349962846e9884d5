"""Re-validating uploaded revisions with the form engine, in worker processes.

Validation is pure-Python CPU work (about 2 ms for a household of six). Run in the server's
own threads it would hold the GIL against the event loop and the database writer, and
every upload would wait for all the others; in a small pool of processes it runs on every
core and the server process stays responsive. With `workers=0` it runs in the calling
thread (simpler to debug, and enough for a handful of tablets).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from forms import Form, FormLoadError, load_form, validate_record
from forms.scope import record_scope

# One job: (form file, answers, language for messages, time the record was saved, the
# device a new record must come from: its deviceid metadata is checked; None for an edit).
Job = tuple[str, dict[str, Any], str | None, dt.datetime, str | None]
# Its outcome: (field-level errors, district, site id); errors None: the form won't load.
Outcome = tuple[list[dict[str, str]] | None, str | None, str | None]

_forms: dict[str, Form | None] = {}
_gazetteers: dict[str, Any] = {}


def _form(path: str) -> Form | None:
    if path not in _forms:
        try:
            _forms[path] = load_form(Path(path))
        except FormLoadError:
            _forms[path] = None
    return _forms[path]


def check(jobs: list[Job]) -> list[Outcome]:
    """Validate each job's answers against exactly that form file (a published version)."""
    outcomes: list[Outcome] = []
    for form_path, answers, language, saved_at, device_id in jobs:
        form = _form(form_path)
        if form is None:
            outcomes.append((None, None, None))
            continue
        result = validate_record(
            form,
            answers,
            language=language,
            now=saved_at,
            device_id=device_id,
            gazetteer=_gazetteer(form_path),
        )
        district, site_id = record_scope(form, answers)
        outcomes.append(([issue.as_dict() for issue in result.errors], district, site_id))
    return outcomes


def _gazetteer(form_path: str) -> Any:
    """The living site list's positions when the form is validated from its live folder
    (`sync_server.sites.live_form_dir` writes sites.json beside it); None: the bundled one."""
    if form_path not in _gazetteers:
        positions = Path(form_path).parent / "sites.json"
        if positions.is_file():
            from forms.geo import default_gazetteer

            rows = json.loads(positions.read_text(encoding="utf-8"))
            _gazetteers[form_path] = default_gazetteer().with_sites(rows)
        else:
            _gazetteers[form_path] = None
    return _gazetteers[form_path]


def warm(paths: list[str]) -> int:
    """Load these forms in a worker before the first upload needs them."""
    return sum(_form(path) is not None for path in paths)


class InlineExecutor(Executor):
    """Runs jobs in the calling thread (workers=0)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


def worker_count(workers: int | None) -> int:
    """How many processes `workers` means: None is one per core, at most 4."""
    return min(os.cpu_count() or 1, 4) if workers is None else workers


def make_executor(workers: int | None) -> Executor:
    """A pool of `worker_count(workers)` processes, or inline for 0."""
    count = worker_count(workers)
    if count == 0:
        return InlineExecutor()
    # spawn, not fork: the server process has threads (writer, event loop) that a fork
    # would copy in an unknown state.
    return ProcessPoolExecutor(
        count,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def _exit_with_parent(parent_pid: int) -> None:
    """A worker whose server died (power cut, kill -9) must not linger: it checks once a
    second that its parent is still the server."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
