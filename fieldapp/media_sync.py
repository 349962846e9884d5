"""Upload a record's files (photos, recordings, files, `audit.csv`) after the record.

Built for the same 2G link as the rest of the sync: each file goes up in chunks of
`sync_core.media.CHUNK_BYTES`; before sending, the uploader asks the server how many bytes
it already holds (`GET …/status`) and starts there, so a connection dropped in the middle
of a 3 MB photo costs one chunk, never the photo. Every chunk carries its sha256 and the
file's sha256 is checked by the server at the end; only then does the tablet note the file
as uploaded (`Store.mark_media_uploaded`). Files are never deleted from the tablet here.

A file whose record the server doesn't hold (yet), or that the server refuses (too large,
a type it doesn't accept), is reported and tried again at the next sync; it never stops
the other files. Authentication failures stop the sync like any other request.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from fieldapp.store import PendingMedia
from sync_core.media import CHUNK_BYTES
from sync_core.protocol import API_PREFIX as API
from sync_core.transport import AuthError, ProtocolError, Transport, error_message

log = logging.getLogger("fieldapp.sync")

# A chunk refused as damaged this many times in a row: give up on the file for this sync
# (a link that corrupts every chunk needs a person, not a loop).
MAX_CHECKSUM_RETRIES = 3
# Chunks cut off this many times in a row without the server gaining a byte: leave the
# file for the next sync (the link is down, or drops faster than any chunk can cross).
MAX_FAILED_CHUNKS = 8
# A cut-off chunk halves the next one (a link that drops every few seconds still gets
# small chunks through); each chunk that gets through doubles it back, up to chunk_bytes.
MIN_CHUNK_BYTES = 4 * 1024


@dataclass
class MediaReport:
    uploaded: int = 0  # files the server now holds complete
    bytes_sent: int = 0  # file bytes sent in chunks (retries included)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # record, name, code


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class MediaUploader:
    """Sends the store's pending files through `transport` (its token, retries, cancel)."""

    def __init__(
        self,
        store: Any,
        transport: Transport,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        adaptive: bool = True,
    ):
        self.store = store
        self.transport = transport
        self.chunk_bytes = chunk_bytes
        self.adaptive = adaptive  # halve chunks after a cut (benchmarks turn it off)

    def upload_all(self, on_file: Any = None) -> MediaReport:
        """Upload every file ready to go; `on_file(report)` after each one."""
        report = MediaReport()
        for item in self.store.pending_media():
            code = self.upload(item, report)
            if code:
                report.failed.append((item.record_id, item.name, code))
            else:
                report.uploaded += 1
            if on_file is not None:
                on_file(report)
        return report

    def _url(self, item: PendingMedia) -> str:
        return f"{API}/media/{item.record_id}/{item.name}"

    def _status(self, item: PendingMedia) -> dict[str, Any] | None:
        response = self.transport.request("GET", self._url(item) + "/status")
        if response.status_code == 200:
            return self.transport.json(response)
        self._raise_for_auth(response)
        return None

    def _raise_for_auth(self, response: requests.Response) -> None:
        if response.status_code in (401, 403):
            code = _code(response)
            raise AuthError(f"The server refused a file upload: {error_message(response)}",
                            code=code or "refused")  # fmt: skip

    def upload(self, item: PendingMedia, report: MediaReport) -> str:
        """Send one file from the server's offset to its end. '' when the server holds it
        complete, else the error code that stopped it (tried again at the next sync)."""
        size = item.file.stat().st_size
        sha256 = file_sha256(item.file)
        status = self._status(item)
        if status is None:
            return "not-found"
        damaged = failed = attempt = 0
        chunk_bytes = self.chunk_bytes
        while not status["complete"]:
            offset = int(status["received"])
            with item.file.open("rb") as source:
                source.seek(offset)
                chunk = source.read(chunk_bytes)
            params = {
                "offset": offset,
                "size": size,
                "sha256": sha256,
                "chunk_sha256": hashlib.sha256(chunk).hexdigest(),
            }
            response = self._put(item, params, chunk)
            report.bytes_sent += len(chunk)
            if response is None or response.status_code >= 500:
                # Cut off or a server failure: wait, then ask what arrived (maybe all of it).
                failed += 1
                if failed > MAX_FAILED_CHUNKS:
                    return "unreachable"
                if self.adaptive:
                    chunk_bytes = max(MIN_CHUNK_BYTES, chunk_bytes // 2)
                self.transport.backoff(attempt, "file upload interrupted")
                attempt += 1
                status = self._status(item)
                if status is None:
                    return "not-found"
                if int(status["received"]) > offset:
                    failed = 0  # the chunk arrived; only its answer was lost
                continue
            attempt = failed = 0
            if self.adaptive:
                chunk_bytes = min(self.chunk_bytes, chunk_bytes * 2)
            code = _code(response)
            if response.status_code == 200:
                status = response.json()
            elif response.status_code == 409 and code == "offset":
                status = self._status(item) or {"complete": False, "received": 0}
            elif response.status_code == 422 and code == "checksum":
                damaged += 1
                if damaged > MAX_CHECKSUM_RETRIES:
                    return code
                status = self._status(item) or {"complete": False, "received": 0}
            else:
                self._raise_for_auth(response)
                log.info("file not uploaded: HTTP %d %s", response.status_code, code)
                return code or f"http-{response.status_code}"
        if status.get("sha256") not in (None, sha256):
            raise ProtocolError("The server reports another sha256 for an uploaded file.")
        self.store.mark_media_uploaded(item.record_id, item.name, sha256, size)
        return ""

    def _put(
        self, item: PendingMedia, params: dict[str, Any], chunk: bytes
    ) -> requests.Response | None:
        """One chunk, one attempt: None when the connection failed."""
        self.transport.check_cancelled()
        headers = {"Content-Type": "application/octet-stream", "Accept": "application/json"}
        if self.transport.token:
            headers["Authorization"] = f"Bearer {self.transport.token}"
        try:
            response = self.transport.session.put(
                self.transport.base_url + self._url(item),
                params=params,
                data=chunk,
                headers=headers,
                timeout=self.transport.timeout,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ):
            return None
        if self.transport.on_bytes:
            self.transport.on_bytes(len(chunk) + 400, len(response.content) + 200)
        if response.status_code < 500:
            self.transport.answered = True
            self.transport.restart_clock()
        return response


def _code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""
