"""The workspace in Debian's headless chromium against a real `sync-server serve` process,
with real tablets (fieldapp Store + SyncClient) on the other side.

One server and one browser for the module; the tests run in file order and build on each
other's data like a day at the district office: tablets register households, one edits,
two disagree, the coordinator decides, a new tablet is enrolled from the page and later
revoked, a site check comes in below standard. The last test photographs every page at
1366x768 in Portuguese and English (set DFK_SCREENSHOTS=DIR to keep them).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.store import Store
from fieldapp.sync_client import AuthError, SyncClient
from forms import FORMS_DIR, load_form
from sync_server.auth import NATIONAL
from sync_server.workspace import accounts, testing
from tests.sync_helpers import ServerProcess

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "uma frase longa"
SITE = "MOZ-ZAM-0001"  # Namacurra (MZ1120)

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("Debian's chromium and chromium-driver are not installed (make setup)",
                allow_module_level=True)  # fmt: skip

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


class Office:
    """The server, its database (read-only queries), the tablets and the browser."""

    def __init__(self, root: Path):
        self.root = root
        self.server = ServerProcess(root / "district", forms_dir=None).start()
        self.version = load_form(FORMS_DIR / "household_registration.xlsx").version
        self.tablets: dict[str, Store] = {}
        self.shots = Path(os.environ.get("DFK_SCREENSHOTS") or root / "shots")
        self.shots.mkdir(parents=True, exist_ok=True)
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=root))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1366,768",
                     f"--user-data-dir={self.profile}"):  # fmt: skip
            options.add_argument(flag)
        self.browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.browser.set_page_load_timeout(60)

    def close(self) -> None:
        self.browser.quit()
        self.server.stop()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- the database, as an administrator reads it --------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        return self.server.query(sql, params)

    def add_login(self, username: str, district: str, name: str) -> None:
        conn = sqlite3.connect(self.server.data_dir / "sync.db", isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN IMMEDIATE")
            accounts.create_login(conn, name=name, username=username, password=PASSWORD,
                                  district=district)  # fmt: skip
            conn.execute("COMMIT")
        finally:
            conn.close()

    def zulmira(self) -> str:
        """The record id of the household the tests follow."""
        return self.query("SELECT record_id FROM record_index WHERE title LIKE 'Zulm%'")[0][0]

    # --- tablets -------------------------------------------------------------------------

    def tablet(self, name: str, code: str | None = None) -> Store:
        store = Store(self.root / f"tablet-{len(self.tablets)}.db")
        code = code or self.server.quick_code(enumerator=name)
        SyncClient(store, self.server.url).enroll(code)
        self.tablets[name] = store
        return store

    def register(self, store: Store, seed: int, **changes) -> str:
        answers = testing.household(seed, site_id=SITE, **changes)
        record_id = store.create_draft("household_registration", self.version, answers)
        store.finalize(record_id, answers, title=answers["hh_head_given_name"], site_id=SITE)
        return record_id

    def edit(self, store: Store, record_id: str, **changes) -> None:
        answers = copy.deepcopy(store.open_for_edit(record_id).answers)
        answers.update(changes)
        store.finalize(record_id, answers)

    # --- the browser ---------------------------------------------------------------------

    def open(self, path: str) -> str:
        self.browser.get(self.server.url + path)
        return self.browser.page_source

    def find(self, css: str):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click something that loads a new page, and wait until it has loaded (a click
        returns before the browser has even sent the request)."""
        old = self.find("html")
        self.find(css).click()
        WebDriverWait(self.browser, 30).until(expected_conditions.staleness_of(old))

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.browser.delete_all_cookies()
        self.open("/login")
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(password)
        self.click("#sign-in")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.browser.save_screenshot(str(path))
        return path


@pytest.fixture(scope="module")
def office() -> Iterator[Office]:
    root = Path(tempfile.mkdtemp(prefix="workspace-browser-"))
    found = Office(root)
    try:
        found.add_login("graca", "MZ1120", "Graça Sitoe")
        found.add_login("admin", NATIONAL, "Administração Nacional")
        found.add_login("locky", "MZ1120", "Conta Bloqueável")
        yield found
    finally:
        found.close()
        shutil.rmtree(root, ignore_errors=True)


