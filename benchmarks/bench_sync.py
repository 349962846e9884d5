"""Sync speed and size, each figure next to a baseline measured in the same run.

1. Households (household form, 6 members) merged per second through the HTTP API of a real
   server process, vs raw SQLite `executemany` of the same rows (WAL, synchronous=FULL).
2. Bytes on the wire per household, vs the same household as an ODK/OpenRosa submission
   (XML instance in a multipart/form-data POST, one request per submission).
3. Time to push 200 households through sync_core.throttle (64 kbit/s, 400 ms round trip, the
   link dropped every 30 s), vs the bare transfer time of their bytes at 64 kbit/s; and the
   same 200 households pulled by a second tablet.
4. Load: 100 simulated tablets (threads) each pushing 100 households at once: nothing lost
   or duplicated; p50/p99 push latency.

Run: .venv/bin/python benchmarks/bench_sync.py [--quick]   (a few minutes; loopback only)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldapp.store import Store  # noqa: E402
from fieldapp.sync_client import SyncClient, make_batches  # noqa: E402
from forms import FORMS_DIR, load_form  # noqa: E402
from forms.samples import sample_household  # noqa: E402
from sync_core.throttle import ThrottleProxy  # noqa: E402
from sync_server.testing import (  # noqa: E402
    ServerProcess,
    gzip_body,
    post,
    run_load,
    wire_revision,
)

FORM = "household_registration"
SITE = "MOZ-ZAM-0001"
DISTRICT = "MZ1120"


def household_version() -> str:
    return load_form(FORMS_DIR / "household_registration.xlsx").version


@contextlib.contextmanager
def server_process(base: Path, name: str) -> Iterator[ServerProcess]:
    server = ServerProcess(base / name, forms_dir=None).start()
    try:
        yield server
    finally:
        server.stop()


# --- 1. throughput -------------------------------------------------------------------


def bench_throughput(base: Path, version: str, households: int, devices: int) -> None:
    print(f"\n1. Merge throughput: {households} households of 6 members, {devices} tablets")
    with server_process(base, "throughput") as server:
        enrolled = [server.enroll(district=DISTRICT) for _ in range(devices)]
        now = int(time.time() * 1000)
        per_device = households // devices
        bodies: list[list[bytes]] = []
        all_revisions: list[dict[str, Any]] = []
        for index, (device_id, _) in enumerate(enrolled):
            revisions = [
                wire_revision(device_id, version, index * per_device + i, now)
                for i in range(per_device)
            ]
            all_revisions += revisions
            batches = make_batches(revisions)
            bodies.append([gzip_body(device_id, batch) for batch in batches])

        def upload(index: int) -> None:
            _, token = enrolled[index]
            with requests.Session() as session:
                for body in bodies[index]:
                    response = post(session, server.url, token, body)
                    assert response.status_code == 200, response.text

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(devices)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        stored = server.query("SELECT count(*) FROM revisions")[0][0]
        assert stored == len(all_revisions), (stored, len(all_revisions))
    http_rate = len(all_revisions) / elapsed

    raw_rate = raw_sqlite_rate(base / "raw.db", all_revisions)
    print(f"   through the HTTP API : {http_rate:9.0f} households/s ({elapsed:.1f} s)")
    print(f"   raw SQLite executemany: {raw_rate:9.0f} rows/s (same rows, one transaction)")
    print(f"   ratio                 : {http_rate / raw_rate:9.1%}   (aim: >= 10%)")


def raw_sqlite_rate(path: Path, revisions: list[dict[str, Any]]) -> float:
    """The same revision rows, inserted the fastest way SQLite allows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE revisions (seq INTEGER PRIMARY KEY, revision_id TEXT UNIQUE, record_id TEXT,"
        " form_id TEXT, form_version TEXT, device_id TEXT, hlc TEXT, created_at TEXT, body TEXT)"
    )
    rows = [
        (r["revision_id"], r["record_id"], r["form_id"], r["form_version"], r["device_id"],
         r["hlc"], r["created_at"], json.dumps(r, sort_keys=True, separators=(",", ":")))
        for r in revisions
    ]  # fmt: skip
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO revisions (revision_id, record_id, form_id, form_version, device_id, hlc,"
        " created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


# --- 2. bytes on the wire ------------------------------------------------------------


def odk_instance_xml(form: Any, answers: dict[str, Any], record: dict[str, Any]) -> str:
    """The household as ODK Collect would submit it: an XForm instance in which every group
    is an element, every question (calculated ones too) an element, empty ones included."""
    from xml.sax.saxutils import escape

    from forms.model import Group, Repeat

    def text(value: Any) -> str:
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        return escape(str(value))

    def emit(nodes: list[Any], values: dict[str, Any], indent: str) -> list[str]:
        lines: list[str] = []
        for node in nodes:
            if isinstance(node, Repeat):
                for instance in values.get(node.name) or []:
                    lines.append(f"{indent}<{node.name}>")
                    lines += emit(node.children, {**values, **instance}, indent + "  ")
                    lines.append(f"{indent}</{node.name}>")
            elif isinstance(node, Group):
                lines.append(f"{indent}<{node.name}>")
                lines += emit(node.children, values, indent + "  ")
                lines.append(f"{indent}</{node.name}>")
            elif getattr(node, "type", "") == "note":
                lines.append(f"{indent}<{node.name}/>")
            else:
                value = values.get(node.name)
                lines.append(
                    f"{indent}<{node.name}/>"
                    if value in (None, "", [])
                    else f"{indent}<{node.name}>{text(value)}</{node.name}>"
                )
        return lines

    values = {**answers, **{k: v for k, v in record.items() if not isinstance(v, list)}}
    body = emit(form.children, values, "  ")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms"'
        f' id="{form.form_id}" version="{form.version}">\n'
        + "\n".join(body)
        + f"\n  <meta>\n    <instanceID>uuid:{uuid.uuid4()}</instanceID>\n"
        "    <instanceName>Household registration</instanceName>\n  </meta>\n</data>\n"
    )


