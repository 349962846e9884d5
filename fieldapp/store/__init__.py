"""The tablet's local store: every answer an enumerator types, kept safe until the server has it.

One SQLite file per tablet, in WAL mode with ``synchronous=FULL``: when ``save_answers()``
returns, the answers are on the flash storage and survive a flat battery.

A record's life::

    create_draft() ─► draft ──finalize()──► finalized ──acknowledge()──► sent
                        ▲  save_answers()       │  revision + outbox row   │
                        │                       │                          │
                        ├──── mark_rejected() ◄─┘                          │
                        └──────────────────── open_for_edit() ◄────────────┘

Finalizing writes an immutable *revision* (the answers as submitted, with its parent revision
and a hybrid logical clock timestamp) and queues it in the *outbox* for the sync client. Edits
after finalizing make a new revision; history is kept. Revisions pulled from the server
(``apply_remote()``) never overwrite local work that hasn't been sent.

Tables: ``settings``, ``forms`` (the form cache), ``records`` (one row per household
submission, with its display title), ``drafts`` (the answers being edited), ``revisions``,
``outbox``, ``media_uploads`` (record files the server confirmed; the files themselves are
in ``media/<record_id>/`` beside the store) and ``audit_log`` (never personal data: see
``Store.audit()``).

Threads: the UI thread and the sync thread may share one ``Store``. Each thread gets its own
SQLite connection to the file; writes are serialised by a lock and run in
``BEGIN IMMEDIATE`` transactions, so neither thread ever sees "database is locked".

Exceptions::

    StoreError             anything the store refuses or can't do; says what, and which record
    ├── RecordNotFound     no record with that id on this tablet
    ├── RecordLocked       the record can't be changed that way in its current state
    └── FormNotFound       that form version isn't in the form cache

Modules: ``schema`` (tables and migrations), ``base`` (connections, settings, form cache),
``records`` (drafts and records), ``outbox`` (clock, outbox and sync), ``audit`` (the audit
log and its whitelist), ``values`` and ``errors``. ``Store`` brings them together.
"""

from __future__ import annotations

from fieldapp.store.audit import AUDIT_DETAIL_KEYS, AuditMixin
from fieldapp.store.base import StoreBase
from fieldapp.store.common import FORM_SOURCES, RECORD_STATES
from fieldapp.store.errors import FormNotFound, RecordLocked, RecordNotFound, StoreError
from fieldapp.store.media import MediaMixin, PendingMedia
from fieldapp.store.outbox import OutboxMixin
from fieldapp.store.records import RecordsMixin
from fieldapp.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from fieldapp.store.values import Draft, HouseholdCandidate, RecordRow, Revision

__all__ = [
    "AUDIT_DETAIL_KEYS",
    "FORM_SOURCES",
    "MIGRATIONS",
    "RECORD_STATES",
    "SCHEMA_VERSION",
    "Draft",
    "FormNotFound",
    "HouseholdCandidate",
    "PendingMedia",
    "RecordLocked",
    "RecordNotFound",
    "RecordRow",
    "Revision",
    "Store",
    "StoreError",
    "migrate",
]


class Store(RecordsMixin, OutboxMixin, MediaMixin, AuditMixin, StoreBase):
    """The local store, one SQLite file. Safe to share between the UI and sync threads.

    Opening creates the folders and the file if needed and migrates an older schema,
    keeping all data. Use as a context manager, or call ``close()``.
    """
