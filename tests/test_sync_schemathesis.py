"""Schemathesis throws generated requests at every operation of the running server's
/openapi.json: whatever it sends, the answer is never a 5xx.

(Schemathesis' lazy pytest loader doesn't work with pytest 9 here, so each operation's
strategy is driven by Hypothesis directly; the list below must match the schema.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.sync_helpers import ServerProcess, auth, running_server

pytestmark = pytest.mark.system

OPERATIONS = [
    ("GET", "/health"),
    ("POST", "/api/v1/enroll"),
    ("POST", "/api/v1/push"),
    ("POST", "/api/v1/push/status"),
    ("GET", "/api/v1/pull"),
    ("POST", "/api/v1/state"),
    ("GET", "/api/v1/forms"),
    ("GET", "/api/v1/forms/{form_id}/{version}"),
    ("GET", "/api/v1/forms/{form_id}/{version}/attachments/{name}"),
    ("GET", "/api/v1/records/{record_id}"),
    ("POST", "/api/v1/records/{record_id}/transfer"),
    ("GET", "/api/v1/conflicts"),
    ("POST", "/api/v1/conflicts/{conflict_id}/resolve"),
    ("GET", "/api/v1/duplicates"),
    ("POST", "/api/v1/duplicates/{pair_id}/confirm"),
    ("POST", "/api/v1/duplicates/{pair_id}/dismiss"),
    ("POST", "/api/v1/duplicates/{pair_id}/reopen"),
    ("GET", "/api/v1/duplicates/{pair_id}/audit"),
    ("POST", "/api/v1/device-report"),
    ("GET", "/api/v1/exports/{form_id}"),
    ("GET", "/api/v1/media/{record_id}/{name}/status"),
    ("PUT", "/api/v1/media/{record_id}/{name}"),
    ("GET", "/api/v1/media/{record_id}/{name}"),
]


@pytest.fixture(scope="module")
def sync_server(tmp_path_factory: pytest.TempPathFactory):
    with running_server(tmp_path_factory.mktemp("fuzz") / "district") as process:
        yield process


@pytest.fixture(scope="module")
def api_schema(sync_server: ServerProcess):
    return schemathesis.openapi.from_url(sync_server.url + "/openapi.json")


@pytest.fixture(scope="module")
def tokens(sync_server: ServerProcess) -> dict[str, str]:
    _, device = sync_server.enroll()
    return {"device": device, "coordinator": sync_server.coordinator_token()}


def test_the_list_covers_every_operation(api_schema):
    found = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_makes_the_server_fail(api_schema, tokens, sync_server, method, path):
    operation = api_schema[path][method]
    coordinator_only = any(
        part in path for part in ("/conflicts", "/duplicates", "/exports", "/transfer")
    )
    token = tokens["coordinator" if coordinator_only else "device"]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case) -> None:
        case.call_and_validate(
            base_url=sync_server.url, headers=auth(token), checks=[not_a_server_error]
        )

    check()
