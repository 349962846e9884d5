"""The tablet's side of the sync protocol (docs/sync-protocol.md). Plain `requests`, no Kivy.

    client = SyncClient(store, "http://192.168.1.10:8000")
    client.enroll("7KQ4-M9XD-2F")            # once; the token is kept in the store
    report = client.sync(progress=callback)  # push, pull, forms; safe to call any time

Built for a 2G link that drops every half minute: revisions go up in small gzip batches
(about 32 KB); before re-sending after any failure the client asks the server which
revisions it already holds durably (`/push/status`) and sends only the others; failures
are retried with exponential backoff and jitter until a time limit, then reported. A sync
stopped at any point loses nothing: the store keeps every revision until acknowledged.

Exceptions (defined with the transport in `sync_core.transport`, re-exported here)::

    SyncError              a sync or enrollment stopped; the message says why and what to do
    ├── TransportError     the server could not be reached, or kept failing (network, 5xx)
    ├── AuthError          the server refused this device (bad, used or revoked code/token)
    ├── ProtocolError      the server's answer was not what this app understands
    └── Cancelled          the enumerator pressed Cancel

Each carries a `code` (the server's error code or the client's own); the UI shows
`fieldapp.sync_messages.describe` of it, in the UI language.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import importlib.metadata
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from fieldapp.attention import CLOCK_SKEW
from fieldapp.media_sync import MediaUploader
from fieldapp.store import Revision
from forms.validation import rejection_reason
from sync_core.protocol import API_PREFIX as API
from sync_core.protocol import BATCH_TARGET_BYTES, parse_enrollment_uri
from sync_core.transport import (
    GIVE_UP_AFTER_S,
    AuthError,
    Cancelled,
    ProtocolError,
    SyncError,
    Transport,
    TransportError,
    error_message,
    make_batches,
)

__all__ = [
    "AuthError",
    "Cancelled",
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

PULL_LIMIT = 100
# The app's clients give up after this long while the server has never answered (see
# sync_core.transport.Transport's first_contact): seconds, not two minutes of spinning.
FIRST_CONTACT_S = 15.0

# Settings kept in the store.
SERVER_URL = "server_url"
TOKEN = "token"
SERVER_ID = "server_id"
CURSOR = "sync_cursor"
IN_FLIGHT = "sync_in_flight"  # revision ids of a push whose answer never came
LAST_SYNC = "last_sync_at"
SITES = "sites"
DECISIONS = "review_decisions"


@dataclass
class SyncProgress:
    """Where a sync is; handed to the progress callback after every step."""

    phase: str = "push"  # "push", "media", "pull", "forms", "done"
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
    media_uploaded: int = 0  # record files the server now holds complete
    media_failed: int = 0  # files not uploaded this time (tried again at the next sync)
    resynced: bool = False
    bytes_sent: int = 0
    bytes_received: int = 0
    retries: int = 0
    last_sync_at: str = ""

    @property
    def sent(self) -> int:
        return self.accepted + self.already_had + self.rejected + self.conflicting_id


REPORT_OUTBOX_CAP = 100_000


def app_version() -> str:
    """This app's version as installed ("0+unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("displacement-field-kit")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        first_contact: float | None = None,
    ):
        self.store = store
        base_url = base_url or store.get_setting(SERVER_URL)
        if not base_url:
            raise SyncError(
                "No sync server address is set. Enter it in Settings.", code="no-server"
            )
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
            first_contact=first_contact,
        )

    def cancel(self) -> None:
        """Stop the sync or enrollment running on another thread, at the next request or
        retry wait (a request in flight ends within its timeout). Nothing is lost."""
        self.transport.cancel()

    # --- enrollment ------------------------------------------------------------------

    def enroll(self, code: str) -> None:
        """Trade a one-time code for this tablet's token; saves server address and token."""
        code, server = parse_enrollment_uri(code)
        if server and server.rstrip("/") != self.base_url:
            self.base_url = server.rstrip("/")
            self.transport.base_url = self.base_url
        self.transport.restart_clock()
        # An enrolled tablet's current token goes along (the transport sends it): it proves
        # the device id is this tablet's, so a new code from the supervisor re-enrolls it.
        response = self.transport.request(
            "POST", f"{API}/enroll", body={"code": code, "device_id": self.store.device_id}
        )
        if response.status_code in (401, 403, 404, 409, 410):
            raise AuthError(
                f"Enrollment refused: {error_message(response)}",
                code=self._error_code(response) or "refused",
            )
        if response.status_code != 200:
            raise ProtocolError(
                f"Enrollment failed: {error_message(response)}",
                code=self._error_code(response) or "bad-answer",
            )
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
            raise AuthError(
                "This tablet is not enrolled. Enter the code from your supervisor.",
                code="not-enrolled",
            )
        self._progress = SyncProgress()
        self._callback = progress
        self.transport.restart_clock()
        retries_before = self.transport.retries
        report = SyncReport()
        self._push(report)
        self._upload_media(report)
        self._pull(report)
        if self._check_state() == "resync":
            log.info("server asked for a full resync")
            report.resynced = True
            self.store.set_setting(CURSOR, 0)
            # Own revisions too: a tablet restored from an old backup gets its later work
            # back (applying a revision it already holds changes nothing).
            self._pull(report, own=True)
        report.last_sync_at = _now()
        self.store.set_setting(LAST_SYNC, report.last_sync_at)
        self._send_device_report()
        report.bytes_sent = self._progress.bytes_sent
        report.bytes_received = self._progress.bytes_received
        report.retries = self.transport.retries - retries_before
        self._report("done")
        return report

    def _upload_media(self, report: SyncReport) -> None:
        """The files of acknowledged records, resumable (`fieldapp.media_sync`)."""
        self._report("media")
        media = MediaUploader(self.store, self.transport).upload_all(
            on_file=lambda _: self._report("media")
        )
        report.media_uploaded, report.media_failed = media.uploaded, len(media.failed)

    def _send_device_report(self) -> None:
        """Tell the coordinator's workspace how this tablet is: app version, outbox size,
        clock. Best effort: a server without the call (404) or a failure here never fails
        the sync that already succeeded."""
        body = {
            "app_version": app_version(),
            "outbox": len(self.store.pending_outbox(limit=REPORT_OUTBOX_CAP)),
            "device_time": _now(),
        }
        try:
            response = self.transport.request("POST", f"{API}/device-report", body=body)
        except SyncError as error:
            log.info("device report not sent: %s", error)
            return
        if response.status_code != 200:
            log.info("device report not taken: HTTP %d", response.status_code)

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
        self.store.mark_rejected(wire["revision_id"], [rejection_reason(code, message)])
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
                            f"{error_message(response)}",
                            code=self._error_code(response) or "refused")  # fmt: skip
        raise ProtocolError(f"The server refused a request while {doing}: "
                            f"{error_message(response)}",
                            code=self._error_code(response) or "bad-answer")  # fmt: skip

    def _pull(self, report: SyncReport, *, own: bool = False) -> None:
        cursor = int(self.store.get_setting(CURSOR) or 0)
        while True:
            self._report("pull")
            params: dict[str, Any] = {"cursor": cursor, "limit": self.pull_limit}
            if own:
                params["own"] = "true"
            response = self.transport.request("GET", f"{API}/pull", params=params)
            self._raise_for_status(response, "receiving records")
            self._note_clock_skew(response)
            page = self.transport.json(response)
            for wire in page["revisions"]:
                try:
                    revision = Revision.from_wire(wire)
                except ValueError as error:
                    raise ProtocolError(f"The server sent a malformed revision: {error}") from None
                merged = wire.get("merged_from")
                supersedes = (
                    [h for h in merged if isinstance(h, str)] if isinstance(merged, list) else []
                )
                if self.store.apply_remote(revision, supersedes=supersedes):
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

    def _note_clock_skew(self, response: requests.Response) -> None:
        """Save how far this tablet's wall clock is from the server's (from the HTTP Date
        header, to the second): the app warns beyond the drift bound, because the edits of
        a tablet with a wrong clock lose (or win) conflicts they shouldn't."""
        date = response.headers.get("date")
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        skew = time.time() - server.timestamp()
        self.store.set_setting(CLOCK_SKEW, round(skew))

    def _download_forms(self, forms: list[dict[str, Any]], report: SyncReport) -> None:
        cached = {(row["form_id"], row["version"]) for row in self.store.cached_forms()}
        for info in forms:
            key = (info["form_id"], info["version"])
            if key in cached:
                # The form never changes, but a file the server writes itself (the site
                # list, sites.csv) does: fetch whichever attachment's sha256 is new.
                self._download_attachments(key, info.get("attachments") or [])
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
            # Its files first: a form is cached only once everything it needs is here, so
            # an interrupted download is simply done again at the next sync.
            self._download_attachments(key, info.get("attachments") or [])
            self.store.cache_form(key[0], key[1], info["title"], content, source="server")
            report.forms_downloaded.append(f"{key[0]}@{key[1]}")

    def _download_attachments(self, key: tuple[str, str], attachments: list[dict]) -> None:
        from fieldapp.catalog import form_attachment_dir

        folder = form_attachment_dir(self.store, *key)
        for attachment in attachments:
            name = str(attachment["name"])
            if "/" in name or "\\" in name or name.startswith("."):
                raise ProtocolError(f"Form {key[0]} lists an attachment with a bad name {name!r}.")
            target = folder / name
            if (
                target.is_file()
                and hashlib.sha256(target.read_bytes()).hexdigest() == (attachment["sha256"])
            ):
                continue
            response = self.transport.request(
                "GET", f"{API}/forms/{key[0]}/{key[1]}/attachments/{name}"
            )
            self._raise_for_status(response, f"downloading {name} of form {key[0]}")
            if hashlib.sha256(response.content).hexdigest() != attachment["sha256"]:
                raise ProtocolError(
                    f"{name} of form {key[0]} version {key[1]} arrived damaged (checksum "
                    "mismatch); sync again."
                )
            folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{name}.partial")
            partial.write_bytes(response.content)
            partial.replace(target)

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
