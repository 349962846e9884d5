"""Guards in front of the endpoints: JSON bodies only, and a throttle on enrollment.

- `JsonBodiesOnly` (ASGI middleware): every POST under /api/ must say
  `Content-Type: application/json` (a charset parameter is fine; the body may be gzip with
  `Content-Encoding: gzip`). Anything else is `415 content-type` before any endpoint runs:
  a form post or a `text/plain` body from a browser page can never reach the API. The one
  exception is a record file's chunk (`PUT /api/v1/media/{record_id}/{name}`, see
  `sync_server.media`): there, and only there, `application/octet-stream` passes, and the
  endpoint itself takes nothing else. A form post can't send a PUT.
- `EnrollThrottle`: failed enrollment attempts drain a token bucket per client address and
  one for the whole server. While a bucket is empty, /enroll answers `429 rate-limited` with
  `Retry-After`. A code has about 50 bits, so guessing is hopeless anyway; the throttle keeps
  a flood from costing the server its writer, and the audit log shows who tried (by a
  keyed hash of the address, never the address or the code tried).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON_MEDIA_TYPE = "application/json"
BINARY_MEDIA_TYPE = b"application/octet-stream"
# The only requests whose body may be binary: a chunk of a record's file.
BINARY_BODIES = re.compile(r"^/api/v1/media/[^/]+/[^/]+$")


class JsonBodiesOnly:
    """Refuse POSTs under `prefix` with a body whose Content-Type is not application/json
    (415)."""

    def __init__(self, app: Any, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PUT", "PATCH")
            and scope["path"].startswith(self.prefix)
        ):
            headers = dict(scope.get("headers") or [])
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            # An action with no body at all (confirm a duplicate pair, …) has nothing to
            # misread; any body must say it is JSON.
            has_body = (
                headers.get(b"content-length", b"0").strip() not in (b"", b"0")
                or b"transfer-encoding" in headers
            )
            binary_ok = (
                scope["method"] == "PUT"
                and media == BINARY_MEDIA_TYPE
                and BINARY_BODIES.match(scope["path"]) is not None
            )
            if has_body and media != JSON_MEDIA_TYPE.encode() and not binary_ok:
                shown = media.decode("latin-1")[:60] or "none"
                body = json.dumps(
                    {
                        "error": "content-type",
                        "message": f"Content-Type {shown!r} is not accepted: send the body as "
                        "JSON with 'Content-Type: application/json' (optionally gzip with "
                        "'Content-Encoding: gzip'). Nothing was stored.",
                        "problems": [],
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@dataclass
class Bucket:
    """A token bucket: `capacity` tokens, refilled at `per_second`."""

    capacity: float
    per_second: float
    tokens: float = field(default=-1.0)
    at: float = 0.0

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens, self.at = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0: there is one now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens = max(0.0, self.tokens - 1)


class EnrollThrottle:
    """Failed enrollment attempts per client address and in total, as token buckets.

    Defaults: 10 failures in a row per address, then one more every 6 s; 100 in total, then
    one more every 0.6 s. Successful enrollments cost nothing: an office enrolling twenty
    tablets from one address is never held back.
    """

    def __init__(
        self,
        *,
        per_address: int = 10,
        per_address_per_minute: float = 10,
        total: int = 100,
        total_per_minute: float = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_address = (per_address, per_address_per_minute / 60)
        self._global = Bucket(total, total_per_minute / 60)
        self._addresses: dict[str, Bucket] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def _bucket(self, address: str) -> Bucket:
        bucket = self._addresses.get(address)
        if bucket is None:
            if len(self._addresses) > 10_000:  # bounded memory under a spoofed flood
                self._addresses.clear()
            bucket = self._addresses[address] = Bucket(*self._per_address)
        return bucket

    def retry_after(self, address: str) -> int:
        """Whole seconds this address must wait before trying (0: it may try now)."""
        with self._lock:
            now = self._clock()
            wait = max(self._bucket(address).wait(now), self._global.wait(now))
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            self._bucket(address).take(now)
            self._global.take(now)


def address_tag(secret: str, address: str) -> str:
    """A keyed hash of a client address for the audit log: repeated attempts from one
    address can be told apart from a spread attack, without storing the address."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]