def test_sign_in_and_the_overview_counts_equal_the_database(office: Office):
    amelia = office.tablet("Amélia Cossa")
    for seed in range(4):
        office.register(amelia, seed)
    office.register(amelia, 50, hh_head_given_name="Zulmíra", hh_head_family_name="Chiúre",
                    contact_phone="847654321")  # fmt: skip
    SyncClient(amelia).sync()
    office.sign_in("graca")
    assert office.browser.current_url.rstrip("/") == office.server.url
    total = office.query("SELECT count(*) FROM records WHERE district = 'MZ1120'")[0][0]
    assert total == 5
    assert office.find("#total-records").text == str(total)
    assert office.find("#today-records").text == str(total)
    by_enumerator = office.find("#by-enumerator").text
    assert "Amélia Cossa" in by_enumerator and str(total) in by_enumerator
    # The tablet reported itself after the sync: version and an empty outbox.
    tablets = office.find("#tablets").text
    assert "Amélia Cossa" in tablets and "0.1.0" in tablets


def test_wrong_passwords_lock_the_account(office: Office):
    for attempt in range(accounts.MAX_FAILURES):
        office.sign_in("locky", f"errada {attempt}")
    message = office.find(".error").text
    assert "bloqueada" in message
    office.sign_in("locky")  # the right password, too late
    assert "/login" in office.browser.current_url and "bloqueada" in office.find(".error").text


def test_filters_and_search_find_the_expected_records(office: Office):
    office.sign_in("graca")
    page = office.open("/records")
    assert len(office.find_all("tr[data-record]")) == 5, page[-3000:]
    office.find("#q").send_keys("ZULMIRA chiure")
    office.click("#apply")
    rows = office.find_all("tr[data-record]")
    assert [r.text.split("\n")[0] for r in rows] == ["Zulmíra Chiúre"] or "Zulmíra" in rows[0].text
    assert len(rows) == 1
    office.find("#q").clear()
    office.find("#q").send_keys("765 4321")
    office.click("#apply")
    assert len(office.find_all("tr[data-record]")) == 1
    office.open("/records")
    Select(office.find("#status")).select_by_value("edited")
    office.click("#apply")
    assert office.find_all("tr[data-record]") == []
    Select(office.find("#status")).select_by_value("new")
    Select(office.find("#enumerator")).select_by_visible_text("Amélia Cossa")
    office.click("#apply")
    assert len(office.find_all("tr[data-record]")) == 5


def test_a_record_history_shows_an_edit_made_on_a_tablet(office: Office):
    amelia = office.tablets["Amélia Cossa"]
    zito = office.tablet("Zito Banze")
    SyncClient(zito).sync()
    record_id = office.zulmira()
    office.edit(zito, record_id, intention="stay" if office_intention(zito, record_id) != "stay"
                else "return")  # fmt: skip
    SyncClient(zito).sync()
    SyncClient(amelia).sync()
    office.sign_in("graca")
    office.open(f"/records/{record_id}")
    history = office.find("#history").text
    assert "Zito Banze" in history and "editou" in history
    assert "Amélia Cossa" in history and "criou o registo" in history
    assert "Intenção" in history or "intenção" in history.lower()


def office_intention(store: Store, record_id: str) -> str:
    return store.draft(record_id).answers.get("intention", "")


def test_a_conflict_decided_on_the_page_reaches_a_tablet_on_its_next_pull(office: Office):
    amelia, zito = office.tablets["Amélia Cossa"], office.tablets["Zito Banze"]
    record_id = office.zulmira()
    # Neither value is one the sample household starts with.
    office.edit(amelia, record_id, shelter_situation="makeshift")
    office.edit(zito, record_id, shelter_situation="host_family")
    SyncClient(amelia).sync()
    SyncClient(zito).sync()
    office.sign_in("graca")
    office.open("/conflicts")
    office.click("tr[data-conflict] a.button-link")
    office.find("#pick-0-typed").click()
    office.find("#typed-0").send_keys("tent")
    office.find("#note").send_keys("Visitei: estão com familiares")
    office.click("#resolve")
    assert f"/records/{record_id}" in office.browser.current_url
    assert "decidiu um conflito" in office.find("#history").text
    report = SyncClient(amelia).sync()
    assert report.decisions == 1
    assert amelia.draft(record_id).answers["shelter_situation"] == "tent"
    SyncClient(zito).sync()
    assert zito.draft(record_id).answers["shelter_situation"] == "tent"


