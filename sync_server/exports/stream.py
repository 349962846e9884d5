"""An export streamed over HTTP: bytes leave while the rows are still being read.

    prepared = prepare(db, options, principal=who)     # ExportError here: a clean 4xx
    body = stream(prepared, spool_dir)                  # async iterator of bytes chunks
    return StreamingResponse(body, ...)

A worker thread writes the export (`Prepared.write`) into a `Pipe`, a write-only byte
stream that cuts what it receives into CHUNK_BYTES pieces and hands them over through a
bounded queue; the response's async iterator takes them out. The queue's bound is the
back-pressure: a slow browser slows the export, so memory holds at most DEPTH chunks
whatever the size of the export.

The worker owns the export's snapshot (one read-only connection with one read
transaction, opened by `prepare`) from the first row to the last, so a push committed
while the download runs is not half in it.

The audit entry is written when the last row is out, just before the last chunk is
handed over ('ok'), or when the browser goes away ('cut'): a full export is on record
even when its download did not finish.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from anyio import to_thread

from sync_server.exports.run import Prepared

log = logging.getLogger("sync_server.exports")

CHUNK_BYTES = 64 * 1024
DEPTH = 16  # chunks waiting for the browser: at most 1 MiB per download
# A reader that takes nothing for this long is gone (a response cancelled before its
# first chunk never closes its iterator): the export stops and its snapshot is released,
# so a read transaction never stays open for good.
STALL_SECONDS = 300
_DONE = object()


class Cancelled(Exception):
    """The reader went away (the browser closed the download)."""


class Pipe(io.RawIOBase):
    """Bytes written in one thread, read as chunks in another. Not seekable: zipfile
    then writes each entry's sizes after its data, as a stream needs."""

    def __init__(self, chunk_bytes: int = CHUNK_BYTES, depth: int = DEPTH):
        super().__init__()
        self.chunk_bytes = chunk_bytes
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.buffer = bytearray()
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        if self.cancelled.is_set():
            raise Cancelled
        self.buffer += data
        while len(self.buffer) >= self.chunk_bytes:
            self._put(bytes(self.buffer[: self.chunk_bytes]))
            del self.buffer[: self.chunk_bytes]
        return len(data)

    def _put(self, item: object) -> None:
        waited = 0.0
        while True:
            if self.cancelled.is_set():
                raise Cancelled
            if waited > STALL_SECONDS:  # nobody reads: the response never started or hung
                self.cancelled.set()
                raise Cancelled
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                waited += 0.2

    def finish(self) -> None:
        """The writer is done: the rest of the bytes, then the end."""
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()
        self._put(_DONE)

    def fail(self, error: BaseException) -> None:
        """The writer failed: the reader raises it (the download is cut, not truncated
        silently: the browser marks it failed)."""
        with contextlib.suppress(Cancelled):
            self._put(error)

    def get(self) -> bytes | None:
        """The next chunk, None at the end; raises the writer's error."""
        item = self.queue.get()
        if item is _DONE:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]

    def cancel(self) -> None:
        self.cancelled.set()
        while True:  # unblock a writer waiting on a full queue
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return


def stream(prepared: Prepared, spool_dir: Path) -> AsyncIterator[bytes]:
    """Start writing `prepared` on a worker thread; the chunks as they come."""
    pipe = Pipe()

    def produce() -> None:
        try:
            summary = prepared.write(pipe, spool_dir)
            prepared.audit(summary)
            pipe.finish()
        except Cancelled:
            prepared.audit(None, outcome="cut")
        except BaseException as error:  # the reader re-raises it
            log.error("streamed export failed: %s", type(error).__name__)
            pipe.fail(error)

    worker = threading.Thread(target=produce, name="export-stream", daemon=True)
    worker.start()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while (chunk := await to_thread.run_sync(pipe.get)) is not None:
                yield chunk
        finally:
            # Finished, failed, or the browser went away: the worker stops either way.
            pipe.cancel()

    return chunks()
