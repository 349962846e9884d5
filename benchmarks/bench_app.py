"""Tablet app speed, next to its targets and to baselines measured in the same run.

    .venv/bin/python benchmarks/bench_app.py

| measure                                   | target       | baseline (same run)              |
| question-screen render, p50/p95           | p95 < 50 ms  | one Kivy Label drawn             |
| autosave per answer (validate + save)     | < 5 ms       | one raw SQLite UPDATE + commit   |
| cold start to the home screen             | < 3 s        | `python -c "import kivy"`        |
| opening the record list, 10,000 records   | —            | store.records() query alone      |

What is timed is the app's own work for a screen: building its widgets, layout, text
rendering and the draw calls, up to the frame being submitted. This machine has no GPU:
Mesa's llvmpipe rasterizes in software and defers it, then bills several frames' worth of
rasterizing (over a second here) to whichever later frame re-uploads a texture still in use
(the "Anterior" button changing colour on the first screen). So the GPU is settled
(`glFinish`) before each timed screen, and one frame's software rasterization is printed on
its own line: a tablet's GPU does that part in a few milliseconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


def cold_start(data_dir: Path) -> tuple[float, float]:
    """Seconds from launching Python to the home screen drawn, and for `import kivy`."""
    probe = (
        "import time, sys; start = float(sys.argv[1]);"
        "from fieldapp.testing import boot, pump;"
        f"app = boot(__import__('pathlib').Path({str(data_dir)!r}), enumerator='E');"
        "assert app.manager.current == 'home'; pump(1);"
        "print(time.time() - start)"
    )
    app_times, kivy_times = [], []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", probe, str(time.time())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        app_times.append(float(out.strip().splitlines()[-1]))
        start = time.time()
        subprocess.run([sys.executable, "-c", "import kivy"], capture_output=True, check=True)
        kivy_times.append(time.time() - start)
    return statistics.median(app_times), statistics.median(kivy_times)


def main() -> None:
    from fieldapp.session import Slot
    from fieldapp.testing import boot, pump
    from forms.samples import sample_household

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        start_s, kivy_s = cold_start(tmp_path / "cold")

        app = boot(tmp_path / "tablet", enumerator="ENUM-014", language="pt")
        from kivy.uix.label import Label

        label_times = []
        for _ in range(50):
            started = time.perf_counter()
            label = Label(text="Quantas pessoas fazem parte do agregado?")
            app.root.current_screen.add_widget(label)
            pump(1)
            app.root.current_screen.remove_widget(label)
            label_times.append(time.perf_counter() - started)

        # Fill a household with 6 members so every screen type has content.
        app.new_record("household_registration")
        session = app.session
        record = sample_household(seed=3, members=6)
        autosave = []
        for name, value in record.items():
            if name == "members":
                continue
            started = time.perf_counter()
            session.set_answer(Slot(session.form.question(name), ()), value)
            autosave.append(time.perf_counter() - started)
        members = session.form.node("members")
        for position, member in enumerate(record["members"]):
            session.add_instance(members)
            for name, value in member.items():
                started = time.perf_counter()
                session.set_answer(Slot(session.form.question(name), (position,)), value)
                autosave.append(time.perf_counter() - started)

        from kivy.graphics.opengl import glFinish

        render, rasterize = [], []
        for _round in range(3):
            for position in range(len(session.steps)):
                session.go_to(position)
                glFinish()  # settle earlier frames' deferred software rasterizing
                started = time.perf_counter()
                app.form_screen.render()
                pump(1)
                render.append(time.perf_counter() - started)
                started = time.perf_counter()
                glFinish()
                rasterize.append(time.perf_counter() - started)

        # The same screens with label-texture sharing off: what the sharing buys, in the
        # same run (the texture cache emptied and kept empty).
        from fieldapp.screens.widgets import SharedTexture

        unshared = []
        limit, SharedTexture.LIMIT = SharedTexture.LIMIT, 0
        SharedTexture._textures.clear()
        for position in range(len(session.steps)):
            session.go_to(position)
            glFinish()
            started = time.perf_counter()
            app.form_screen.render()
            pump(1)
            unshared.append(time.perf_counter() - started)
        SharedTexture.LIMIT = limit

        # Raw SQLite baseline for one autosave: one UPDATE of the same JSON, committed.
        import json
        import sqlite3

        raw = sqlite3.connect(tmp_path / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("CREATE TABLE drafts (id INTEGER PRIMARY KEY, answers TEXT)")
        raw.execute("INSERT INTO drafts VALUES (1, '{}')")
        text = json.dumps(record)
        raw_times = []
        for _ in range(200):
            started = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("UPDATE drafts SET answers = ? WHERE id = 1", [text])
            raw.execute("COMMIT")
            raw_times.append(time.perf_counter() - started)
        store_times = []
        for _ in range(200):
            started = time.perf_counter()
            app.store.save_answers(session.record_id, session.answers)
            store_times.append(time.perf_counter() - started)

        # 10,000 records in the list.
        store = app.store
        form = session.form
        for number in range(10_000):
            record_id = store.create_draft(form.form_id, form.version)
            store.save_answers(record_id, {"n": number}, title=f"Agregado {number:05d} Mussa")
        # 10,000 inserts without drawing a frame left garbage that the app would have
        # collected while idle, and its idle collection (fieldapp/app.py) is overdue: let
        # both happen now, in an idle frame, so neither is timed as opening the list.
        import gc

        gc.collect()
        pump(1)
        glFinish()
        started = time.perf_counter()
        rows = store.records("household_registration", limit=10_000)
        query_s = time.perf_counter() - started
        glFinish()
        started = time.perf_counter()
        app.show_records("household_registration")
        pump(2)
        list_s = time.perf_counter() - started
        shown = len(app.records_screen.ids.list.data)

    print(f"{'measure':48} {'value':>22} {'target':>12} {'baseline (same run)':>34}")
    print(
        f"{'question-screen render p50':48} {ms(percentile(render, 0.5)):>22} {'':>12} "
        f"{'Label drawn: ' + ms(statistics.median(label_times)):>34}"
    )
    render_ratio = percentile(render, 0.95) / statistics.median(label_times)
    print(
        f"{'question-screen render p95':48} {ms(percentile(render, 0.95)):>22} "
        f"{'< 50 ms':>12} {'ratio ' + f'{render_ratio:.1f}x':>34}"
    )
    print(
        f"{'  one frame rasterized in software (llvmpipe), p50':48} "
        f"{ms(percentile(rasterize, 0.5)):>22} {'':>12} {'(no GPU here; not in the above)':>34}"
    )
    print(
        f"{'autosave per answer, validate+save, median':48} "
        f"{ms(statistics.median(autosave)):>22} {'< 5 ms':>12} "
        f"{'raw UPDATE: ' + ms(statistics.median(raw_times)):>34}"
    )
    print(f"{'autosave per answer, validate+save, p95':48} {ms(percentile(autosave, 0.95)):>22}")
    print(
        f"{'  of which store.save_answers, median':48} "
        f"{ms(statistics.median(store_times)):>22} {'':>12} "
        f"{'ratio ' + f'{statistics.median(store_times) / statistics.median(raw_times):.1f}x':>34}"
    )
    print(
        f"{'  same screens, textures not shared, p50':48} {ms(percentile(unshared, 0.5)):>22} "
        f"{'':>12} "
        f"{'shared/unshared ' + f'{percentile(render, 0.5) / percentile(unshared, 0.5):.2f}x':>34}"
    )
    print(
        f"{'cold start to the home screen':48} {start_s:>19.2f} s {'< 3 s':>12} "
        f"{'import kivy: ' + f'{kivy_s:.2f} s':>34}"
    )
    print(
        f"{'record list with 10,000 records':48} {ms(list_s):>22} {'—':>12} "
        f"{'query alone: ' + ms(query_s):>34}"
    )
    print(
        f"({len(rows)} rows queried, {shown} in the RecycleView; "
        f"{len(render)} screens rendered, {len(autosave)} answers saved)"
    )


if __name__ == "__main__":
    main()
