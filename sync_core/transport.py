"""The retrying HTTP transport both sync clients use: the tablet's and the district server's.

`Transport` sends JSON (gzip when asked) to one server and retries connection failures and
5xx answers with exponential backoff and jitter, until a time limit passes without an answer.
`make_batches` cuts revisions into uploads of about `BATCH_TARGET_BYTES` gzipped, the
protocol's unit of upload. Plain `requests`; no Kivy, no SQL.

Exceptions::

    SyncError              a sync or enrollment stopped; the message says why and what to do
    ├── TransportError     the server could not be reached, or kept failing (network, 5xx)
    ├── AuthError          the server refused this device (bad, used or revoked code/token)
    ├── ProtocolError      the server's answer was not what this app understands
    └── Cancelled          the person using the app pressed Cancel

Every SyncError carries a `code`: the server's error code (`unknown-code`, `revoked`, ...)
or the client's own (`unreachable`, `server-error`, `bad-answer`, `not-enrolled`,
`no-server`, `cancelled`). The tablet shows `fieldapp.sync_messages.describe` of it, in
the UI language; the English message here is for logs and tests.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from sync_core.protocol import BATCH_TARGET_BYTES

__all__ = [
    "GIVE_UP_AFTER_S",
    "AuthError",
    "Cancelled",
    "ProtocolError",
    "SyncError",
    "Transport",
    "TransportError",
    "error_message",
    "make_batches",
]

# The tablet's log name, kept from when the transport lived in fieldapp.sync_client.
log = logging.getLogger("fieldapp.sync")

GIVE_UP_AFTER_S = 120.0


class SyncError(Exception):
    """A sync or enrollment stopped. Local data is untouched; it can be tried again."""

    default_code = "failed"

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message)
        self.code = code or self.default_code


class TransportError(SyncError):
    """The server could not be reached, or kept failing, until the time limit."""

    default_code = "unreachable"


class AuthError(SyncError):
    """The server refused this device: enroll again with a new code."""

    default_code = "refused"


class ProtocolError(SyncError):
    """The server answered something unexpected (a bug on one side, or a wrong address)."""

    default_code = "bad-answer"


class Cancelled(SyncError):
    """Cancelled by the person using the app; whatever was acknowledged stays acknowledged."""

    default_code = "cancelled"


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
        first_contact: float | None = None,
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
        # `first_contact`: give up sooner while the server has never answered (the tablet
        # uses 15 s: an address that refuses or never answers says so in seconds, not after
        # two minutes); once it has answered, a slow link gets the full patience.
        self.first_contact = min(first_contact or give_up_after, give_up_after)
        self.answered = False
        self.cancelled = threading.Event()
        self._deadline = time.monotonic() + self.first_contact

    def restart_clock(self) -> None:
        patience = self.give_up_after if self.answered else self.first_contact
        self._deadline = time.monotonic() + patience

    def cancel(self) -> None:
        """Stop at the next request or retry wait (a request in flight ends within its
        timeout). Raises Cancelled in the thread running the sync."""
        self.cancelled.set()

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("Sync cancelled.")

    def backoff(self, attempt: int, why: str) -> None:
        """Sleep before retry number `attempt` (from 0), or raise TransportError if the time
        limit would pass."""
        delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
        delay *= 0.5 + random.random()  # jitter: dozens of tablets reconnect at once
        if time.monotonic() + delay > self._deadline:
            raise TransportError(
                f"Could not reach the sync server at {self.base_url} ({why}). Nothing was "
                "lost: the records stay on this tablet. Try again when the connection is "
                "better.",
                code="server-error" if why.startswith("server error") else "unreachable",
            )
        self.retries += 1
        log.info("retrying in %.1f s (%s)", delay, why)
        if self.sleep is time.sleep:
            self.cancelled.wait(delay)  # Cancel ends the wait at once
        else:
            self.sleep(delay)
        self.check_cancelled()

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
            self.check_cancelled()
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
                    self.answered = True
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
