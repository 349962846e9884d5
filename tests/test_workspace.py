"""The coordinator workspace in-process (FastAPI's ASGI test client): accounts, scope,
CSRF, filters and search, the conflict decision, and bad input refused with nothing
changed. The browser tests (test_workspace_browser.py) drive the same pages in chromium.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forms.text import fold
from sync_server import auth
from sync_server.app import create_app
from sync_server.db import Database
from sync_server.testing import fresh_app
from sync_server.workspace import accounts, testing
from sync_server.workspace.accounts import COOKIE_NAME
from sync_server.workspace.i18n import CATALOGUE
from sync_server.workspace.index import searchable

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long pass phrase"
TEMPLATES = ROOT / "sync_server" / "workspace" / "templates"


class Server:
    """An app on a temp data dir with helpers to enroll tablets and push households."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        # A fresh server of its own, made from a copy of one published once per run.
        self.app = fresh_app(data_dir)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.db = self.app.state.db
        self.tokens: dict[str, str] = {}

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def login(self, username: str, district: str, name: str = "Coordenador") -> None:
        self.db.write(
            lambda c: accounts.create_login(
                c, name=name, username=username, password=PASSWORD, district=district
            )
        )

    def tablet(self, device_id: str, district: str = "MZ1120", name: str = "Amélia Cossa") -> str:
        code, _ = self.db.write(lambda c: auth.create_code(c, name=name, district=district))
        response = self.client.post("/api/v1/enroll", json={"code": code, "device_id": device_id})
        assert response.status_code == 200, response.text
        self.tokens[device_id] = response.json()["token"]
        return self.tokens[device_id]

    def push(self, device_id: str, revisions: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/push",
            json={"device_id": device_id, "batch_id": revisions[0]["revision_id"][:16],
                  "revisions": revisions},
            headers={"Authorization": f"Bearer {self.tokens[device_id]}"},
        )  # fmt: skip
        assert response.status_code in (200, 422), response.text
        return response.json()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.data_dir / 'sync.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    found = Server(tmp_path / "district")
    try:
        yield found
    finally:
        found.close()


def signed_in(server: Server, username: str = "graca", district: str = "MZ1120") -> TestClient:
    server.login(username, district)
    answer = testing.sign_in(server.client, username, PASSWORD)
    assert answer.status_code == 303, answer.text
    return server.client


def ids_on(html: str) -> list[str]:
    return re.findall(r'data-record="([0-9a-f-]{36})"', html)


# --- accounts, sessions, CSRF ------------------------------------------------------------


