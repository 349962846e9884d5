"""The workspace's records search: the FTS5 trigram index (migration 6) against the LIKE
scan it replaced, on the same database in the same run.

N records (100,000 by default) go straight into `record_index` (their search text made by
`index.searchable` from sample households with varied names and phones); the FTS index is
built by its triggers. Then each query runs through `index.list_records` (the workspace's
own code: FTS for words of three characters or more) and through the same filters with
every word matched by `search LIKE '%word%'` (the baseline: what the list did before).
p50 and p95 of R runs each, and the ratio.

This is the query alone, in-process; bench_workspace.py measures whole pages over HTTP.

Run: .venv/bin/python benchmarks/bench_search.py [--records N] [--runs R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forms.samples import sample_household  # noqa: E402
from forms.text import fold  # noqa: E402
from sync_server import auth, db  # noqa: E402
from sync_server.workspace import index  # noqa: E402

NATIONAL = auth.Principal("bench", "coordinator", auth.NATIONAL)
DISTRICTS = ("MZ1120", "MZ1122", "MZ1103", "MZ1114")


def seed(conn, count: int) -> list[tuple[str, str]]:
    """`count` rows in record_index; returns (name, phone) of a few to search for."""
    rng = random.Random(7)
    templates = [sample_household(n) for n in range(200)]
    rows, picks = [], []
    for n in range(count):
        answers = dict(templates[n % len(templates)])
        answers["hh_head_given_name"] += f" {rng.choice('ABCDEFGHJKLMNPRSTZ')}{n % 997}"
        answers["contact_phone"] = f"8{rng.randint(20_000_000, 79_999_999)}"
        title, search = index.searchable(answers)
        rows.append((f"rec-{n:07d}", "household_registration", DISTRICTS[n % 4],
                     answers.get("site_id"), "bench", f"2026-11-{1 + n % 28:02d}",
                     "2026-11-28T10:00:00Z", "new", title, search))  # fmt: skip
        if n % (count // 5) == 0:
            picks.append((answers["hh_head_given_name"], answers["contact_phone"]))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO record_index (record_id, form_id, district, site_id, enumerator, "
        "received_on, updated_at, status, title, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    return picks


def like_baseline(conn, q: str, district: str | None) -> list:
    """The list's query before migration 6: every word with LIKE (a full scan)."""
    where, params = [], []
    if district:
        where.append("+district = ?")
        params.append(district)
    for word in fold(q).split():
        where.append("search LIKE ?")
        params.append(f"%{word}%")
    return conn.execute(
        "SELECT record_id, title FROM record_index WHERE " + " AND ".join(where)
        + " ORDER BY +received_on DESC, record_id DESC LIMIT 50",
        params,
    ).fetchall()  # fmt: skip


def timed(function, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
        conn = db.connect(Path(folder) / "sync.db")
        db.migrate(conn)
        started = time.perf_counter()
        picks = seed(conn, args.records)
        print(f"{args.records:,} records indexed (table + FTS triggers) in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        name, phone = picks[2]
        queries = {
            "a rare name": (fold(name).split()[-1], None),
            "a full name": (fold(name), None),
            "a phone (7 digits)": (phone[-7:], None),
            "a common family name": (fold(name).split()[1], None),
            "name + district": (fold(name).split()[-1], "MZ1122"),
        }
        print(f"{'query':<22} {'fts p50':>8} {'fts p95':>8} {'like p50':>9} {'like p95':>9} "
              "  fts/like (p50)   ms")  # fmt: skip
        for label, (q, district) in queries.items():
            filters = index.parse_filters(
                {"q": q, **({"district": district} if district else {})},
                ["household_registration"],
            )
            fts = set(r["record_id"] for r in index.list_records(conn, NATIONAL, filters).rows)
            like = set(r["record_id"] for r in like_baseline(conn, q, district))
            assert fts == like, f"{label}: the two searches disagree"
            f50, f95 = timed(lambda f=filters: index.list_records(conn, NATIONAL, f), args.runs)
            l50, l95 = timed(lambda q=q, d=district: like_baseline(conn, q, d), args.runs)
            print(f"{label:<22} {f50:>8.1f} {f95:>8.1f} {l50:>9.1f} {l95:>9.1f}   x{f50 / l50:.2f}")
        conn.close()
    print("aim: p95 well under the workspace's 300 ms per page at 100,000 households")
    return 0


if __name__ == "__main__":
    sys.exit(main())
