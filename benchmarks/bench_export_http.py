"""A streamed export over HTTP from a real server process: time to the first byte, total
time, and the server's memory, next to a file-first baseline measured in the same run.

For N households of 6 members (N = 10,000 and 100,000 by default), seeded straight into a
server database (`sync_server.exports.testing`), a real `sync-server serve` process
streams the full CSV zip and XLSX to a client that reads and discards the body:

- first byte / total: seconds from the request to the first body byte and to the last;
- server peak: the server process's peak resident memory (VmHWM) after the export, and
  how much it grew during it: flat with N means memory does not follow the record count;
- file first (baseline): `sync_server.exports.export()` to a file in a process of its
  own, the form already loaded (what the endpoint did before it streamed: the whole file
  was written before the first byte left). Its time is the old endpoint's first byte.

The server is warmed first (one small export loads the form), as the baseline is.

Run: .venv/bin/python benchmarks/bench_export_http.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_exports import DISTRICT, FORM, seed  # noqa: E402
from sync_server.testing import ServerProcess, auth  # noqa: E402

FORMATS = ("csvzip", "xlsx")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def streamed(server: ServerProcess, token: str, fmt: str) -> dict[str, float]:
    before = memory_kib(server.process.pid)
    started = time.perf_counter()
    first = None
    size = 0
    with requests.get(
        f"{server.url}/api/v1/exports/{FORM}",
        params={"format": fmt, "full": "true", "purpose": "benchmark"},
        headers=auth(token),
        stream=True,
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_content(64 * 1024):
            if first is None:
                first = time.perf_counter() - started
            size += len(chunk)
    total = time.perf_counter() - started
    after = memory_kib(server.process.pid)
    return {"first": first or total, "total": total, "bytes": size,
            "peak_mib": after["VmHWM"] / 1024,
            "grew_mib": (after["VmHWM"] - before["VmHWM"]) / 1024}  # fmt: skip


def file_first(data_dir: Path, fmt: str, out: Path) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), fmt, str(out)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def child(data_dir: Path, fmt: str, out: Path) -> None:
    """The baseline in this process: load the form, then time export() to a file."""
    from sync_server.auth import Principal
    from sync_server.db import Database
    from sync_server.exports import ExportOptions, export, prepare

    db = Database(data_dir)
    options = ExportOptions(FORM, format=fmt, shareable=False, purpose="benchmark")
    who = Principal("coordinator-bench", "coordinator", DISTRICT)
    prepare(db, options, principal=who).close()  # loads and caches the form
    started = time.perf_counter()
    export(db, options, out, principal=who)
    print(time.perf_counter() - started)
    db.close()


def warm(server: ServerProcess, token: str) -> None:
    requests.get(
        f"{server.url}/api/v1/exports/{FORM}",
        params={"format": "hxl", "from": "2000-01-01", "to": "2000-01-01"},
        headers=auth(token),
        timeout=900,  # a busy machine: the count alone reads every record
    ).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-export-http-"))
    print(
        f"{'households':>10} {'format':>7} {'first s':>8} {'total s':>8} {'MB':>6} "
        f"{'srv peak MiB':>12} {'grew MiB':>8} {'file-first s':>12}  first byte vs file first"
    )
    try:
        for size in args.sizes:
            data_dir = work / f"db-{size}"
            seconds = seed(data_dir, size)
            print(f"{size:>10,} seeded in {seconds:.1f} s")
            server = ServerProcess(data_dir, forms_dir=None)
            # Before the start: the server then indexes the records for the workspace in
            # its writer, which holds the write lock for a while at 100,000.
            token = server.coordinator_token(DISTRICT)
            server.start(timeout=120)
            try:
                warm(server, token)
                for fmt in FORMATS:
                    result = streamed(server, token, fmt)
                    baseline = file_first(data_dir, fmt, work / f"out.{fmt}")
                    print(f"{size:>10,} {fmt:>7} {result['first']:>8.2f} {result['total']:>8.1f} "
                          f"{result['bytes'] / 1e6:>6.1f} {result['peak_mib']:>12.0f} "
                          f"{result['grew_mib']:>8.0f} {baseline:>12.1f}  "
                          f"x{result['first'] / baseline:.3f}")  # fmt: skip
            finally:
                server.stop()
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("aims: the first byte in about a second whatever N; server memory flat with N")
    return 0


if __name__ == "__main__":
    sys.exit(main())