def test_pages_need_a_sign_in_and_send_you_back_after_it(server: Server):
    server.login("graca", "MZ1120")
    first = server.client.get("/records?status=new", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/login?next=%2Frecords%3Fstatus%3Dnew")
    page = server.client.get(first.headers["location"])
    token = testing.csrf_of(page.text)
    answer = server.client.post(
        "/login",
        data={"csrf": token, "username": "GRACA", "password": PASSWORD,
              "next": "/records?status=new"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/records?status=new"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on the office LAN: see the docs
    assert server.client.get("/").status_code == 200


def test_the_cookie_is_secure_when_served_over_https(tmp_path: Path):
    app = fresh_app(tmp_path / "d")
    with TestClient(app, base_url="https://workspace.example") as client:
        app.state.db.write(
            lambda c: accounts.create_login(
                c, name="X", username="x", password=PASSWORD, district="MZ1120"
            )
        )
        answer = testing.sign_in(client, "x", PASSWORD)
        assert "Secure" in answer.headers["set-cookie"]


def test_a_login_post_from_elsewhere_without_the_form_token_is_refused(server: Server):
    server.login("graca", "MZ1120")
    answer = server.client.post(
        "/login", data={"username": "graca", "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert COOKIE_NAME not in answer.headers.get("set-cookie", "")


def test_wrong_passwords_lock_the_name_for_a_while_even_with_the_right_one(server: Server):
    server.login("graca", "MZ1120")
    for attempt in range(accounts.MAX_FAILURES):
        answer = testing.sign_in(server.client, "graca", f"wrong {attempt}")
        assert answer.status_code in (401, 429)
    assert answer.status_code == 429 and "bloqueada" in answer.text
    locked = testing.sign_in(server.client, "graca", PASSWORD)
    assert locked.status_code == 429
    assert COOKIE_NAME not in locked.headers.get("set-cookie", "")
    # An unknown name gets the same treatment: the answer says nothing about who exists.
    for attempt in range(accounts.MAX_FAILURES):
        unknown = testing.sign_in(server.client, "nobody", f"wrong {attempt}")
    assert unknown.status_code == 429
    outcomes = [r["outcome"] for r in server.query("SELECT outcome FROM audit_log "
                                                   "WHERE action = 'signin'")]  # fmt: skip
    assert outcomes.count("bad-password") == 2 * (accounts.MAX_FAILURES - 1)
    assert "locked" in outcomes and "ok" not in outcomes
    server.client.cookies.clear()
    accounts_page = signed_in(server, "admin", auth.NATIONAL).get("/accounts").text
    row = accounts_page[accounts_page.index("<code>graca</code>") :]
    assert "bloqueada até" in row[: row.index("</tr>")]


def test_the_lock_ends_after_its_time(server: Server):
    server.login("graca", "MZ1120")
    start = auth.now_utc()
    for attempt in range(accounts.MAX_FAILURES):
        outcome = server.db.write(
            lambda c, a=attempt: accounts.sign_in(c, "graca", f"bad {a}", now=start)
        )
    assert outcome.locked_until is not None
    later = start + accounts.LOCK_TIME + dt.timedelta(seconds=1)
    again = server.db.write(lambda c: accounts.sign_in(c, "graca", PASSWORD, now=later))
    assert again.account_id is not None


@pytest.mark.parametrize("mangle", ["tamper", "unsigned", "expired", "garbage"])
def test_a_tampered_or_expired_session_cookie_is_refused(server: Server, mangle: str):
    client = signed_in(server)
    good = client.cookies.get(COOKIE_NAME)
    session_id, signature = good.split(".")
    if mangle == "tamper":
        bad = session_id[:-1] + ("A" if session_id[-1] != "A" else "B") + "." + signature
    elif mangle == "unsigned":
        bad = session_id
    elif mangle == "garbage":
        bad = "x" * 500
    else:
        server.db.write(
            lambda c: c.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
        )
        bad = good
    client.cookies.set(COOKIE_NAME, bad)
    answer = client.get("/records", follow_redirects=False)
    assert answer.status_code == 303
    assert "notice=session-ended" in answer.headers["location"]
    assert client.get(answer.headers["location"]).text.count("sessão terminou") == 1


def test_a_form_posted_without_its_csrf_token_changes_nothing(server: Server):
    client = signed_in(server)
    server.tablet("tab-1")
    for data in ({}, {"csrf": "forged"}):
        answer = client.post("/tablets/tab-1/revoke", data=data)
        assert answer.status_code == 403 and "chave de segurança" in answer.text
        answer = client.post("/tablets/enroll", data={**data, "enumerator": "Zito"})
        assert answer.status_code == 403
    assert server.query("SELECT revoked_at FROM accounts WHERE account_id = 'tab-1'")[0][0] is None
    assert server.query("SELECT count(*) FROM enrollment_codes")[0][0] == 1
    assert server.query("SELECT count(*) FROM audit_log WHERE action = 'csrf'")[0][0] == 4


def test_sign_out_ends_the_session_on_the_server(server: Server):
    client = signed_in(server)
    cookie = client.cookies.get(COOKIE_NAME)
    page = client.get("/")
    client.post("/logout", data={"csrf": testing.csrf_of(page.text)})
    client.cookies.set(COOKIE_NAME, cookie)  # a copy of the old cookie is worthless now
    assert client.get("/", follow_redirects=False).status_code == 303


def test_only_a_national_administrator_creates_accounts(server: Server):
    client = signed_in(server, "graca", "MZ1120")
    assert client.get("/accounts").status_code == 404
    assert client.post("/accounts", data={"csrf": "x"}).status_code == 404
    server.client.cookies.clear()
    admin = signed_in(server, "admin", auth.NATIONAL)
    page = admin.get("/accounts")
    token = testing.csrf_of(page.text)
    short = admin.post("/accounts", data={"csrf": token, "name": "Rosa", "username": "rosa",
                                          "password": "short", "district": "MZ1122"})  # fmt: skip
    assert short.status_code == 400 and "pelo menos 10" in short.text
    made = admin.post("/accounts", data={"csrf": token, "name": "Rosa Mucavele",
                                         "username": "rosa", "password": PASSWORD,
                                         "district": "MZ1122"})  # fmt: skip
    assert made.status_code == 200 and "Rosa Mucavele" in made.text
    row = server.query("SELECT a.district, l.password_hash FROM workspace_logins l JOIN "
                       "accounts a USING (account_id) WHERE username = 'rosa'")[0]  # fmt: skip
    assert row["district"] == "MZ1122" and row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in Path(server.data_dir / "sync.db").read_bytes().decode("latin-1")
    actions = [r[0] for r in server.query("SELECT action FROM audit_log")]
    assert "account.create" in actions


def test_the_cli_creates_a_coordinator_who_can_sign_in(tmp_path: Path):
    data = tmp_path / "d"
    Database(data).close()  # the management commands need an existing database
    command = [sys.executable, "-m", "sync_server.cli", "coordinator", "--name", "Graça Sitoe",
               "--district", "MZ1120", "--password-prompt", "--data-dir", str(data)]  # fmt: skip
    made = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Workspace user name: graca.sitoe" in made.stdout
    again = subprocess.run(command, input="short\n", capture_output=True, text=True, cwd=ROOT,
                           timeout=60)  # fmt: skip
    assert again.returncode == 1 and "at least 10" in again.stderr
    app = create_app(data, validation_workers=0)
    with TestClient(app) as client:
        assert testing.sign_in(client, "graca.sitoe", PASSWORD).status_code == 303


# --- scope, escaping, filters, search -----------------------------------------------------


def test_a_coordinator_of_another_district_gets_the_same_404_as_for_nothing(server: Server):
    server.tablet("tab-1122", district="MZ1122")
    theirs = testing.revision("tab-1122", testing.household(3, site_id="MOZ-ZAM-0002"))
    assert server.push("tab-1122", [theirs])["counts"]["accepted"] == 1
    client = signed_in(server, "graca", "MZ1120")
    hidden = client.get(f"/records/{theirs['record_id']}")
    missing = client.get("/records/00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == missing.status_code == 404
    # Identical but for the address itself (echoed in the language links).
    assert hidden.text.replace(theirs["record_id"], "ID") == missing.text.replace(
        "00000000-0000-4000-8000-000000000000", "ID"
    )
    assert theirs["record_id"] not in client.get("/records").text
    assert "Nicoadala" not in client.get("/").text


def test_a_name_with_a_script_tag_is_shown_as_text(server: Server):
    server.tablet("tab-1")
    evil = testing.household(1, hh_head_given_name='<script>alert("x")</script>')
    revision = testing.revision("tab-1", evil)
    server.push("tab-1", [revision])
    client = signed_in(server)
    for page in (client.get("/records"), client.get(f"/records/{revision['record_id']}")):
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.fixture
def households(server: Server) -> dict[str, str]:
    """Four households from a tablet in Namacurra (MZ1120), one from a tablet in Quelimane
    (MZ1103, another site); returns record ids by a nickname. Read them as national."""
    server.tablet("tab-1", name="Amélia Cossa")
    server.tablet("tab-2", district="MZ1103", name="Zito Banze")
    made = {
        "zulmira": testing.household(1, hh_head_given_name="Zulmíra",
                                     hh_head_family_name="Chiúre", contact_phone="841234567"),
        "joao": testing.household(2, hh_head_given_name="João", hh_head_family_name="Tembuè"),
        "o'neil": testing.household(3, hh_head_given_name="Ana", hh_head_family_name="O'Neil"),
        "percent": testing.household(4, hh_head_given_name="Rosa", hh_head_family_name="100%"),
    }  # fmt: skip
    ids = {}
    for name, answers in made.items():
        revision = testing.revision("tab-1", answers)
        server.push("tab-1", [revision])
        ids[name] = revision["record_id"]
    other = testing.revision("tab-2", testing.household(5, site_id="MOZ-ZAM-0003"))
    server.push("tab-2", [other])
    ids["zito"] = other["record_id"]
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zulmira", ["zulmira"]),
        ("ZULMIRA chíure", ["zulmira"]),
        ("chiure zulmíra", ["zulmira"]),
        ("TEMBUE", ["joao"]),
        ("84 123 4567", ["zulmira"]),
        ("1234567", ["zulmira"]),
        ("o'neil", ["o'neil"]),
        ('"; DROP TABLE records; --', []),
        ("' OR 1=1 --", []),
        ("100%", ["percent"]),
        ("%", ["percent"]),
        ("_", []),
    ],
)
def test_search_tolerates_accents_and_case_and_treats_sql_as_text(
    server: Server, households: dict[str, str], query: str, expected: list[str]
):
    client = signed_in(server, "admin", auth.NATIONAL)
    page = client.get("/records", params={"q": query})
    assert page.status_code == 200
    assert sorted(ids_on(page.text)) == sorted(households[name] for name in expected)
    assert server.query("SELECT count(*) FROM records")[0][0] == 5


def test_filters_by_form_site_enumerator_status_and_date(server: Server, households):
    client = signed_in(server, "admin", auth.NATIONAL)
    everything = ids_on(client.get("/records").text)
    assert len(everything) == 5
    assert ids_on(client.get("/records", params={"enumerator": "Zito Banze"}).text) == [
        households["zito"]
    ]
    assert ids_on(client.get("/records", params={"site": "MOZ-ZAM-0003"}).text) == [
        households["zito"]
    ]
    assert ids_on(client.get("/records", params={"district": "MZ1103"}).text) == [
        households["zito"]
    ]
    assert len(ids_on(client.get("/records", params={"status": "new"}).text)) == 5
    assert ids_on(client.get("/records", params={"status": "edited"}).text) == []
    today = dt.datetime.now(dt.UTC).date()
    inside = {"date_from": today.isoformat(), "date_to": today.isoformat()}
    assert len(ids_on(client.get("/records", params=inside).text)) == 5
    before = {"date_to": (today - dt.timedelta(days=1)).isoformat()}
    assert ids_on(client.get("/records", params=before).text) == []
    assert len(ids_on(client.get("/records", params={"form": "household_registration"}).text)) == 5
    assert ids_on(client.get("/records", params={"form": "site_check"}).text) == []


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"form": "no_such_form"}, 400, "O formulário «no_such_form» não existe"),
        ({"form": "<b>x</b>"}, 400, "«&lt;b&gt;x&lt;/b&gt;»"),
        ({"status": "deleted"}, 400, "O estado «deleted» não existe"),
        ({"date_from": "2026-13-45"}, 400, "não é uma data"),
        ({"page": "-1"}, 400, "não é um número de página"),
        ({"page": "99999999999999999999"}, 400, "não é um número de página"),
        ({"page": "1e9"}, 400, "não é um número de página"),
        ({"q": "x" * 300}, 400, "demasiado longo"),
        ({"page": "999999"}, 200, "Não existe a página 999999; a última é a 1"),
    ],
)
def test_bad_filters_get_a_clear_answer(server: Server, households, params, status, says):
    client = signed_in(server, "admin", auth.NATIONAL)
    page = client.get("/records", params=params)
    assert page.status_code == status
    assert says in page.text


