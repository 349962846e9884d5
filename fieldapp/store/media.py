"""The tablet's record media: where a record's files live and which still have to go up.

A record's photos, recordings and files are copied into `<store folder>/media/<record_id>/`
under names the app makes (`FormSession.attach`); the answers hold those names. A file is
*waiting* while a revision written on this tablet names it and the server has not
confirmed it; it is *ready* once such a revision is acknowledged (the server accepts a file
only for a record it holds). Table `media_uploads` lists the files the server confirmed
complete (sha256 checked there); nothing else is stored about them, and a file never
leaves its folder, so a crash mid-upload loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sync_core.media import media_references

_IDS_PER_QUERY = 500


@dataclass(frozen=True)
class PendingMedia:
    """One file to upload: the record, the file name its answer holds, the answer's path."""

    record_id: str
    name: str
    path: str
    file: Path


class MediaMixin:
    """`Store`'s record media: the folder, what waits to be uploaded, what went up."""

    def media_dir(self, record_id: str) -> Path:
        """The folder of a record's files (beside the store; names never hold personal data)."""
        return Path(self.path).parent / "media" / record_id  # type: ignore[attr-defined]

    def _media_candidates(self, *, acknowledged_only: bool) -> list[PendingMedia]:
        root = Path(self.path).parent / "media"  # type: ignore[attr-defined]
        if not root.is_dir():
            return []
        record_ids = sorted(p.name for p in root.iterdir() if p.is_dir())
        found: dict[tuple[str, str], PendingMedia] = {}
        for start in range(0, len(record_ids), _IDS_PER_QUERY):
            chunk = record_ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            unsent = (
                " AND revision_id NOT IN (SELECT revision_id FROM outbox)"
                if acknowledged_only
                else ""
            )
            rows = self._query(  # type: ignore[attr-defined]
                "SELECT record_id, answers FROM revisions WHERE origin = 'local' "
                f"AND record_id IN ({marks}){unsent} ORDER BY hlc",
                chunk,
            )
            uploaded = {
                (row["record_id"], row["name"])
                for row in self._query(  # type: ignore[attr-defined]
                    f"SELECT record_id, name FROM media_uploads WHERE record_id IN ({marks})",
                    chunk,
                )
            }
            for row in rows:
                answers = json.loads(row["answers"])
                for name, path in media_references(answers).items():
                    key = (row["record_id"], name)
                    file = self.media_dir(row["record_id"]) / name
                    if key not in uploaded and key not in found and file.is_file():
                        found[key] = PendingMedia(row["record_id"], name, path, file)
        return list(found.values())

    def pending_media(self) -> list[PendingMedia]:
        """Files ready to upload: named by an acknowledged revision, not confirmed yet."""
        return self._media_candidates(acknowledged_only=True)

    def media_waiting(self) -> int:
        """How many files wait to reach the server (their records may still be waiting too)."""
        return len(self._media_candidates(acknowledged_only=False))

    def mark_media_uploaded(self, record_id: str, name: str, sha256: str, size: int) -> None:
        """The server confirmed it holds this file complete (its sha256 checked)."""
        with self._write(f"note the upload of a file of record {record_id}") as db:  # type: ignore[attr-defined]
            db.execute(
                "INSERT OR IGNORE INTO media_uploads (record_id, name, sha256, size, "
                "uploaded_at) VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                [record_id, name, sha256, size],
            )

    def media_names_shared(self, record_id: str) -> set[str]:
        """File names that a revision of this record the server may hold names: any pulled
        one, and any of ours that was acknowledged or whose upload was attempted. Such a
        file must never change (the server checks its sha256)."""
        rows = self._query(  # type: ignore[attr-defined]
            "SELECT answers FROM revisions r LEFT JOIN outbox o USING (revision_id) "
            "WHERE r.record_id = ? AND (o.revision_id IS NULL OR o.attempts > 0 "
            "OR o.last_attempt_at IS NOT NULL)",
            [record_id],
        )
        names: set[str] = set()
        for row in rows:
            names.update(media_references(json.loads(row["answers"])))
        return names
