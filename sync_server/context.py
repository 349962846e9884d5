"""What every request handler shares: one `ServerContext` per app, built by `create_app`.

Routers reach it through the `Context` dependency (it lives on `app.state.context`), so the
HTTP layer holds no module-level state and tests can run several apps in one process.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_server.db import Database


@dataclass
class ServerContext:
    data_dir: Path
    db: Database
    sites: list[dict[str, Any]]
    validator: Executor  # validation worker processes (or inline)
    validation_workers: int | None
    max_body_bytes: int
    max_json_bytes: int
    # Batches are validated one at a time, each spread over the worker processes' cores
    # when large enough: the first tablets in a rush get their answer first.
    validation_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
