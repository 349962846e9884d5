"""Stateful property test: several tablets, one real server, an unreliable network.

Hypothesis drives real device stores and the real sync client against a real server
process. A fault-injecting requests adapter loses requests, loses responses (the server
did the work, the tablet saw an error), delivers requests twice, delivers them late (after
the next batch: reordering), and SIGKILLs the server in the middle of a batch (it is
restarted on the same data). Invariants:

- every revision saved on any tablet ends up on the server exactly once;
- a hard conflict is flagged exactly when two tablets changed the same answer from the same
  parent revision to different values (computed here from the tablets' own revisions);
- after two fault-free rounds of syncing, every tablet shows the same head and answers for
  every record, and so does the server.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from requests.adapters import HTTPAdapter

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient, SyncError
from tests.sync_helpers import FORM_ID, FORM_VERSION, ServerProcess, auth, household

pytestmark = pytest.mark.system

DEVICES = 3
STATS: dict[str, int] = {}
SHELTERS = ["tent", "school", "none"]
NOTES = ["a", "b", "c"]


class FaultyAdapter(HTTPAdapter):
    """Injects network faults into a tablet's requests, as chosen by `plan`."""

    FAULTS = ("ok", "lose-request", "lose-response", "duplicate", "late", "kill")

    def __init__(self, server: ServerProcess, rng: random.Random, rate: float):
        super().__init__(max_retries=0)
        self.server = server
        self.rng = rng
        self.rate = rate
        self.late: list[Any] = []
        self.injected: list[str] = []

    def pick(self, is_push: bool) -> str:
        if self.rate == 0 or self.rng.random() > self.rate:
            return "ok"
        choices = ["lose-request", "lose-response", "duplicate"]
        if is_push:
            choices += ["late", "late", "kill"]
        return self.rng.choice(choices)

    def send(self, request, **kwargs):  # type: ignore[override]
        is_push = request.method == "POST" and request.url.endswith("/api/v1/push")
        fault = self.pick(is_push)
        self.injected.append(fault)
        STATS[fault] = STATS.get(fault, 0) + 1
        if fault == "lose-request":
            raise requests.ConnectionError("injected: request lost")
        if fault == "late":
            self.late.append((request.copy(), kwargs))
            raise requests.ConnectionError("injected: request delayed")
        if fault == "kill":
            return self._kill_mid_batch(request, kwargs)
        response = super().send(request, **kwargs)
        if fault == "duplicate":
            response = super().send(request.copy(), **kwargs)
        if is_push:
            self.deliver_late()
        if fault == "lose-response":
            raise requests.ConnectionError("injected: response lost")
        return response

    def deliver_late(self) -> None:
        while self.late:
            request, kwargs = self.late.pop(0)
            with contextlib.suppress(requests.RequestException):
                super().send(request, **kwargs)  # a late packet that never arrives is lost

    def _kill_mid_batch(self, request, kwargs):
        outcome: dict[str, Any] = {}

        def deliver() -> None:
            try:
                outcome["response"] = super(FaultyAdapter, self).send(request, **kwargs)
            except requests.RequestException as error:
                outcome["error"] = error

        sender = threading.Thread(target=deliver)
        sender.start()
        time.sleep(self.rng.uniform(0, 0.02))
        self.server.kill()
        sender.join()
        self.server.start()
        raise requests.ConnectionError("injected: server killed mid-batch")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("prop") / "district").start()
    yield process
    process.stop()


