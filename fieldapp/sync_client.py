"""The tablet's side of the sync protocol (docs/sync-protocol.md). Plain `requests`, no Kivy.

    client = SyncClient(store, "http://192.168.1.10:8000")
    client.enroll("7KQ4-M9XD-2F")            # once; the token is kept in the store
    report = client.sync(progress=callback)  # push, pull, forms; safe to call any time

Built for a 2G link that drops every half minute: revisions go up in small gzip batches
(about 32 KB); before re-sending after any failure the client asks the server which
revisions it already holds durably (`/push/status`) and sends only the others; failures
are retried with exponential backoff and jitter until a time limit, then reported. A sync
stopped at any point loses nothing: the store keeps every revision until acknowledged.

Exceptions::

    SyncError              a sync or enrollment stopped; the message says why and what to do
    ├── TransportError     the server could not be reached, or kept failing (network, 5xx)
    ├── AuthError          the server refused this device (bad, used or revoked code/token)
    └── ProtocolError      the server's answer was not what this app understands
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from fieldapp.store import Revision

__all__ = [
    "AuthError",
    "ProtocolError",
    "SyncClient",
    "SyncError",
    "SyncProgress",
    "SyncReport",
    "Transport",
    "TransportError",
    "make_batches",
    "parse_enrollment_uri",
]

log = logging.getLogger("fieldapp.sync")

API = "/api/v1"
BATCH_TARGET_BYTES = 32 * 1024  # compressed; about 4 s at 64 kbit/s
PULL_LIMIT = 100
GIVE_UP_AFTER_S = 120.0

# Settings kept in the store.
SERVER_URL = "server_url"
TOKEN = "token"
SERVER_ID = "server_id"
CURSOR = "sync_cursor"
IN_FLIGHT = "sync_in_flight"  # revision ids of a push whose answer never came
LAST_SYNC = "last_sync_at"
SITES = "sites"
DECISIONS = "review_decisions"


class SyncError(Exception):
    """A sync or enrollment stopped. Local data is untouched; it can be tried again."""


class TransportError(SyncError):
    """The server could not be reached, or kept failing, until the time limit."""


class AuthError(SyncError):
    """The server refused this device: enroll again with a new code."""


class ProtocolError(SyncError):
    """The server answered something unexpected (a bug on one side, or a wrong address)."""


@dataclass
class SyncProgress:
    """Where a sync is; handed to the progress callback after every step."""

    phase: str = "push"  # "push", "pull", "forms", "done"
    records_total: int = 0  # revisions to send
    records_sent: int = 0
    records_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class SyncReport:
    accepted: int = 0
    already_had: int = 0
    rejected: int = 0
    conflicting_id: int = 0
    received: int = 0  # revisions pulled and applied
    forms_downloaded: list[str] = field(default_factory=list)  # "form_id@version"
    decisions: int = 0
    resynced: bool = False
    bytes_sent: int = 0
    bytes_received: int = 0
    retries: int = 0
    last_sync_at: str = ""

    @property
    def sent(self) -> int:
        return self.accepted + self.already_had + self.rejected + self.conflicting_id


def parse_enrollment_uri(text: str) -> tuple[str, str | None]:
    """(code, server address or None) from a scanned QR code or a typed code."""
    text = text.strip()
    if text.startswith("dfk://enroll"):
        query = parse_qs(urlparse(text).query)
        server = query.get("server", [None])[0]
        return query.get("code", [""])[0], server
    return text, None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Transport:
    """HTTP to one server: JSON in and out, errors mapped to the SyncError tree, retries.

    `request()` retries connection failures and 5xx answers with exponential backoff and
    jitter until `give_up_after` seconds have passed without an answer from the server,
    then raises TransportError. `on_bytes(sent, received)` counts
    what crossed the wire.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        give_up_after: float = GIVE_UP_AFTER_S,
        backoff_base: float = 0.5,
        backoff_cap: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        on_bytes: Callable[[int, int], None] | None = None,
        language: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.language = language  # the server words rejection reasons in it
        self.session = session or requests.Session()
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.on_bytes = on_bytes
        self.retries = 0
        self._deadline = time.monotonic() + give_up_after

    def restart_clock(self) -> None:
        self._deadline = time.monotonic() + self.give_up_after

    def backoff(self, attempt: int, why: str) -> None:
        """Sleep before retry number `attempt` (from 0), or raise TransportError if the time
        limit would pass."""
        delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
        delay *= 0.5 + random.random()  # jitter: dozens of tablets reconnect at once
        if time.monotonic() + delay > self._deadline:
            raise TransportError(
                f"Could not reach the sync server at {self.base_url} ({why}). Nothing was "
                "lost: the records stay on this tablet. Try again when the connection is "
                "better."
            )
        self.retries += 1
        log.info("retrying in %.1f s (%s)", delay, why)
        self.sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        compress: bool = False,
        params: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """Send and return a 2xx or 4xx response; 4xx are for the caller to interpret."""
        data = None
        headers = {"Accept": "application/json"}
        if self.language:
            headers["Accept-Language"] = self.language
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
            if compress:
                data = gzip.compress(data, mtime=0)
                headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            why = ""
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                )
                received = int(response.headers.get("Content-Length") or len(response.content))
                if self.on_bytes:
                    self.on_bytes(len(data or b"") + len(path) + 200, received + 200)
                if response.status_code < 500:
                    # The limit is on time without progress: a long sync over a slow link
                    # that keeps getting answers never gives up.
                    self.restart_clock()
                    return response
                why = f"server error {response.status_code}"
            except (requests.ConnectionError, requests.Timeout) as error:
                why = f"connection failed: {type(error).__name__}"
            except requests.exceptions.ChunkedEncodingError:
                why = "connection cut while receiving"
            if not retry:
                raise TransportError(why)
            self.backoff(attempt, why)
            attempt += 1

    def json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(
                f"The server at {self.base_url} did not answer with JSON (HTTP "
                f"{response.status_code}). Check the server address."
            ) from None


