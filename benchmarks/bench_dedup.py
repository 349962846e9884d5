"""Probable-duplicate households on 100,000 generated registrations: precision, recall, F1,
recall of spouse-registered families, wall time and peak memory.

Next to it, in the same run:
- the tablet's old check (name similarity >= 0.85 and the same phone or site,
  benchmarks/legacy_households.py) on a sample, because it needs hours on 100,000;
- splink, if installed (`pip install splink`; not a dependency of the project), on the same
  100,000 with comparable blocking rules and comparisons.

The engine runs in a child process exactly as `sync-server duplicates` does (reading the
CSV), so that its peak memory (the child's maximum resident set) is its own.
Aims (issue 14): F1 above 0.86 in under 30 s and under 500 MiB; spouse recall above 50%.
The machine is shared: CPU time is printed next to wall time.

Run: .venv/bin/python benchmarks/bench_dedup.py [--records 100000] [--sample 5000]
     [--splink-python /path/to/a/venv/with/splink/bin/python]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from legacy_households import HouseholdKey, probable_duplicate

from sync_core.dedup import find_duplicates
from sync_core.dedup.synthetic import LabelledSet, generate

CHILD = """
import json, sys, time, resource
from pathlib import Path
from sync_core.dedup import find_duplicates
from sync_core.dedup.table import read_households
start = time.perf_counter(); cpu = time.process_time()
households = read_households(Path(sys.argv[1]).read_bytes())
read = time.perf_counter() - start
result = find_duplicates(households)
pairs = [[p.record_id_1, p.record_id_2] for p in result.pairs]
print(json.dumps({
    "pairs": pairs, "read_s": read, "wall_s": time.perf_counter() - start,
    "cpu_s": time.process_time() - cpu, "candidates": result.candidates,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def quality(found: set[tuple[str, str]], labelled: LabelledSet, ids=None) -> dict[str, float]:
    truth, spouse = labelled.true_pairs(), labelled.spouse_pairs()
    if ids is not None:
        truth = {p for p in truth if p[0] in ids and p[1] in ids}
        spouse = {p for p in spouse if p[0] in ids and p[1] in ids}
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    spouse_recall = len(found & spouse) / len(spouse) if spouse else 0.0
    return {"P": precision, "R": recall, "F1": f1, "spouse R": spouse_recall, "pairs": len(truth)}


def line(name: str, q: dict[str, float], wall: float, extra: str = "") -> None:
    print(
        f"{name:34} P {q['P']:.3f}  R {q['R']:.3f}  F1 {q['F1']:.3f}  "
        f"spouse R {q['spouse R']:.3f}  {wall:7.1f} s  {extra}"
    )


def ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def bench_engine(csv_path: Path, labelled: LabelledSet) -> dict:
    process = subprocess.run(
        [sys.executable, "-c", CHILD, str(csv_path)], capture_output=True, text=True, check=True
    )
    out = json.loads(process.stdout)
    found = {ordered(a, b) for a, b in out["pairs"]}
    q = quality(found, labelled)
    line(
        f"engine, {len(labelled.households):,}",
        q,
        out["wall_s"],
        f"(cpu {out['cpu_s']:.1f} s, reading {out['read_s']:.1f} s, "
        f"{out['candidates']:,} pairs compared, peak {out['peak_mib']:.0f} MiB)",
    )
    return {**q, **{k: out[k] for k in ("wall_s", "cpu_s", "peak_mib")}}


def bench_legacy(labelled: LabelledSet, sample: int) -> None:
    """The old check on `sample` records: every pair sharing a site or a phone, as the
    tablet's candidate query selects them."""
    rng = random.Random(0)
    chosen = rng.sample(labelled.households, sample)
    ids = {h.record_id for h in chosen}
    keys = [HouseholdKey(h.record_id, h.head_name, h.phone, h.site_id) for h in chosen]
    start = time.perf_counter()
    found, compared = set(), 0
    for a, b in itertools.combinations(keys, 2):
        if a.site_id == b.site_id or (a.phone and a.phone == b.phone):
            compared += 1
            if probable_duplicate(a, b):
                found.add(ordered(a.record_id, b.record_id))
    wall = time.perf_counter() - start
    line(f"old tablet check, sample {sample:,}", quality(found, labelled, ids), wall,
         f"({compared:,} pairs compared)")  # fmt: skip
    start = time.perf_counter()
    result = find_duplicates(chosen)
    wall = time.perf_counter() - start
    found = {ordered(p.record_id_1, p.record_id_2) for p in result.pairs}
    line(f"engine, same sample {sample:,}", quality(found, labelled, ids), wall)


def bench_splink(csv_path: Path, labelled: LabelledSet, python: str) -> None:
    """splink in `python` (this interpreter unless --splink-python names another)."""
    check = subprocess.run([python, "-c", "import splink"], capture_output=True)
    if check.returncode != 0:
        print(f"{'splink':34} not installed (pip install splink, or --splink-python)")
        return
    process = subprocess.run(
        [python, str(Path(__file__).with_name("splink_dedup.py")), str(csv_path)],
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        print(f"{'splink':34} failed: {process.stderr.strip().splitlines()[-1:]}")
        return
    out = json.loads(process.stdout.strip().splitlines()[-1])
    found = {ordered(a, b) for a, b in out["pairs"]}
    line(
        f"splink {out['version']}, {len(labelled.households):,}",
        quality(found, labelled),
        out["wall_s"],
        f"(peak {out['peak_mib']:.0f} MiB)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--splink-python",
        default=sys.executable,
        help="a Python with splink installed (default: this one)",
    )
    args = parser.parse_args()
    print(f"Generating {args.records:,} registrations (seed {args.seed}) ...")
    labelled = generate(args.records, seed=args.seed)
    truth = labelled.true_pairs()
    print(f"{len(truth):,} true duplicate pairs, {len(labelled.spouse_pairs()):,} by a spouse")
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "registrations.csv"
        labelled.to_csv(csv_path)
        print(f"CSV {os.path.getsize(csv_path) / 2**20:.1f} MiB\n")
        result = bench_engine(csv_path, labelled)
        bench_legacy(labelled, args.sample)
        bench_splink(csv_path, labelled, args.splink_python)
    print(
        f"\naims: F1 > 0.86 ({result['F1']:.3f}), < 30 s ({result['wall_s']:.1f} s wall, "
        f"{result['cpu_s']:.1f} s cpu), < 500 MiB ({result['peak_mib']:.0f} MiB), "
        f"spouse recall > 0.5 ({result['spouse R']:.3f})"
    )


if __name__ == "__main__":
    main()