def test_paging_is_done_by_the_server(server: Server):
    server.tablet("tab-1")
    server.push("tab-1", [testing.revision("tab-1", testing.household(i)) for i in range(60)])
    client = signed_in(server)
    first, second = client.get("/records"), client.get("/records", params={"page": 2})
    assert len(ids_on(first.text)) == 50 and len(ids_on(second.text)) == 10
    assert not set(ids_on(first.text)) & set(ids_on(second.text))
    assert "Página 1 de 2" in first.text and 'id="next"' in first.text


def test_the_overview_counts_equal_the_database(server: Server, households):
    client = signed_in(server)  # Namacurra's coordinator: 4 of the 5 households
    bad = testing.household(9)
    bad["members"][1]["age_reported"] = 300
    bad["members"][1]["dob_known"] = "no"
    bad["members"][1].pop("dob", None)
    server.push("tab-1", [testing.revision("tab-1", bad)])
    page = client.get("/").text
    total = server.query("SELECT count(*) FROM records WHERE district = 'MZ1120'")[0][0]
    assert re.search(r'id="total-records">(\d+)<', page).group(1) == str(total) == "4"
    assert re.search(r'id="today-records">(\d+)<', page).group(1) == "4"
    assert re.search(r'id="rejected-total">(\d+)<', page).group(1) == "1"
    assert "members[2].age_reported" in page  # the reason's path, never the answer
    assert "Amélia Cossa" in page and "Zito Banze" not in page  # the other district's
    national = signed_in(server, "admin", auth.NATIONAL).get("/").text
    assert re.search(r'id="total-records">(\d+)<', national).group(1) == "5"
    assert "Zito Banze" in national


