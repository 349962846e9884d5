"""The server's one error type and its catalogue, against the protocol's error table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sync_server.problems import CATALOGUE, Problem

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def documented_codes() -> set[tuple[int, str]]:
    """(status, code) pairs of the Errors table in docs/sync-protocol.md."""
    text = (ROOT / "docs" / "sync-protocol.md").read_text(encoding="utf-8")
    table = text.split("## Errors", 1)[1].split("### Examples", 1)[0]
    pairs = set()
    for line in table.splitlines():
        match = re.match(r"\| (\d{3}) \| ([^|]+) \|", line)
        if match:
            pairs |= {(int(match[1]), code) for code in re.findall(r"`([a-z-]+)`", match[2])}
    return pairs


def test_the_catalogue_is_the_protocols_error_table():
    assert len(documented_codes()) > 10
    assert documented_codes() == set(CATALOGUE)


@pytest.mark.parametrize(
    ("code", "status"),
    [("too-large", 413), ("used", 409), ("not-a-side", 422), ("internal", 500)],
)
def test_a_problem_takes_its_status_from_the_catalogue(code, status):
    problem = Problem(code, "what went wrong and what to do")
    assert (problem.status, problem.code, problem.problems) == (status, code, [])
    assert problem.response().status_code == status


def test_a_code_with_two_statuses_needs_one_of_them():
    assert Problem("revoked", "token revoked", status=401).status == 401
    assert Problem("revoked", "code revoked", status=403).status == 403
    with pytest.raises(ValueError, match="'revoked' needs a status"):
        Problem("revoked", "which one?")
    with pytest.raises(ValueError, match="'revoked' has status"):
        Problem("revoked", "no such pair", status=404)


def test_an_unknown_code_is_a_programming_error_not_a_response():
    with pytest.raises(ValueError, match="'teapot' is not in the catalogue"):
        Problem("teapot", "short and stout")


def test_a_401_asks_for_a_bearer_token():
    response = Problem("auth", "no token").response()
    assert response.headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in Problem("forbidden", "no").response().headers


@pytest.mark.system  # starts a Python process
def test_the_cli_and_the_domain_modules_start_without_the_web_stack():
    # `sync-server enroll` and friends import these; FastAPI costs a second on a tablet-class
    # machine and is only needed to serve.
    code = (
        "import sys, sync_server, sync_server.cli, sync_server.auth, sync_server.records, "
        "sync_server.db, sync_server.catalog, sync_server.forward; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