class Tablets(RuleBasedStateMachine):
    server: ServerProcess
    workdir: Path
    runs = 0

    def __init__(self) -> None:
        super().__init__()
        Tablets.runs += 1
        run = self.workdir / f"run-{Tablets.runs}"
        # A district of its own per example, so examples don't see each other's records.
        self.district = f"MZ{5000 + Tablets.runs}"
        self.stores: list[Store] = []
        for number in range(DEVICES):
            store = Store(run / f"tablet-{number}.db")
            code = self.server.quick_code(district=self.district)
            SyncClient(store, self.server.url).enroll(code)
            self.stores.append(store)
        self.records: set[str] = set()

    def client(self, store: Store, rng: random.Random, rate: float) -> SyncClient:
        session = requests.Session()
        adapter = FaultyAdapter(self.server, rng, rate)
        session.mount("http://", adapter)
        return SyncClient(
            store,
            session=session,
            give_up_after=30,
            sleep=lambda seconds: time.sleep(min(seconds, 0.01)),
        )

    @initialize(members=st.integers(1, 3))
    def a_record_every_tablet_has(self, members: int) -> None:
        self.create_record(0, members)
        self.everyone_syncs()

    @rule(device=st.integers(0, DEVICES - 1), members=st.integers(1, 3))
    def create_record(self, device: int, members: int) -> None:
        store = self.stores[device]
        answers = household(f"Head {len(self.records)}", district=self.district, members=members)
        record_id = store.create_draft(FORM_ID, FORM_VERSION, answers)
        store.finalize(record_id, answers)
        self.records.add(record_id)

    @rule(
        device=st.integers(0, DEVICES - 1),
        pick=st.integers(0, 1000),
        change=st.sampled_from(["shelter", "notes", "age"]),
        value=st.integers(0, 3),
        member=st.integers(0, 2),
    )
    def edit_record(self, device: int, pick: int, change: str, value: int, member: int) -> None:
        # Draws never depend on what a tablet holds (that depends on network faults), so
        # Hypothesis can replay an example: choices are taken modulo what is there.
        store = self.stores[device]
        rows = sorted(store.records(limit=1000), key=lambda r: r.record_id)
        if not rows:
            return
        row = rows[pick % len(rows)]
        if row.state == "sent":
            answers = store.open_for_edit(row.record_id).answers
        else:
            answers = store.draft(row.record_id).answers
        if change == "shelter":
            answers["shelter"] = SHELTERS[value % len(SHELTERS)]
        elif change == "notes":
            answers["notes"] = NOTES[value % len(NOTES)]
        else:
            answers["members"][member % len(answers["members"])]["age"] = 20 + value
        store.finalize(row.record_id, answers)

    @rule(
        device=st.integers(0, DEVICES - 1),
        seed=st.integers(0, 2**32),
        rate=st.sampled_from([0.0, 0.3, 0.6]),
    )
    def sync(self, device: int, seed: int, rate: float) -> None:
        # A seeded Random, not st.randoms(): how many requests a sync makes depends on
        # the faults, and Hypothesis needs the same draws when it replays an example.
        client = self.client(self.stores[device], random.Random(seed), rate)
        try:
            client.sync()
        except SyncError:
            pass  # gave up: nothing is lost, the next sync carries on
        finally:
            for adapter in client.transport.session.adapters.values():
                if isinstance(adapter, FaultyAdapter):
                    adapter.deliver_late()

    @rule()
    def everyone_syncs(self) -> None:
        """The end of a day: every tablet syncs on a good link, so all hold every record
        and the next edits on different tablets start from the same parent."""
        for store in self.stores:
            self.client(store, random.Random(0), 0.0).sync()

    @invariant()
    def nothing_on_the_server_is_duplicated(self) -> None:
        duplicated = self.server.query(
            "SELECT revision_id FROM revisions GROUP BY revision_id HAVING count(*) > 1"
        )
        assert duplicated == []

    def teardown(self) -> None:
        try:
            for _ in range(2):
                for store in self.stores:
                    report = self.client(store, random.Random(0), 0.0).sync()
                    assert report.rejected == 0 and report.conflicting_id == 0
            STATS["records"] = STATS.get("records", 0) + len(self.records)
            self.check_every_revision_arrived_once()
            self.check_hard_conflicts()
            self.check_convergence()
        finally:
            for store in self.stores:
                store.close()

    # --- final checks ----------------------------------------------------------------

    def coordinator(self) -> str:
        if not hasattr(self, "_coordinator"):
            self._coordinator = self.server.coordinator_token(self.district)
        return self._coordinator

    def device_revisions(self) -> dict[str, Any]:
        """Every revision on any tablet (their own and pulled), by id."""
        revisions = {}
        for store in self.stores:
            for record_id in self.records:
                try:
                    history = store.revisions_of(record_id)
                except Exception:  # not on this tablet
                    continue
                revisions.update({r.revision_id: r for r in history})
        return revisions

    def check_every_revision_arrived_once(self) -> None:
        for store in self.stores:
            assert store.pending_outbox() == [] and store.rejected() == []
        own = [
            r
            for store in self.stores
            for r in self.device_revisions().values()
            if r.device_id == store.device_id
        ]
        ids = sorted({r.revision_id for r in own})
        if not ids:
            return
        rows = self.server.query(
            f"SELECT revision_id, count(*) FROM revisions WHERE revision_id IN "
            f"({','.join('?' * len(ids))}) GROUP BY revision_id",
            tuple(ids),
        )
        assert {row[0]: row[1] for row in rows} == dict.fromkeys(ids, 1)

    def check_hard_conflicts(self) -> None:
        revisions = self.device_revisions()
        expected: set[str] = set()
        by_parent: dict[str, list[Any]] = {}
        for r in revisions.values():
            if r.device_id != "server" and r.parent_revision_id:
                by_parent.setdefault(r.parent_revision_id, []).append(r)
        for parent_id, children in by_parent.items():
            parent = revisions[parent_id].answers
            for i, a in enumerate(children):
                for b in children[i + 1 :]:
                    if a.device_id != b.device_id and same_answer_set_differently(
                        parent, a.answers, b.answers
                    ):
                        expected.add(a.record_id)
        STATS["hard"] = STATS.get("hard", 0) + len(expected)
        STATS["siblings"] = STATS.get("siblings", 0) + sum(len(c) > 1 for c in by_parent.values())
        body = requests.get(
            self.server.url + "/api/v1/conflicts", headers=auth(self.coordinator()), timeout=10
        ).json()
        flagged = {
            c["record_id"]
            for c in body["conflicts"]
            if c["kind"] == "hard" and c["record_id"] in self.records
        }
        assert flagged == expected

    def check_convergence(self) -> None:
        for record_id in sorted(self.records):
            record = requests.get(
                self.server.url + f"/api/v1/records/{record_id}",
                headers=auth(self.coordinator()),
                timeout=10,
            ).json()
            for store in self.stores:
                draft = store.draft(record_id)
                assert draft.head_revision_id == record["head_revision_id"], record_id
                assert draft.answers == record["answers"], record_id


def leaves(answers: dict) -> dict[str, Any]:
    """The answers this test edits, by name (written independently of the server's code)."""
    found = {key: value for key, value in answers.items() if key != "members"}
    for index, member in enumerate(answers.get("members", [])):
        found.update({f"members.{index}.{k}": v for k, v in member.items()})
    return found


def same_answer_set_differently(parent: dict, a: dict, b: dict) -> bool:
    base, left, right = leaves(parent), leaves(a), leaves(b)
    return any(
        left.get(key) != base.get(key)
        and right.get(key) != base.get(key)
        and left.get(key) != right.get(key)
        for key in set(base) | set(left) | set(right)
    )


def test_tablets_converge_without_losing_or_duplicating_revisions(server, tmp_path):
    Tablets.server = server
    Tablets.workdir = tmp_path
    run_state_machine_as_test(
        Tablets,
        settings=settings(
            max_examples=int(os.environ.get("SYNC_PROPERTY_EXAMPLES", "25")),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    print(STATS)