def test_the_record_page_shows_labels_repeats_and_who_changed_what(server: Server):
    server.tablet("tab-1", name="Amélia Cossa")
    server.tablet("tab-2", name="Zito Banze")
    first = testing.revision("tab-1", testing.household(1))
    server.push("tab-1", [first])
    edited = dict(first["answers"], shelter_situation="tent")
    if first["answers"]["shelter_situation"] == "tent":
        edited["shelter_situation"] = "tarpaulin"
    second = testing.revision("tab-2", edited, record_id=first["record_id"],
                              parent=first["revision_id"])  # fmt: skip
    server.push("tab-2", [second])
    client = signed_in(server)
    page = client.get(f"/records/{first['record_id']}").text
    assert "Nome(s) próprio(s) do(a) chefe do agregado" in page  # the form's Portuguese label
    assert page.count('<table class="repeat">') == 1 and page.count("<tr><td>") >= 6
    history = page[page.index('id="history"') :]
    assert "Zito Banze" in history and "editou" in history and "Amélia Cossa" in history
    assert "<del>" in history and "Situação" in history
    assert '<svg class="map small"' in page
    client.get("/language/en")
    english = client.get(f"/records/{first['record_id']}").text
    assert "Given name(s) of the head of household" in english and "edited" in english


# --- conflicts ---------------------------------------------------------------------------


