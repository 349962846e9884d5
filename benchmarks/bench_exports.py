"""Export speed and peak memory, streamed vs a naive baseline measured in the same run.

For N households of 6 members (N = 10,000 and 100,000 by default), seeded straight into a
server database with `sync_server.exports.testing`, each export runs in its own process so
that its peak memory (ru_maxrss) is its own:

- streamed: `sync_server.exports.export()` (one cursor, a page at a time, spooled tables);
- naive: load every record and build every row in memory first, then write them with the
  same writer (what an export does when it is not streamed).

Aims (issue #13): under 60 s for each format at 100,000 households, and a peak under
300 MiB that does not grow with N.

Run: .venv/bin/python benchmarks/bench_exports.py [--sizes 10000 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forms import FORMS_DIR, load_form, validate_record  # noqa: E402
from forms.samples import sample_household  # noqa: E402

FORM = "household_registration"
HOUSEHOLD = FORMS_DIR / "household_registration.xlsx"
TEMPLATES = 64  # distinct validated households, repeated with fresh ids
FORMATS = ("csvzip", "xlsx")
SITE, DISTRICT = "MOZ-ZAM-0001", "MZ1120"


def seed(data_dir: Path, count: int) -> float:
    """Seed `count` households; returns the seconds it took."""
    from sync_server.db import Database
    from sync_server.exports.testing import seed_records

    form = load_form(HOUSEHOLD)
    # One district's export, as a coordinator makes it: every household in Namacurra.
    templates = [
        validate_record(form, sample_household(n, site_id=SITE)).record for n in range(TEMPLATES)
    ]
    started = time.perf_counter()
    db = Database(data_dir)
    try:
        seed_records(
            db, HOUSEHOLD, (templates[n % TEMPLATES] for n in range(count)), batch_size=2000
        )
    finally:
        db.close()
    return time.perf_counter() - started


def child(data_dir: Path, fmt: str, mode: str, out: Path) -> None:
    """Run one export in this process and print its time and peak memory as JSON."""
    from sync_server.auth import Principal
    from sync_server.db import Database
    from sync_server.exports import ExportOptions, export

    db = Database(data_dir)
    # The full export: every column, so the most cells to write.
    options = ExportOptions(FORM, format=fmt, shareable=False, purpose="benchmark")
    who = Principal("coordinator-bench", "coordinator", DISTRICT)
    started, cpu = time.perf_counter(), time.process_time()
    if mode == "streamed":
        summary = export(db, options, out, principal=who)
        records = summary.records
    else:
        records = naive_export(db, options, out)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"seconds": elapsed, "cpu": cpu, "peak_mib": peak_kib / 1024, "records": records}
    print(json.dumps({**result, "bytes": out.stat().st_size}))


def naive_export(db, options, out: Path) -> int:
    """The baseline: every record read and every row built before the first is written."""
    from sync_server.exports import run
    from sync_server.exports.query import Snapshot
    from sync_server.exports.tables import RecordContext, build_layout, record_rows
    from sync_server.exports.writers import WRITERS

    with Snapshot(db.path) as snapshot:
        forms = run._forms(snapshot, db.data_dir, options.form_id)
        layout = build_layout(forms, labels=True, language=None, shareable=False, threshold=5)
        fetched = snapshot.conn.execute(
            "SELECT record_id, form_version, answers, conflict, revision_count, updated_at "
            "FROM records WHERE form_id = ? ORDER BY rowid",
            (options.form_id,),
        ).fetchall()
        built = []
        for row in fetched:
            context = RecordContext(key=row["record_id"], form_version=row["form_version"],
                                    submission_date=row["updated_at"], status=row["conflict"],
                                    edits=row["revision_count"] - 1)  # fmt: skip
            built.append(list(record_rows(layout, json.loads(row["answers"]), context)))
    with open(out, "wb") as sink:
        writer = WRITERS[options.format](sink, out.parent, layout)
        for rows in built:
            writer.add_record(rows, None)
        writer.close()
    return len(built)


def measure(data_dir: Path, fmt: str, mode: str, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), fmt, mode, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data_dir, fmt, mode, out = args.child
        child(Path(data_dir), fmt, mode, Path(out))
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-exports-", dir=args.keep))
    print(f"households of 6 members; each export in its own process; folder {work}")
    print("seconds: wall clock; cpu: this process's CPU time (the machine may be shared)")
    print(f"{'households':>10} {'format':>7} {'mode':>9} {'seconds':>8} {'cpu':>6} "
          f"{'peak MiB':>9} {'MB out':>7}  vs naive")  # fmt: skip
    try:
        for size in args.sizes:
            data_dir = work / f"db-{size}"
            seconds = seed(data_dir, size)
            print(f"{size:>10,} seeded in {seconds:.1f} s (direct SQL, {size / seconds:,.0f}/s)")
            for fmt in FORMATS:
                results = {}
                for mode in ("streamed", "naive"):
                    out = work / f"out-{size}-{mode}.{fmt}"
                    results[mode] = result = measure(data_dir, fmt, mode, out)
                    if "error" in result:
                        print(f"{size:>10,} {fmt:>7} {mode:>9}  failed: {result['error']}")
                        continue
                    ratio = ""
                    if mode == "naive" and "error" not in results["streamed"]:
                        streamed = results["streamed"]
                        time_ratio = streamed["seconds"] / result["seconds"]
                        memory_ratio = streamed["peak_mib"] / result["peak_mib"]
                        ratio = f"streamed time x{time_ratio:.2f}, memory x{memory_ratio:.2f}"
                    print(
                        f"{size:>10,} {fmt:>7} {mode:>9} {result['seconds']:>8.1f} "
                        f"{result['cpu']:>6.1f} {result['peak_mib']:>9.0f} "
                        f"{result['bytes'] / 1e6:>7.1f}  {ratio}"
                    )
                    out.unlink(missing_ok=True)
            if not args.keep:
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("aims: < 60 s per export at 100,000 households; peak < 300 MiB, flat with size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