def error_message(response: requests.Response) -> str:
    """The server's explanation of a 4xx (its `message`), or the status line."""
    try:
        body = response.json()
        message = body.get("message") or response.reason
        problems = body.get("problems") or []
        if problems:
            message += " " + "; ".join(
                f"{p.get('where') or p.get('revision_id', '')}: {p.get('message', '')}".strip()
                for p in problems[:5]
            )
        return message
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code} {response.reason}"


def make_batches(
    wires: Sequence[dict[str, Any]], target_bytes: int = BATCH_TARGET_BYTES
) -> list[list[dict[str, Any]]]:
    """Group revisions so that each batch's gzip is at most about `target_bytes`.

    A single revision larger than that travels alone.
    """
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    raw_size = 0
    for wire in wires:
        size = len(json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode())
        if current and raw_size + size > target_bytes:
            # The raw size overestimates the gzip size; compress only when it matters.
            candidate = json.dumps({"revisions": [*current, wire]}).encode()
            if len(gzip.compress(candidate, compresslevel=6)) > target_bytes:
                batches.append(current)
                current, raw_size = [], 0
        current.append(wire)
        raw_size += size
    if current:
        batches.append(current)
    return batches


class SyncClient:
    """Syncs one tablet's store with its server. See the module docstring.

    `base_url` and `token` default to the ones saved in the store's settings by `enroll()`.
    Pass `session` to use a custom requests session (tests inject network faults there).
    """

    def __init__(
        self,
        store: Any,
        base_url: str | None = None,
        token: str | None = None,
        *,
        session: requests.Session | None = None,
        give_up_after: float = GIVE_UP_AFTER_S,
        batch_bytes: int = BATCH_TARGET_BYTES,
        pull_limit: int = PULL_LIMIT,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        base_url = base_url or store.get_setting(SERVER_URL)
        if not base_url:
            raise SyncError("No sync server address is set. Enter it on the set-up screen.")
        self.base_url = base_url.rstrip("/")
        self.batch_bytes = batch_bytes
        self.pull_limit = pull_limit
        self._progress = SyncProgress()
        self._callback: Callable[[SyncProgress], None] | None = None
        self.transport = Transport(
            self.base_url,
            token or store.get_setting(TOKEN),
            language=store.get_setting("language"),
            session=session,
            timeout=timeout,
            give_up_after=give_up_after,
            sleep=sleep,
            on_bytes=self._count_bytes,
        )

    # --- enrollment ------------------------------------------------------------------

    def enroll(self, code: str) -> None:
        """Trade a one-time code for this tablet's token; saves server address and token."""
        code, server = parse_enrollment_uri(code)
        if server and server.rstrip("/") != self.base_url:
            self.base_url = server.rstrip("/")
            self.transport.base_url = self.base_url
        self.transport.restart_clock()
        response = self.transport.request(
            "POST", f"{API}/enroll", body={"code": code, "device_id": self.store.device_id}
        )
        if response.status_code in (401, 403, 404, 409, 410):
            raise AuthError(f"Enrollment refused: {error_message(response)}")
        if response.status_code != 200:
            raise ProtocolError(f"Enrollment failed: {error_message(response)}")
        body = self.transport.json(response)
        self.transport.token = body["token"]
        self.store.set_setting(SERVER_URL, self.base_url)
        self.store.set_setting(TOKEN, body["token"])
        self.store.set_setting(SERVER_ID, body["server_id"])
        self.store.set_setting("district", body["district"])
        self.store.set_setting("assigned_sites", body["sites"])

    # --- sync ------------------------------------------------------------------------

    def sync(self, progress: Callable[[SyncProgress], None] | None = None) -> SyncReport:
        """Push everything waiting, pull everything new, download new form versions.

        Raises TransportError when the server stays unreachable past the time limit,
        AuthError when the token is refused, ProtocolError on an answer it can't use.
        Whatever was acknowledged before an error stays acknowledged.
        """
        if not self.transport.token:
            raise AuthError("This tablet is not enrolled. Enter the code from your supervisor.")
        self._progress = SyncProgress()
        self._callback = progress
        self.transport.restart_clock()
        retries_before = self.transport.retries
        report = SyncReport()
        self._push(report)
        self._pull(report)
        if self._check_state() == "resync":
            log.info("server asked for a full resync")
            report.resynced = True
            self.store.set_setting(CURSOR, 0)
            self._pull(report)
        report.last_sync_at = _now()
        self.store.set_setting(LAST_SYNC, report.last_sync_at)
        report.bytes_sent = self._progress.bytes_sent
        report.bytes_received = self._progress.bytes_received
        report.retries = self.transport.retries - retries_before
        self._report("done")
        return report

    def _count_bytes(self, sent: int, received: int) -> None:
        self._progress.bytes_sent += sent
        self._progress.bytes_received += received

    def _report(self, phase: str) -> None:
        self._progress.phase = phase
        if self._callback is not None:
            self._callback(SyncProgress(**vars(self._progress)))

    def _push(self, report: SyncReport) -> None:
        in_flight = self.store.get_setting(IN_FLIGHT) or []
        if in_flight:
            # The answer to the last push never came: the server may hold those already.
            self._acknowledge_held(in_flight, report)
            self.store.set_setting(IN_FLIGHT, [])
        pending = self.store.pending_outbox(limit=1_000_000)
        self._progress.records_total = len(pending)
        self._report("push")
        for batch in make_batches([r.to_wire() for r in pending], self.batch_bytes):
            self._push_batch(batch, report)

    def _acknowledge_held(self, revision_ids: list[str], report: SyncReport) -> set[str]:
        held: set[str] = set()
        for start in range(0, len(revision_ids), 1000):
            chunk = revision_ids[start : start + 1000]
            response = self.transport.request(
                "POST", f"{API}/push/status", body={"revision_ids": chunk}, compress=False
            )
            self._raise_for_status(response, "checking which records the server has")
            held.update(self.transport.json(response)["have"])
        if held:
            self.store.acknowledge(sorted(held))
            report.already_had += len(held)
            self._progress.records_sent += len(held)
        return held

    def _push_batch(self, batch: list[dict[str, Any]], report: SyncReport) -> None:
        """Send one batch until every revision in it has an answer."""
        remaining = list(batch)
        batch_id = uuid.uuid4().hex[:16]
        attempt = 0
        while remaining:
            ids = [w["revision_id"] for w in remaining]
            self.store.mark_attempted(ids)
            self.store.set_setting(IN_FLIGHT, ids)
            body = {"device_id": self.store.device_id, "batch_id": batch_id, "revisions": remaining}
            try:
                response = self.transport.request(
                    "POST", f"{API}/push", body=body, compress=True, retry=False
                )
            except TransportError as error:
                self.transport.backoff(attempt, str(error))
                attempt += 1
                # Ask before re-sending: the server may have committed the batch and only
                # the answer was lost.
                held = self._acknowledge_held(ids, report)
                remaining = [w for w in remaining if w["revision_id"] not in held]
                continue
            self.store.set_setting(IN_FLIGHT, [])
            if response.status_code in (200, 422):
                self._apply_results(self.transport.json(response), report)
                self._report("push")
                return
            if response.status_code == 413 and len(remaining) > 1:
                half = len(remaining) // 2
                self._push_batch(remaining[:half], report)
                self._push_batch(remaining[half:], report)
                return
            if response.status_code == 413:
                self._reject(remaining[0], "too-large", error_message(response), report)
                return
            if response.status_code == 403 and self._error_code(response) == "out-of-scope":
                refused = {p["revision_id"]: p["message"] for p in response.json()["problems"]}
                for wire in remaining:
                    if wire["revision_id"] in refused:
                        message = (
                            f"The server does not accept this record from this tablet "
                            f"({refused[wire['revision_id']]}). Check its district and site."
                        )
                        self._reject(wire, "out-of-scope", message, report)
                remaining = [w for w in remaining if w["revision_id"] not in refused]
                continue
            self._raise_for_status(response, "sending records")
            raise ProtocolError(f"Unexpected answer to a push: HTTP {response.status_code}")

    def _apply_results(self, body: dict[str, Any], report: SyncReport) -> None:
        acknowledged = []
        for result in body["results"]:
            status = result["status"]
            if status in ("accepted", "already-had"):
                acknowledged.append(result["revision_id"])
                if status == "accepted":
                    report.accepted += 1
                else:
                    report.already_had += 1
            elif status == "rejected":
                report.rejected += 1
                self.store.mark_rejected(result["revision_id"], result["reasons"])
            elif status == "conflicting-id":
                report.conflicting_id += 1
                self.store.mark_rejected(result["revision_id"], result["reasons"])
            self._progress.records_sent += 1
        if acknowledged:
            self.store.acknowledge(acknowledged)

    def _reject(self, wire: dict[str, Any], code: str, message: str, report: SyncReport) -> None:
        reason = {"path": "", "field": "", "code": code, "message": message}
        self.store.mark_rejected(wire["revision_id"], [reason])
        report.rejected += 1
        self._progress.records_sent += 1

    @staticmethod
    def _error_code(response: requests.Response) -> str:
        try:
            return str(response.json().get("error", ""))
        except (ValueError, AttributeError):
            return ""

    def _raise_for_status(self, response: requests.Response, doing: str) -> None:
        if response.status_code < 400:
            return
        if response.status_code in (401, 403):
            raise AuthError(f"The server refused this tablet while {doing}: "
                            f"{error_message(response)}")  # fmt: skip
        raise ProtocolError(f"The server refused a request while {doing}: "
                            f"{error_message(response)}")  # fmt: skip

    def _pull(self, report: SyncReport) -> None:
        cursor = int(self.store.get_setting(CURSOR) or 0)
        while True:
            self._report("pull")
            response = self.transport.request(
                "GET", f"{API}/pull", params={"cursor": cursor, "limit": self.pull_limit}
            )
            self._raise_for_status(response, "receiving records")
            page = self.transport.json(response)
            for wire in page["revisions"]:
                try:
                    revision = Revision.from_wire(wire)
                except ValueError as error:
                    raise ProtocolError(f"The server sent a malformed revision: {error}") from None
                if self.store.apply_remote(revision):
                    report.received += 1
                self._progress.records_received += 1
            if page.get("decisions"):
                report.decisions += len(page["decisions"])
                kept = (self.store.get_setting(DECISIONS) or []) + page["decisions"]
                self.store.set_setting(DECISIONS, kept[-200:])
            cursor = int(page["cursor"])
            # Saved after the page is applied: a cut here re-pulls it, harmlessly.
            self.store.set_setting(CURSOR, cursor)
            self.store.set_setting(SERVER_ID, page["server_id"])
            if not page["more"]:
                if page.get("sites") is not None:
                    self.store.set_setting(SITES, page["sites"])
                self._download_forms(page.get("forms") or [], report)
                return

    def _download_forms(self, forms: list[dict[str, Any]], report: SyncReport) -> None:
        cached = {(row["form_id"], row["version"]) for row in self.store.cached_forms()}
        for info in forms:
            key = (info["form_id"], info["version"])
            if key in cached:
                continue
            self._report("forms")
            response = self.transport.request("GET", f"{API}/forms/{key[0]}/{key[1]}")
            self._raise_for_status(response, f"downloading form {key[0]} version {key[1]}")
            content = response.content
            if hashlib.sha256(content).hexdigest() != info["sha256"]:
                raise ProtocolError(
                    f"Form {key[0]} version {key[1]} arrived damaged (checksum mismatch); "
                    "sync again."
                )
            self.store.cache_form(key[0], key[1], info["title"], content, source="server")
            report.forms_downloaded.append(f"{key[0]}@{key[1]}")

    def _check_state(self) -> str:
        body: dict[str, Any] = {
            "cursor": int(self.store.get_setting(CURSOR) or 0),
            "server_id": self.store.get_setting(SERVER_ID),
        }
        digest = self.scope_digest()
        if digest is not None:
            body["digest"] = digest
        response = self.transport.request("POST", f"{API}/state", body=body)
        self._raise_for_status(response, "checking the sync state")
        return self.transport.json(response)["status"]

    def scope_digest(self) -> str | None:
        """sha256 over 'record_id head_revision_id' lines of every record, sorted; None
        while some record has local work (a draft, or an edit not yet accepted), because
        then this tablet's head is not the server's by design."""
        rows = self.store.records(limit=10_000_000)
        if any(row.state != "sent" for row in rows):
            return None
        digest = hashlib.sha256()
        for record_id in sorted(row.record_id for row in rows):
            head = self.store.draft(record_id).head_revision_id
            digest.update(f"{record_id} {head}\n".encode())
        return digest.hexdigest()