def make_conflict(server: Server) -> tuple[dict[str, Any], str]:
    """Two tablets change the shelter of one household differently from one parent."""
    server.tablet("tab-1", name="Amélia Cossa")
    server.tablet("tab-2", name="Zito Banze")
    base = testing.revision("tab-1", testing.household(1, shelter_situation="tent"))
    server.push("tab-1", [base])
    a = testing.revision("tab-1", dict(base["answers"], shelter_situation="tarpaulin"),
                         record_id=base["record_id"], parent=base["revision_id"])  # fmt: skip
    b = testing.revision("tab-2", dict(base["answers"], shelter_situation="collective_building"),
                         record_id=base["record_id"], parent=base["revision_id"])  # fmt: skip
    server.push("tab-1", [a])
    assert server.push("tab-2", [b])["results"][0]["conflict"] == "hard"
    conflict_id = server.query("SELECT conflict_id FROM conflicts WHERE kind = 'hard'")[0][0]
    return base, conflict_id


def test_a_typed_value_the_form_refuses_is_shown_back_and_nothing_is_stored(server: Server):
    _base, conflict_id = make_conflict(server)
    client = signed_in(server)
    page = client.get(f"/conflicts/{conflict_id}")
    assert "Abrigo de lona" in page.text and "Tenda" in page.text  # side A, base
    before = server.query("SELECT count(*) FROM revisions")[0][0]
    refused = client.post(
        f"/conflicts/{conflict_id}",
        data={"csrf": testing.csrf_of(page.text), "choice-0": "typed", "typed-0": "castle"},
    )
    assert refused.status_code == 400 and 'class="has-error"' in refused.text
    assert server.query("SELECT count(*) FROM revisions")[0][0] == before
    assert server.query("SELECT status FROM conflicts WHERE conflict_id = ?",
                        (conflict_id,))[0][0] == "open"  # fmt: skip


