"""The sync tests' helpers: `sync_server.testing` (shared with the benchmarks) and fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_server.testing import (
    DISTRICT,
    FORM_ID,
    FORM_VERSION,
    OTHER_DISTRICT,
    ROOT,
    SITE,
    TEST_FORMS,
    InProcessServer,
    ServerProcess,
    auth,
    cli,
    free_port,
    household,
    push,
    revision,
    running_server,
)

__all__ = [
    "DISTRICT",
    "FORM_ID",
    "FORM_VERSION",
    "OTHER_DISTRICT",
    "ROOT",
    "SITE",
    "TEST_FORMS",
    "InProcessServer",
    "ServerProcess",
    "auth",
    "cli",
    "free_port",
    "household",
    "push",
    "revision",
    "running_server",
    "server",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server process on a free loopback port, with the test forms."""
    with running_server(tmp_path / "district") as process:
        yield process
