"""`sync-server --self-test`: prove that this installation can do its job, then exit.

A logistics officer who has just unpacked the server on a district laptop (or CI, on a
freshly built bundle) runs it once. In a throw-away folder it:

1. creates a server database and publishes the bundled forms (XLSForms, GeoJSON
   gazetteer, Sphere thresholds: the data files a bundle must carry);
2. starts the real server (uvicorn, with a validation worker process) on a free
   127.0.0.1 port;
3. answers `GET /health`;
4. enrolls a device with a one-time code and pushes a household with the bundled client
   code (`sync_core.transport`, what the tablet sends with), which the server validates
   against the published form and stores;
5. serves the workspace's sign-in page in Portuguese (templates, translations) and
   Swagger UI's script for `/docs` (fastapi-offline's files);
6. stops, and removes the folder.

Each step prints one line; the first failure prints what failed and the exit status is 1.
Nothing here touches the real data folder or any port but the one it picked.
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

DEVICE_DISTRICT = "MZ1120"  # Namacurra: the sample household's site must be in the scope


_PROGRAM = "sync-server"


def code_folder() -> Path:
    """The folder this program's code was loaded from: the bundle's own folder when it
    is frozen (tests check that a moved bundle uses its copy, not the source tree)."""
    return Path(__file__).resolve().parent.parent


class SelfTestFailure(Exception):
    """One step did not do what it must; the message says what was seen instead."""


def run(out: TextIO = sys.stdout) -> int:
    """Run every step in a temporary folder; 0 when all pass, 1 at the first failure."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sync-server-selftest-") as folder:
        checker = _SelfTest(Path(folder) / "data", out)
        try:
            checker.run_all()
        except Exception as error:  # every failure, expected or not, ends in one sentence
            detail = str(error) if isinstance(error, SelfTestFailure) else repr(error)
            print(
                f"sync-server self-test FAILED at '{checker.step}': {detail}", file=out, flush=True
            )
            return 1
        finally:
            checker.stop()
    print(
        f"sync-server self-test passed in {time.monotonic() - started:.1f} s.", file=out, flush=True
    )
    return 0


class _SelfTest:
    def __init__(self, data_dir: Path, out: TextIO):
        self.data_dir = data_dir
        self.out = out
        self.step = "start"
        self.server = None
        self.thread: threading.Thread | None = None
        self.url = ""

    def run_all(self) -> None:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("create the database and publish the bundled forms", self.create),
            ("start on a free loopback port", self.start),
            ("answer /health", self.health),
            ("accept a push from the client code", self.push),
            ("serve the workspace's sign-in page", self.sign_in_page),
            ("stop", self.stop),
        ]
        print(f"{_PROGRAM} self-test, code from {code_folder()}", file=self.out, flush=True)
        for name, step in steps:
            self.step = name
            detail = step()
            print(f"  ok  {name}{': ' + detail if detail else ''}", file=self.out, flush=True)

    def create(self) -> str:
        from sync_server.app import create_app

        self.data_dir.mkdir(parents=True)
        # One worker process: a frozen bundle must be able to start the validation pool.
        self.app = create_app(self.data_dir, validation_workers=1)
        with self.app.state.db.read() as conn:
            forms = [row[0] for row in conn.execute("SELECT DISTINCT form_id FROM forms")]
        if "household_registration" not in forms:
            raise SelfTestFailure(f"the household form was not published (forms: {forms})")
        return ", ".join(sorted(forms))

    def start(self) -> str:
        import uvicorn

        # The socket is bound here and handed to uvicorn: no other program can take the
        # port between choosing it and listening on it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SelfTestFailure("the server did not start listening")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def health(self) -> str:
        import requests

        answer = requests.get(self.url + "/health", timeout=10)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "ok":
            raise SelfTestFailure(f"/health answered {answer.status_code} {body}")
        return f"server {body['server_id']}"

    def push(self) -> str:
        from forms.samples import sample_household
        from sync_core.hlc import format_hlc, wall_clock_ms
        from sync_core.protocol import API_PREFIX, EnrollResponse, PushResponse
        from sync_core.transport import Transport, make_batches
        from sync_server import auth

        code, _expires = self.app.state.db.write(
            lambda conn: auth.create_code(conn, name="self-test", district=DEVICE_DISTRICT)
        )
        device_id = f"selftest-{uuid.uuid4().hex[:12]}"
        transport = Transport(self.url, give_up_after=30)
        answer = transport.request(
            "POST", f"{API_PREFIX}/enroll", body={"code": code, "device_id": device_id}
        )
        if answer.status_code != 200:
            raise SelfTestFailure(f"enrollment answered {answer.status_code}: {answer.text}")
        transport.token = EnrollResponse.model_validate(transport.json(answer)).token

        forms = transport.json(transport.request("GET", f"{API_PREFIX}/forms"))
        version = next(
            form["version"]
            for form in forms
            if form["form_id"] == "household_registration" and form["current"]
        )
        answers = sample_household(seed=7, site_id="MOZ-ZAM-0001")
        revision = {
            "revision_id": str(uuid.uuid4()),
            "record_id": str(uuid.uuid4()),
            "parent_revision_id": None,
            "form_id": "household_registration",
            "form_version": version,
            "device_id": device_id,
            "hlc": format_hlc(wall_clock_ms(), 0, device_id),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "answers": answers,
        }
        (batch,) = make_batches([revision])
        body = {"device_id": device_id, "batch_id": uuid.uuid4().hex, "revisions": batch}
        answer = transport.request("POST", f"{API_PREFIX}/push", body=body, compress=True)
        if answer.status_code != 200:
            raise SelfTestFailure(f"the push answered {answer.status_code}: {answer.text}")
        result = PushResponse.model_validate(transport.json(answer)).results[0]
        if result.status != "accepted":
            reasons = "; ".join(f"{r.path}: {r.message}" for r in result.reasons)
            raise SelfTestFailure(f"the household was {result.status}: {reasons}")
        with self.app.state.db.read() as conn:
            stored = conn.execute(
                "SELECT COUNT(*) FROM revisions WHERE revision_id = ?", (revision["revision_id"],)
            ).fetchone()[0]
        if stored != 1:
            raise SelfTestFailure("the server answered 'accepted' but did not store it")
        return f"household of {len(answers['members'])} accepted and stored"

    def sign_in_page(self) -> str:
        import requests

        page = requests.get(self.url + "/login", timeout=10)
        if page.status_code != 200 or 'name="password"' not in page.text:
            raise SelfTestFailure(f"/login answered {page.status_code} without a sign-in form")
        if 'lang="pt"' not in page.text:
            raise SelfTestFailure("the sign-in page is not in Portuguese (translations missing)")
        swagger = requests.get(self.url + "/static/swagger/swagger-ui-bundle.js", timeout=10)
        if swagger.status_code != 200 or len(swagger.content) < 100_000:
            raise SelfTestFailure(f"Swagger UI's script answered {swagger.status_code}")
        return "/login (pt), /docs assets"

    def stop(self) -> str:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=30)
            if self.thread.is_alive():
                raise SelfTestFailure("the server did not stop within 30 s")
            self.server = None
        return ""