def test_a_decision_with_a_typed_value_is_a_new_revision_with_a_note(server: Server):
    base, conflict_id = make_conflict(server)
    client = signed_in(server)
    page = client.get(f"/conflicts/{conflict_id}")
    answer = client.post(
        f"/conflicts/{conflict_id}",
        data={"csrf": testing.csrf_of(page.text), "choice-0": "typed", "typed-0": "host_family",
              "note": "visited: they moved in with relatives"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    row = server.query("SELECT answers FROM records WHERE record_id = ?", (base["record_id"],))
    assert '"shelter_situation":"host_family"' in row[0][0]
    decision = server.query("SELECT note, decided_by FROM decisions")[0]
    assert decision["note"] == "visited: they moved in with relatives"
    again = client.post(f"/conflicts/{conflict_id}",
                        data={"csrf": testing.csrf_of(page.text), "choice-0": "a"})  # fmt: skip
    assert again.status_code == 409
    assert server.query("SELECT count(*) FROM decisions")[0][0] == 1
    assert "conflict.resolve" in [r[0] for r in server.query("SELECT action FROM audit_log")]


# --- tablets -----------------------------------------------------------------------------


def test_a_tablet_report_shows_its_outbox_version_and_clock(server: Server):
    token = server.tablet("tab-1")
    skewed = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    answer = server.client.post(
        "/api/v1/device-report",
        json={"app_version": "0.1.0", "outbox": 7, "device_time": skewed},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200 and -7300 < answer.json()["clock_offset_s"] < -7100
    assert server.client.post("/api/v1/device-report", json={"app_version": "1", "outbox": 1,
                              "device_time": skewed}).status_code == 401  # fmt: skip
    client = signed_in(server)
    page = client.get("/tablets").text
    row = page[page.index('data-device="tab-1"') :]
    row = row[: row.index("</tr>")]
    assert "0.1.0" in row and ">7<" in row and "-7" in row


def test_enrolling_from_the_page_shows_a_code_and_its_qr_image(server: Server):
    client = signed_in(server)
    page = client.get("/tablets")
    made = client.post("/tablets/enroll", data={"csrf": testing.csrf_of(page.text),
                                                "enumerator": "Castigo Nhantumbo",
                                                "site": "MOZ-ZAM-0001"})  # fmt: skip
    code = re.search(r'id="code">([A-Z0-9-]+)<', made.text).group(1)
    assert 'src="data:image/png;base64,' in made.text
    row = server.query("SELECT district, sites FROM enrollment_codes")[0]
    assert row["district"] == "MZ1120" and row["sites"] == '["MOZ-ZAM-0001"]'
    enrolled = server.client.post("/api/v1/enroll", json={"code": code, "device_id": "new-tab"})
    assert enrolled.status_code == 200
    # A district coordinator can't enroll for another district by editing the form.
    other = client.post("/tablets/enroll", data={"csrf": testing.csrf_of(page.text),
                                                 "enumerator": "X", "district": "MZ1122",
                                                 "site": "MOZ-ZAM-0002"})  # fmt: skip
    assert other.status_code == 400
    assert server.query("SELECT count(*) FROM enrollment_codes")[0][0] == 1


def test_a_coordinator_cannot_revoke_a_tablet_of_another_district(server: Server):
    server.tablet("tab-1122", district="MZ1122")
    client = signed_in(server)
    page = client.get("/tablets")
    answer = client.post("/tablets/tab-1122/revoke", data={"csrf": testing.csrf_of(page.text)})
    assert answer.status_code == 404
    assert (
        server.query("SELECT revoked_at FROM accounts WHERE account_id = 'tab-1122'")[0][0] is None
    )


# --- sites, map, diaspora, docs ----------------------------------------------------------


def test_a_site_below_standard_comes_first_and_is_red_on_the_map(server: Server):
    server.tablet("tab-1")
    server.tablet("tab-3", district="MZ1103")
    good = testing.site_check(1, site_id="MOZ-ZAM-0003", latrines=40, individuals=480)
    good["district"] = "MZ1103"
    bad = testing.site_check(2, site_id="MOZ-ZAM-0001", latrines=2, individuals=480)
    bad["district"] = "MZ1120"
    for device, answers in (("tab-3", good), ("tab-1", bad)):
        result = server.push(device, [testing.revision(device, answers, form_id="site_check")])
        assert result["counts"]["accepted"] == 1, result
    client = signed_in(server, "admin", auth.NATIONAL)
    page = client.get("/sites").text
    colours = re.findall(r'<section class="panel site site-(\w+)" id="([\w-]+)"', page)
    assert colours[0] == ("red", "MOZ-ZAM-0001")
    assert "Pessoas por latrina" in page or "latrina" in page.lower()
    assert colours[1:] and colours[-1][0] in ("green", "amber", "none")
    dots = re.findall(r'data-colour="(\w+)" data-site="([^"]+)"', client.get("/map").text)
    assert ("red", "Centro de Acomodação Escola Primária de Namacurra-Sede") in dots


def test_a_site_without_latrines_says_so_instead_of_showing_no_value(server: Server):
    server.tablet("tab-5", district="MZ1114")
    none = testing.site_check(3, site_id="MOZ-ZAM-0004", latrines=0, individuals=480)
    none["district"] = "MZ1114"
    result = server.push("tab-5", [testing.revision("tab-5", none, form_id="site_check")])
    assert result["counts"]["accepted"] == 1, result
    page = signed_in(server, "admin", auth.NATIONAL).get("/sites").text
    section = page[page.index('id="MOZ-ZAM-0004"') :]
    assert "Nenhuma latrina funcional para 480 pessoas" in section.split("</section>")[0]


def test_diaspora_counts_by_country_and_never_shows_legal_status(server: Server):
    server.tablet("tab-1")
    revisions = [testing.revision("tab-1", testing.diaspora(i),
                                  form_id="diaspora_mapping") for i in range(3)]  # fmt: skip
    result = server.push("tab-1", revisions)
    assert result["counts"]["accepted"] == 3, result
    client = signed_in(server)
    page = client.get("/diaspora").text
    assert "3 entrevistas" in page and "África do Sul" in page
    assert "legal" not in page.lower() and "prefer_not_to_say" not in page


def test_api_docs_are_served_with_no_outside_address(server: Server):
    page = server.client.get("/docs").text
    assert "swagger-ui-bundle.js" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    bundle = server.client.get("/static/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert server.client.get("/static/..%2Fweb.py").status_code == 404


# --- pure parts -----------------------------------------------------------------------------


def test_fold_and_searchable_text():
    assert fold("Amélia CÔSSA") == "amelia cossa"
    title, text = searchable(testing.household(1, hh_head_given_name="Ção",
                                               contact_phone="+258 84 123 4567"))  # fmt: skip
    assert title.startswith("Ção") and "cao" in text and "258841234567" in text


def test_every_text_the_templates_use_is_in_both_languages():
    used = set()
    for path in TEMPLATES.glob("*"):
        used |= set(re.findall(r"""\bt\(["']([a-z0-9-]+)["']""", path.read_text()))
    prefixes = {key for key in used if key.endswith("-")}
    missing = sorted(used - prefixes - set(CATALOGUE))
    assert not missing
    for key, (pt, en) in CATALOGUE.items():
        assert pt and en, key


@pytest.mark.parametrize(
    "path", [("shelter_situation",), ("members", "@#2", "age_reported"), ("members", "#"),
             ("a", "@#1", "b", "@#3", "c"), ("members", "@0b7e-4c1a", "age"),
             ("a", "@k:1", "b", "@#12", "c")],
)  # fmt: skip
def test_a_path_read_back_from_its_text_is_the_same_path(path):
    from sync_core import merge
    from sync_server import records

    assert records.parse_path(merge.path_text(path)) == path


def test_a_decision_must_give_exactly_the_conflicts_fields(server: Server):
    from sync_server import records

    _base, conflict_id = make_conflict(server)
    coordinator = auth.Principal(account_id="c", role="coordinator", district="MZ1120")
    for values in ({}, {"shelter_situation": "tent", "intention": "stay"}):
        with pytest.raises(records.ResolveError) as refused:
            server.db.write(
                lambda c, v=values: records.resolve_conflict_fields(
                    c, coordinator, conflict_id, v, ""
                )
            )
        assert refused.value.code == "wrong-fields"
    assert server.query("SELECT count(*) FROM decisions")[0][0] == 0
