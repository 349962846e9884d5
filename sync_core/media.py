"""Record media on the wire: what tablet and server agree on for photos, recordings and files.

A record's answers name its files (`"photo": "5f0c…e1.jpg"`); the files themselves travel
apart, after the revision that names them is accepted, in resumable chunks:

    GET  /api/v1/media/{record_id}/{name}/status      -> {"received": n, "complete": ...}
    PUT  /api/v1/media/{record_id}/{name}?offset=n&size=…&sha256=…&chunk_sha256=…
         Content-Type: application/octet-stream       (one chunk, at most MAX_CHUNK_BYTES)
    GET  /api/v1/media/{record_id}/{name}              -> the file, once complete

The server's copy is the truth: a client always asks for the offset the server holds and
sends from there, so a connection dropped mid-file costs at most one chunk, never the file.
This module is the one home of the limits, the accepted types and `media_references`, the
rule that says which answers name files. No HTTP, no SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from forms.paths import format_path

__all__ = [
    "CHUNK_BYTES",
    "CONTENT_TYPES",
    "MAX_CHUNK_BYTES",
    "MAX_MEDIA_BYTES",
    "content_type",
    "is_media_name",
    "media_references",
]

# One chunk takes about 8 s at 64 kbit/s (a loaded 2G link): a drop costs at most that.
CHUNK_BYTES = 64 * 1024
# The server takes larger chunks from clients on a good link, never a whole video at once.
MAX_CHUNK_BYTES = 1024 * 1024
# A minute of phone video, or a long interview recording; ODK Collect's default video
# quality makes about 10 MB a minute.
MAX_MEDIA_BYTES = 64 * 1024 * 1024

# The file types a form's image, audio, video and file questions (and `audit`) produce, by
# extension: anything else is refused, so a record can't carry an executable to the office.
CONTENT_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "amr": "audio/amr",
    "aac": "audio/aac",
    "3gp": "video/3gpp",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "pdf": "application/pdf",
    "csv": "text/csv",
    "txt": "text/plain",
}

# The app names files itself (a uuid and the extension, or `audit.csv`): no path separators,
# no leading dot, nothing a file system or a URL would read differently.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.([A-Za-z0-9]{1,5})$")


def is_media_name(name: str) -> bool:
    """Whether `name` can be a record's file: safe characters and an accepted type."""
    match = _NAME.match(name)
    return bool(match) and match.group(1).lower() in CONTENT_TYPES


def content_type(name: str) -> str:
    """The media type to serve a file with (by its extension)."""
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def media_references(answers: dict[str, Any]) -> dict[str, str]:
    """The file names these answers mention, each with the path of its answer
    (`{"5f0c….jpg": "members[1].photo"}`).

    Any text answer shaped like a media file name counts; the tablet uploads the ones it
    holds a file for, and the server accepts a file only if a revision of its record names
    it. A name typed by hand into a text question is harmless: no file goes with it.
    """
    return {name: path for path, name in _leaves(answers, ()) if is_media_name(name)}


def _leaves(value: Any, at: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value, 1):
            yield from _leaves(item, (*at, index))
    elif isinstance(value, str) and at:
        yield format_path(at), value
