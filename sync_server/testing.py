"""Testing helpers for the sync server, used by the tests and the benchmarks alike.

A REAL server process on a free 127.0.0.1 port (`ServerProcess`), enrollment through the
real CLI, and households and revisions to push. Callers talk to the server over HTTP only;
they may read its SQLite file (read-only) to count rows, as an administrator would.

This module lives in the package, not in tests/, so that benchmarks never import tests.
Nothing in the server imports it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import requests

ROOT = Path(__file__).resolve().parent.parent
TEST_FORMS = ROOT / "tests" / "data"  # the checkout's small test forms (mini_household.md)
DISTRICT = "MZ1120"  # Namacurra
OTHER_DISTRICT = "MZ1122"  # Nicoadala
SITE = "MOZ-ZAM-0001"
FORM_ID = "mini_household"
FORM_VERSION = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `sync-server <args> --data-dir DIR` as a user would."""
    command = [sys.executable, "-m", "sync_server.cli", *args, "--data-dir", str(data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class ServerProcess:
    """`sync-server serve` in a subprocess; `kill()` and `start()` again on the same data."""

    data_dir: Path
    forms_dir: Path | None = TEST_FORMS
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()

    http: ClassVar[Any] = requests  # what tests send requests with: real HTTP

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.port = self.port or free_port()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        command = [sys.executable, "-m", "sync_server.cli", "serve", "--data-dir",
                   str(self.data_dir), "--port", str(self.port), "--init"]  # fmt: skip
        if self.forms_dir is not None:
            command += ["--forms-dir", str(self.forms_dir)]
        command += self.extra_args
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, like a power cut at the district office. The whole
        process group goes: the server and its validation workers."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        if self.process is not None:
            # Whatever is left of its group (validation workers) goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def enroll_code(
        self,
        enumerator: str = "Test Enumerator",
        district: str = DISTRICT,
        sites: tuple[str, ...] = (),
        server_role: bool = False,
    ) -> str:
        args = ["enroll", "--enumerator", enumerator, "--district", district]
        for site in sites:
            args += ["--site", site]
        if server_role:
            args.append("--server-role")
        output = cli(self.data_dir, *args).stdout
        return re.search(r"Enrollment code: (\S+)", output).group(1)

    def quick_code(
        self,
        district: str = DISTRICT,
        sites: tuple[str, ...] = (),
        enumerator: str = "Test Enumerator",
        server_role: bool = False,
    ) -> str:
        """What `sync-server enroll` does, without starting a process (tests enroll many)."""
        from sync_server import auth as server_auth

        conn = sqlite3.connect(self.data_dir / "sync.db", isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            code, _ = server_auth.create_code(
                conn,
                name=enumerator,
                district=district,
                sites=list(sites),
                role="server" if server_role else "device",
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return code

    def enroll(self, device_id: str | None = None, **kwargs: Any) -> tuple[str, str]:
        """(device_id, token) for a new device enrolled over HTTP."""
        device_id = device_id or str(uuid.uuid4())
        code = self.quick_code(**kwargs)
        response = self.http.post(
            self.url + "/api/v1/enroll", json={"code": code, "device_id": device_id}, timeout=10
        )
        if response.status_code != 200:
            raise AssertionError(f"enrollment failed: {response.text}")
        return device_id, response.json()["token"]

    def coordinator_token(self, district: str = DISTRICT) -> str:
        """What `sync-server coordinator` does, without a process: the CLI accepts only
        gazetteer districts, and the property test gives each example a made-up one."""
        from sync_server import auth as server_auth

        conn = sqlite3.connect(self.data_dir / "sync.db", isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            _account, token = server_auth.create_coordinator(conn, name="Coord", district=district)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return token

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read the server's database as an administrator would (read-only)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'sync.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


class ASGIHttp:
    """`requests`-style calls (`get`, `post`, `data=`, `timeout=`) answered by an app in this
    process through FastAPI's TestClient, so one test body drives either tier."""

    def __init__(self, client: Any):
        self.client = client

    def request(self, method: str, url: str, *, data: Any = None, timeout: Any = None,
                **kwargs: Any) -> Any:  # fmt: skip
        return self.client.request(method, url, content=data, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)


# A server data folder with its forms published, made once per process and per forms
# folder: publishing parses each XLSForm twice with pyxform (seconds for the three bundled
# forms), which dominated the integration tier when every test built its own server.
_PUBLISHED: dict[Path | None, Path] = {}


def fresh_app(data_dir: Path, forms_dir: Path | None = None, **options: Any) -> Any:
    """`create_app(data_dir, forms_dir, validation_workers=0, ...)` on a new data folder,
    with the same result, in a fraction of the time: `data_dir` starts as a copy of a
    folder where the forms were published once in this process, and the app is told to
    publish nothing more. Each call gets its own folder and database: tests that use it
    share no data. `data_dir` must not exist yet.
    """
    import atexit
    import shutil
    import tempfile

    from forms import FORMS_DIR
    from sync_server.app import create_app

    key = Path(forms_dir) if forms_dir else None
    if key not in _PUBLISHED:
        folder = Path(tempfile.mkdtemp(prefix="dfk-published-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        (folder / "no-forms").mkdir()
        app = create_app(folder / "data", forms_dir, validation_workers=0)
        app.state.db.close()  # checkpointed: the folder is now a complete copyable server
        _PUBLISHED[key] = folder
    shutil.copytree(_PUBLISHED[key] / "data", data_dir)
    nothing = _PUBLISHED[key] / "no-forms"  # everything is published already
    sites = Path(forms_dir or FORMS_DIR) / "data" / "transit_sites.geojson"
    options.setdefault("validation_workers", 0)
    if sites.is_file():
        options.setdefault("sites_path", sites)
    return create_app(data_dir, nothing, **options)


class InProcessServer:
    """The sync server's ASGI app in this process: no port, no subprocess, a real SQLite file.

    The integration tier uses it like `ServerProcess` (`url` is "" and `http` answers
    `server.http.get(server.url + path)`); uploads are validated in this process
    (`validation_workers=0`). Use it as a context manager, or call `stop()`.
    """

    url = ""

    def __init__(self, data_dir: Path, forms_dir: Path | None = TEST_FORMS):
        from fastapi.testclient import TestClient

        self.data_dir = data_dir
        self.app = fresh_app(data_dir, forms_dir)
        self._client = TestClient(self.app)
        self._client.__enter__()  # runs the app's start-up
        self.http = ASGIHttp(self._client)

    def __enter__(self) -> InProcessServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._client.__exit__(None, None, None)

    def coordinator_token(self, district: str = DISTRICT) -> str:
        """What `sync-server coordinator` does, through the app's own writer."""
        from sync_server import auth as server_auth

        db = self.app.state.context.db
        _, token = db.write(
            lambda conn: server_auth.create_coordinator(conn, name="Coord", district=district)
        )
        return token

    enroll_code = ServerProcess.enroll_code
    quick_code = ServerProcess.quick_code
    enroll = ServerProcess.enroll
    query = ServerProcess.query


@contextlib.contextmanager
def running_server(data_dir: Path, forms_dir: Path | None = TEST_FORMS) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, forms_dir).start()
    try:
        yield server
    finally:
        server.stop()


def household(
    head: str = "Ana Mussa",
    *,
    district: str = DISTRICT,
    site_id: str = SITE,
    members: int = 3,
    **extra: Any,
) -> dict[str, Any]:
    """Answers of the mini household form (tests/data/mini_household.md)."""
    answers: dict[str, Any] = {
        "district": district,
        "site_id": site_id,
        "head_name": head,
        "shelter": "school",
        "members": [
            {"name": head if i == 0 else f"Member {i}", "age": 30 - i, "sex": "f" if i % 2 else "m"}
            for i in range(members)
        ],
    }
    answers.update(extra)
    return answers


def revision(
    device_id: str,
    answers: dict[str, Any] | None = None,
    *,
    record_id: str | None = None,
    parent: str | None = None,
    hlc_ms: int | None = None,
    form_id: str = FORM_ID,
    form_version: str = FORM_VERSION,
) -> dict[str, Any]:
    """A revision as a device sends it."""
    ms = hlc_ms if hlc_ms is not None else int(time.time() * 1000)
    return {
        "revision_id": str(uuid.uuid4()),
        "record_id": record_id or str(uuid.uuid4()),
        "parent_revision_id": parent,
        "form_id": form_id,
        "form_version": form_version,
        "device_id": device_id,
        "hlc": f"{ms:015d}-00000-{device_id}",
        "created_at": "2024-03-14T09:30:00Z",
        "answers": answers if answers is not None else household(),
    }


def push(
    server: str | Any,
    token: str,
    device_id: str,
    revisions: list[dict[str, Any]],
    *,
    batch_id: str | None = None,
) -> Any:
    """POST /api/v1/push with a gzip body, as the tablet does.

    `server` is a `ServerProcess` or `InProcessServer` (its `http` sends the request), or
    the URL of a server.
    """
    http = requests if isinstance(server, str) else server.http
    url = server if isinstance(server, str) else server.url
    body = {
        "device_id": device_id,
        "batch_id": batch_id or uuid.uuid4().hex,
        "revisions": revisions,
    }
    return http.post(
        url + "/api/v1/push",
        data=gzip.compress(json.dumps(body).encode()),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- Load: many tablets pushing at once (tests/test_sync_server.py, benchmarks/bench_sync.py)

LOAD_FORM = "household_registration"
LOAD_SITE = "MOZ-ZAM-0001"


def wire_revision(device_id: str, version: str, seed: int, ms: int) -> dict[str, Any]:
    """A revision of a 6-member household as the tablet sends it."""
    from forms.samples import sample_household

    return {
        "revision_id": str(uuid.uuid4()),
        "record_id": str(uuid.uuid4()),
        "parent_revision_id": None,
        "form_id": LOAD_FORM,
        "form_version": version,
        "device_id": device_id,
        "hlc": f"{ms:015d}-00000-{device_id}",
        "created_at": "2026-11-21T10:15:00.000000Z",
        "answers": sample_household(seed, members=6, site_id=LOAD_SITE),
    }


def gzip_body(device_id: str, revisions: list[dict[str, Any]]) -> bytes:
    body = {"device_id": device_id, "batch_id": uuid.uuid4().hex[:16], "revisions": revisions}
    return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)


def post(session: requests.Session, url: str, token: str, body: bytes) -> requests.Response:
    return session.post(
        url + "/api/v1/push",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=300,
    )


def run_load(
    server: ServerProcess,
    devices: int,
    households: int,
    version: str | None = None,
) -> dict[str, Any]:
    """`devices` threads, each a tablet pushing `households` households at once, in batches
    as the client makes them. Returns latencies and what the server holds. With `version`
    None the small test form (tests/data/mini_household.md) is used."""
    from sync_core.transport import make_batches

    enrolled = [server.enroll(district=DISTRICT) for _ in range(devices)]
    bodies: list[list[bytes]] = []
    sent: list[str] = []
    now = int(time.time() * 1000)
    for index, (device_id, _) in enumerate(enrolled):
        if version is None:
            revisions = [
                revision(device_id, household(f"Person {index}-{i}", members=6), hlc_ms=now)
                for i in range(households)
            ]
        else:
            revisions = [
                wire_revision(device_id, version, index * households + i, now)
                for i in range(households)
            ]
        sent += [r["revision_id"] for r in revisions]
        bodies.append([gzip_body(device_id, batch) for batch in make_batches(revisions)])
    latencies: list[float] = []
    failures: list[str] = []
    barrier = threading.Barrier(devices)

    def tablet(index: int) -> None:
        _, token = enrolled[index]
        with requests.Session() as session:
            barrier.wait()  # all at once
            for body in bodies[index]:
                start = time.perf_counter()
                response = post(session, server.url, token, body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=tablet, args=(i,)) for i in range(devices)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    counts: dict[str, int] = {}
    for chunk in range(0, len(sent), 900):
        ids = sent[chunk : chunk + 900]
        rows = server.query(
            f"SELECT revision_id, count(*) FROM revisions WHERE revision_id IN "
            f"({','.join('?' * len(ids))}) GROUP BY revision_id",
            tuple(ids),
        )
        counts.update({row[0]: row[1] for row in rows})
    latencies.sort()
    return {
        "sent": len(sent),
        "lost": sum(1 for rid in sent if rid not in counts),
        "duplicated": sum(1 for n in counts.values() if n > 1),
        "failures": failures,
        "pushes": len(latencies),
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "elapsed": elapsed,
        "locked": "database is locked" in server.log(),
    }
