"""What every request handler shares: one `ServerContext` per app, built by `create_app`.

Routers reach it through the `Context` dependency (it lives on `app.state.context`), so the
HTTP layer holds no module-level state and tests can run several apps in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_core.hlc import MAX_DRIFT_MS
from sync_server.db import Database
from sync_server.guards import EnrollThrottle


@dataclass
class ServerContext:
    data_dir: Path
    db: Database
    sites: Iterable[dict[str, Any]]  # sync_server.sites.SiteList: read live at each use
    validator: Executor  # validation worker processes (or inline)
    validation_workers: int | None
    max_body_bytes: int
    max_json_bytes: int
    # A revision's HLC further ahead of the server's clock than this is ordered as now.
    max_clock_drift_ms: int = MAX_DRIFT_MS
    # Failed enrollments per address and in total (429 when spent), and the key that
    # hashes client addresses for the audit log.
    enroll_throttle: EnrollThrottle = field(default_factory=EnrollThrottle)
    audit_secret: str = ""
    # Batches are validated one at a time, each spread over the worker processes' cores
    # when large enough: the first tablets in a rush get their answer first.
    validation_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