def odk_submission_bytes(xml: str) -> tuple[int, int]:
    """(request bytes, response bytes) of one OpenRosa submission of `xml`, as ODK Collect
    sends it: multipart/form-data, uncompressed, one submission per request."""
    boundary = "7b1d6a09-5c1e-4c55-9a0e-2d7a3e9c4f11"
    part = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="xml_submission_file"; '
        'filename="household_registration_2026-11-21_10-15-00.xml"\r\n'
        "Content-Type: text/xml; charset=utf-8\r\n\r\n" + xml + f"\r\n--{boundary}--\r\n"
    ).encode()
    headers = (
        "POST /submission?deviceID=collect%3Ak8Fm2Xq0aZ HTTP/1.1\r\n"
        "X-OpenRosa-Version: 1.0\r\n"
        "Date: Sat, 21 Nov 2026 10:15:00 GMT+00:00\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(part)}\r\n"
        "Host: 192.168.1.10:8000\r\n"
        "Connection: Keep-Alive\r\n"
        "Accept-Encoding: gzip\r\n"
        'Authorization: Digest username="enum026", realm="DFK", '
        'nonce="MTczMjE4NDUwMDo1NjdhYjQ", uri="/submission?deviceID=collect%3Ak8Fm2Xq0aZ", '
        'response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="0a4f113b"\r\n'
        "User-Agent: org.odk.collect.android/v2024.3.1 okhttp/4.12.0 Dalvik/2.1.0 (Linux; U; "
        "Android 11; SM-T225 Build/RP1A.200720.012)\r\n\r\n"
    ).encode()
    response = (
        b"HTTP/1.1 201 Created\r\nContent-Type: text/xml; charset=utf-8\r\n"
        b"X-OpenRosa-Version: 1.0\r\nX-OpenRosa-Accept-Content-Length: 10485760\r\n"
        b"Location: http://192.168.1.10:8000/submission\r\nContent-Length: 180\r\n\r\n"
        b'<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
        b'<message nature="submit_success">Form Received!</message></OpenRosaResponse>'
    )
    return len(headers) + len(part), len(response)


def fill_tablet(path: Path, version: str, households: int, seed: int = 0) -> Store:
    """A tablet with the bundled forms cached and `households` finalized registrations."""
    store = Store(path)
    for form_path in sorted(FORMS_DIR.glob("*.xlsx")):
        form = load_form(form_path)
        store.cache_form(form.form_id, form.version, form.title, form_path.read_bytes())
    for i in range(households):
        answers = sample_household(seed + i, members=6, site_id=SITE)
        record_id = store.create_draft(FORM, version, answers)
        store.finalize(record_id, answers, site_id=SITE)
    return store


def bench_bytes(base: Path, version: str, households: int) -> None:
    import datetime as dt

    from forms import validate_record

    print(f"\n2. Bytes on the wire per household ({households} households of 6 members)")
    form = load_form(FORMS_DIR / "household_registration.xlsx")
    with server_process(base, "bytes") as server:
        store = fill_tablet(base / "bytes-tablet.db", version, households)
        SyncClient(store, server.url).enroll(server.quick_code(district=DISTRICT))
        # Everything the sync sends and receives: pushes, status, pull, state check.
        with ThrottleProxy(("127.0.0.1", server.port)) as proxy:
            report = SyncClient(store, proxy.url).sync()
        assert report.accepted == households, report
    ours_up = proxy.stats.bytes_up / households
    ours_down = proxy.stats.bytes_down / households
    odk_up = odk_down = 0
    now = dt.datetime(2026, 11, 21, 12)
    for seed in range(households):
        answers = sample_household(seed, members=6, site_id=SITE)
        record = validate_record(form, answers, now=now).record
        up, down = odk_submission_bytes(odk_instance_xml(form, answers, record))
        odk_up += up
        odk_down += down
    odk_up /= households
    odk_down /= households
    print(f"   this protocol       : {ours_up:7.0f} B up + {ours_down:5.0f} B down per household"
          " (a whole sync: gzip JSON batches, pull, state check, HTTP headers)")  # fmt: skip
    print(f"   ODK/OpenRosa        : {odk_up:7.0f} B up + {odk_down:5.0f} B down per household"
          " (XML in multipart, one POST each)")  # fmt: skip
    print(f"   ratio (up)          : {ours_up / odk_up:7.1%}   (aim: < 20%)")
    # The samples share a vocabulary, which gzip exploits across a batch; real households
    # vary more. The worst case is a batch of one: no help from the neighbours.
    alone = statistics.mean(
        len(gzip_body("d", [wire_revision("d", version, seed, 0)])) for seed in range(20)
    )
    print(f"   one household alone : {alone:7.0f} B of gzip body, before HTTP headers "
          f"({alone / odk_up:.1%} of ODK's)")  # fmt: skip
    print(f"   ratio (up + down)   : {(ours_up + ours_down) / (odk_up + odk_down):7.1%}")