def test_a_tablet_enrolled_from_the_page_syncs_and_is_refused_once_revoked(office: Office):
    office.sign_in("graca")
    office.open("/tablets")
    office.find("#enroll-name").send_keys("Castigo Nhantumbo")
    office.click("#make-code")
    code = office.find("#code").text
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}", code)
    qr = office.find("#qr")
    assert qr.get_attribute("naturalWidth") not in (None, "0")
    office.shot("pt-tablets-new-code")
    castigo = office.tablet("Castigo Nhantumbo", code=code)
    office.register(castigo, 77)
    assert SyncClient(castigo).sync().accepted == 1
    device_id = castigo.device_id
    office.open("/tablets")
    office.click(f"#revoke-{device_id}")
    row = office.find(f'tr[data-device="{device_id}"]')
    assert "revogado" in row.text
    office.register(castigo, 78)
    with pytest.raises(AuthError):
        SyncClient(castigo).sync()


def test_the_sites_page_and_the_map_show_a_red_site_red(office: Office):
    amelia = office.tablets["Amélia Cossa"]
    version = load_form(FORMS_DIR / "site_check.xlsx").version
    answers = testing.site_check(3, site_id=SITE, latrines=2, individuals=480)
    answers["district"] = "MZ1120"
    record_id = amelia.create_draft("site_check", version, answers)
    amelia.finalize(record_id, answers, site_id=SITE)
    assert SyncClient(amelia).sync().accepted == 1
    office.sign_in("graca")
    office.open("/sites")
    first = office.find_all("section.site")[0]
    assert first.get_attribute("id") == SITE and first.get_attribute("data-colour") == "red"
    assert "vermelho" in first.text
    office.open("/map")
    dot = office.find("circle.dot-red")
    assert dot.get_attribute("data-site").startswith("Centro de Acomodação Escola Primária")
    fill = office.browser.execute_script("return getComputedStyle(arguments[0]).fill", dot)
    assert fill == "rgb(198, 40, 40)"  # the stylesheet loaded and painted it red


def test_screenshots_of_every_page_in_both_languages(office: Office):
    """Not an assertion of looks: pictures for a person to open (DFK_SCREENSHOTS=DIR)."""
    diaspora_tablet = office.tablets["Amélia Cossa"]
    version = load_form(FORMS_DIR / "diaspora_mapping.xlsx").version
    for seed in range(6):
        answers = testing.diaspora(seed)
        record_id = diaspora_tablet.create_draft("diaspora_mapping", version, answers)
        diaspora_tablet.finalize(record_id, answers)
    SyncClient(diaspora_tablet).sync()
    record_id = office.zulmira()
    resolved = office.query("SELECT conflict_id FROM conflicts WHERE kind = 'hard'")[0][0]
    pages = {
        "overview": "/", "records": "/records", "record": f"/records/{record_id}",
        "conflicts": "/conflicts?status=resolved", "conflict": f"/conflicts/{resolved}",
        "tablets": "/tablets", "sites": "/sites", "map": "/map", "diaspora": "/diaspora",
        "accounts": "/accounts", "records-search": "/records?q=zulmira",
    }  # fmt: skip
    taken = []
    for lang in ("pt", "en"):
        office.browser.delete_all_cookies()
        office.open(f"/language/{lang}")
        office.open("/login")
        taken.append(office.shot(f"{lang}-login"))
        office.find("#username").send_keys("admin")
        office.find("#password").send_keys(PASSWORD)
        office.click("#sign-in")
        for name, path in pages.items():
            office.open(path)
            assert office.browser.execute_script("return document.documentElement.lang") == lang
            taken.append(office.shot(f"{lang}-{name}"))
            if name == "record":
                office.browser.execute_script("document.getElementById('history').scrollIntoView()")
                taken.append(office.shot(f"{lang}-record-history"))
        office.open("/docs")
        office.browser.implicitly_wait(5)
        assert office.find(".swagger-ui .title").text.startswith("Displacement Field Kit")
        office.browser.implicitly_wait(0)
        taken.append(office.shot(f"{lang}-docs"))
    assert all(path.stat().st_size > 10_000 for path in taken)
