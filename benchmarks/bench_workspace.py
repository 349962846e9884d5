"""The coordinator workspace with 100,000 households (6 members each): time per page and
the server's memory, each figure next to a baseline measured in the same run.

1. Load: 100,000 households from 20 tablets in 4 districts stored through the server's
   own write path (`records.store_batch`, merged records and all; validation skipped: it
   is the upload's cost, measured by bench_sync.py). Then the first page view builds the
   workspace's record index: its time is printed.
2. A real `sync-server serve` process; a coordinator signs in through the form. For each
   page, N requests: the records list (national, first page), the records list of one
   district, a deep page, a filtered search (district + status + a name typed without
   accents), a phone search, and one record's page. p50/p95 per request (aim: p95 < 300
   ms), against the baseline of GET /health (an HTTP round trip doing nothing).
3. Memory: the server's resident set (VmRSS) and its peak (VmHWM) after the runs.

Run: .venv/bin/python benchmarks/bench_workspace.py [--households N] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from forms import bundled_form_paths  # noqa: E402
from forms.samples import sample_household  # noqa: E402
from sync_server import auth, records  # noqa: E402
from sync_server.catalog import publish_form  # noqa: E402
from sync_server.db import Database  # noqa: E402
from sync_server.workspace import accounts, index, testing  # noqa: E402

SITES = {"MZ1120": "MOZ-ZAM-0001", "MZ1122": "MOZ-ZAM-0002", "MZ1103": "MOZ-ZAM-0003",
         "MZ1114": "MOZ-ZAM-0004"}  # fmt: skip
PASSWORD = "benchmark pass phrase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(data_dir: Path, households: int) -> tuple[float, str]:
    """Store `households` through the server's write path; returns (seconds, a record id)."""
    db = Database(data_dir)
    for path in bundled_form_paths():
        db.write(lambda conn, p=path: publish_form(conn, data_dir, p))
    db.write(
        lambda conn: accounts.create_login(
            conn, name="Nacional", username="nat", password=PASSWORD, district=auth.NATIONAL
        )
    )
    db.write(lambda conn: accounts.create_login(conn, name="Namacurra", username="nam",
                                                password=PASSWORD, district="MZ1120"))  # fmt: skip
    tablets: list[tuple[auth.Principal, str]] = []
    for number in range(20):
        district = list(SITES)[number % len(SITES)]
        code, _ = db.write(lambda conn, d=district, n=number: auth.create_code(
            conn, name=f"Enumerator {n:02d}", district=d))  # fmt: skip
        device = f"bench-tablet-{number:02d}"
        _, principal = db.write(lambda conn, c=code, d=device: auth.redeem_code(conn, c, d))
        tablets.append((principal, district))
    version = testing.FORM_VERSION
    start = time.perf_counter()
    sample = ""
    batch_size = 500
    for first in range(0, households, batch_size):
        principal, district = tablets[(first // batch_size) % len(tablets)]
        items = []
        for seed in range(first, min(first + batch_size, households)):
            answers = sample_household(seed, members=6, site_id=SITES[district])
            item = records.incoming(testing.revision(principal.account_id, answers,
                                                     form_version=version))  # fmt: skip
            item.district, item.site_id = district, SITES[district]
            items.append(item)
        db.write(lambda conn, p=principal, i=items: records.store_batch(
            conn, p, uuid.uuid4().hex[:16], i))  # fmt: skip
        sample = items[0].record_id
        if first % 20_000 == 0:
            print(f"  stored {first:>7} households ...", flush=True)
    seconds = time.perf_counter() - start
    db.close()
    return seconds, sample


def measure(session: requests.Session, url: str, requests_n: int) -> list[float]:
    times = []
    for _ in range(requests_n):
        start = time.perf_counter()
        response = session.get(url, timeout=120)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def memory(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) // 1024
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "district"
        print(f"Loading {args.households} households (6 members each) ...")
        load_s, record_id = load(data_dir, args.households)
        print(f"  stored in {load_s:.1f} s ({args.households / load_s:.0f} households/s)")
        db = Database(data_dir)
        start = time.perf_counter()
        db.write(index.refresh)
        index_s = time.perf_counter() - start
        db.close()
        print(
            f"  record index built in {index_s:.1f} s "
            f"({args.households / index_s:.0f} records/s), once (at start-up after an upgrade)"
        )
        size_mb = (data_dir / "sync.db").stat().st_size / 1e6
        print(f"  database: {size_mb:.0f} MB")

        port = free_port()
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "sync_server.cli", "serve", "--data-dir", str(data_dir),
             "--port", str(port), "--workers", "0"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if requests.get(base + "/health", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            session = requests.Session()
            session.base_url = base  # type: ignore[attr-defined]
            page = session.get(base + "/login")
            answer = session.post(base + "/login", data={
                "csrf": testing.csrf_of(page.text), "username": "nat", "password": PASSWORD,
                "next": "/"}, allow_redirects=False)  # fmt: skip
            assert answer.status_code == 303, answer.text
            rng = random.Random(1)
            name = sample_household(rng.randint(0, args.households - 1))["hh_head_given_name"]
            phone = sample_household(12345)["contact_phone"]
            folded = index.fold(name)
            cases = {
                "health (baseline)": "/health",
                "records list, national, page 1": "/records",
                "records list, one district": "/records?district=MZ1120",
                "records list, page 1000": "/records?page=1000",
                f"filtered search ('{folded}' + district + status)":
                    f"/records?q={folded}&district=MZ1122&status=new",
                "phone search": f"/records?q={phone[-7:]}",
                "record page": f"/records/{record_id}",
                "overview": "/",
            }  # fmt: skip
            results = {}
            for label, path in cases.items():
                measure(session, base + path, 2)  # warm
                results[label] = measure(session, base + path, args.requests)
            baseline = statistics.median(results["health (baseline)"])
            print(f"\n{'page':<58} {'p50 ms':>8} {'p95 ms':>8} {'x baseline':>10}")
            for label, times in results.items():
                print(f"{label:<58} {p(times, 0.5):8.1f} {p(times, 0.95):8.1f} "
                      f"{p(times, 0.5) / baseline:10.1f}")  # fmt: skip
            worst = max(p(t, 0.95) for label, t in results.items() if "baseline" not in label)
            print(
                f"\nworst p95: {worst:.0f} ms (aim < 300 ms): "
                + ("met" if worst < 300 else "NOT met")
            )
            mem = memory(server.pid)
            print(f"server memory: {mem.get('VmRSS')} MB resident, peak {mem.get('VmHWM')} MB")
            print(
                json.dumps(
                    {
                        "households": args.households,
                        "load_s": round(load_s, 1),
                        "index_s": round(index_s, 1),
                        "worst_p95_ms": round(worst),
                        "rss_mb": mem.get("VmRSS"),
                        "peak_mb": mem.get("VmHWM"),
                    }
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