# --- 3. a 2G link ------------------------------------------------------------------------


def bench_2g(base: Path, version: str, households: int, drop_every: float) -> None:
    rate = 64_000 / 8  # bytes per second each way
    print(
        f"\n3. {households} households over a 2G link: 64 kbit/s, 400 ms round trip, "
        f"connections dropped every {drop_every:.0f} s"
    )
    with server_process(base, f"2g-{drop_every}") as server:
        store = fill_tablet(base / f"2g-tablet-{drop_every}.db", version, households)
        SyncClient(store, server.url).enroll(server.quick_code(district=DISTRICT))
        reader = fill_tablet(base / f"2g-reader-{drop_every}.db", version, 0)
        SyncClient(reader, server.url).enroll(server.quick_code(district=DISTRICT))
        link = {"bandwidth_bps": 64_000, "latency_s": 0.2, "drop_every_s": drop_every}
        with ThrottleProxy(("127.0.0.1", server.port), **link) as proxy:
            start = time.perf_counter()
            report = SyncClient(store, proxy.url, give_up_after=300).sync()
            pushed_in = time.perf_counter() - start
            up, down, drops = proxy.stats.bytes_up, proxy.stats.bytes_down, proxy.stats.drops
        assert report.accepted + report.already_had == households, report
        with ThrottleProxy(("127.0.0.1", server.port), **link) as pull_proxy:
            start = time.perf_counter()
            pulled = SyncClient(reader, pull_proxy.url, give_up_after=300).sync()
            pulled_in = time.perf_counter() - start
        assert pulled.received == households, pulled
        held = server.query("SELECT count(DISTINCT revision_id), count(*) FROM revisions")[0]
        assert held[0] == held[1] == households
    bare = max(up, down) / rate
    print(f"   push (sync of the tablet that made them): {pushed_in:6.1f} s, "
          f"{up / 1024:.0f} KB up, {down / 1024:.0f} KB down, {drops} drop(s), "
          f"{report.retries} retr(y/ies)")  # fmt: skip
    print(f"   bare transfer time of those bytes       : {bare:6.1f} s   "
          f"(ratio {pushed_in / bare:.2f}x)")  # fmt: skip
    bare_pull = max(pull_proxy.stats.bytes_up, pull_proxy.stats.bytes_down) / rate
    print(f"   pull by a second tablet                 : {pulled_in:6.1f} s, "
          f"{pull_proxy.stats.bytes_down / 1024:.0f} KB down, {pull_proxy.stats.drops} drop(s); "
          f"bare {bare_pull:.1f} s (ratio {pulled_in / bare_pull:.2f}x)")  # fmt: skip


# --- 4. load -------------------------------------------------------------------------


def bench_load(base: Path, version: str, devices: int, households: int) -> None:
    print(f"\n4. Load: {devices} tablets each pushing {households} households at once")
    with server_process(base, "load") as server:
        result = run_load(server, devices, households, version)
    print(f"   {result['sent']} households in {result['pushes']} pushes, "
          f"{result['elapsed']:.1f} s ({result['sent'] / result['elapsed']:.0f}/s)")  # fmt: skip
    print(f"   lost: {result['lost']}, duplicated: {result['duplicated']}, failed pushes: "
          f"{len(result['failures'])}, 'database is locked': {result['locked']}")  # fmt: skip
    print(f"   push latency: p50 {result['p50'] * 1000:.0f} ms, "
          f"p99 {result['p99'] * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    args = parser.parse_args()
    version = household_version()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        base = Path(tmp)
        bench_throughput(base, version, 1000 if args.quick else 4000, 8)
        bench_bytes(base, version, 50 if args.quick else 200)
        bench_2g(base, version, 200, drop_every=30)
        if not args.quick:
            bench_2g(base, version, 200, drop_every=5)
        bench_load(base, version, *((20, 20) if args.quick else (100, 100)))


if __name__ == "__main__":
    main()
