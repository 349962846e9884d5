"""Issue #14 end to end, in Debian's headless chromium against a real `sync-server serve`:
two real tablets (fieldapp Store + SyncClient) register the same family differently, sync,
the pair appears on the Duplicates page, the coordinator confirms it in the browser, and
the export downloaded from the Exports page carries one household id for both records.
The last test photographs both pages at 1366x768 in Portuguese, then English (set
DFK_SCREENSHOTS=DIR to keep them).
"""

from __future__ import annotations

import copy
import csv
import io
import os
import random
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.store import Store
from fieldapp.sync_client import SyncClient
from forms import FORMS_DIR, load_form
from forms.household_id import new_household_id
from sync_server.workspace import accounts, testing
from tests.sync_helpers import ServerProcess

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "uma frase longa"
SITE = "MOZ-ZAM-0001"  # Namacurra (MZ1120)
FORM = "household_registration"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("Debian's chromium and chromium-driver are not installed (make setup)",
                allow_module_level=True)  # fmt: skip

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


class Office:
    """The server, two tablets and the coordinator's browser (downloads into a folder)."""

    def __init__(self, root: Path):
        self.root = root
        self.server = ServerProcess(root / "district", forms_dir=None).start()
        self.version = load_form(FORMS_DIR / f"{FORM}.xlsx").version
        self.shots = Path(os.environ.get("DFK_SCREENSHOTS") or root / "shots")
        self.shots.mkdir(parents=True, exist_ok=True)
        self.downloads = root / "downloads"
        self.downloads.mkdir()
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=root))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1366,768",
                     f"--user-data-dir={self.profile}"):  # fmt: skip
            options.add_argument(flag)
        options.add_experimental_option("prefs", {
            "download.default_directory": str(self.downloads),
            "download.prompt_for_download": False})  # fmt: skip
        self.browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.browser.set_page_load_timeout(60)
        self.browser.execute_cdp_cmd(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(self.downloads)},
        )
        conn = sqlite3.connect(self.server.data_dir / "sync.db", isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            accounts.create_login(conn, name="Graça Sitoe", username="graca", password=PASSWORD,
                                  district="MZ1120")  # fmt: skip
            conn.execute("COMMIT")
        finally:
            conn.close()

    def close(self) -> None:
        self.browser.quit()
        self.server.stop()

    def tablet(self, name: str) -> Store:
        store = Store(self.root / f"{name}.db")
        SyncClient(store, self.server.url).enroll(self.server.quick_code(enumerator=name))
        return store

    def register(self, store: Store, answers: dict) -> str:
        record_id = store.create_draft(FORM, self.version, answers)
        store.finalize(record_id, answers, title=answers["hh_head_given_name"], site_id=SITE)
        return record_id

    def open(self, path: str) -> None:
        self.browser.get(self.server.url + path)

    def find(self, css: str):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click something that loads a new page and wait for it."""
        old = self.find("html")
        self.find(css).click()
        WebDriverWait(self.browser, 30).until(expected_conditions.staleness_of(old))

    def sign_in(self) -> None:
        self.browser.delete_all_cookies()
        self.open("/login")
        self.find("#username").send_keys("graca")
        self.find("#password").send_keys(PASSWORD)
        self.click("#sign-in")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.browser.save_screenshot(str(path))
        return path


@pytest.fixture(scope="module")
def office() -> Iterator[Office]:
    root = Path(tempfile.mkdtemp(prefix="duplicates-browser-"))
    found = Office(root)
    try:
        yield found
    finally:
        found.close()
        shutil.rmtree(root, ignore_errors=True)


def family_twice(office: Office, amelia: Store, zito: Store, seed: int, spelling) -> list[str]:
    """One family registered by Amélia, then by Zito with the head's name spelt his way
    (same members, phone and site)."""
    family = testing.household(seed, site_id=SITE)
    again = copy.deepcopy(family)
    again["hh_head_given_name"] = spelling(family["hh_head_given_name"])
    # Zito did not find the family's card: a new registration, a new household id.
    again["household_id"] = new_household_id(random.Random(f"again-{seed}"))
    return [office.register(amelia, family), office.register(zito, again)]


def test_two_tablets_register_one_family_the_coordinator_confirms_and_the_export_agrees(
    office: Office,
):
    amelia, zito = office.tablet("Amélia Cossa"), office.tablet("Zito Banze")
    for seed in range(30, 35):  # other families at the same site
        office.register(amelia, testing.household(seed, site_id=SITE))
    first, second = family_twice(office, amelia, zito, 7, lambda name: name[:-1] + "e")
    assert SyncClient(amelia).sync().accepted == 6
    assert SyncClient(zito).sync().accepted == 1

    pair_id = office.server.query(
        "SELECT pair_id FROM duplicate_pairs WHERE record_id_1 = ? AND record_id_2 = ?",
        tuple(sorted((first, second))),
    )[0][0]

    office.sign_in()
    office.open("/duplicates")
    row = office.find(f"tr[data-pair='{pair_id}']")
    assert "mesmo telefone" in row.text and "%" in row.text
    assert f"/records/{first}" in row.get_attribute("innerHTML")
    old = office.find("html")
    row.find_element(By.CSS_SELECTOR, "a.button-link").click()
    WebDriverWait(office.browser, 30).until(expected_conditions.staleness_of(old))
    compare = office.find("#compare").text
    assert amelia.open_for_edit(first).answers["hh_head_given_name"] in compare
    assert zito.open_for_edit(second).answers["hh_head_given_name"] in compare
    office.click("#confirm")
    assert "Par confirmado" in office.find("#done").text
    assert "ligados ao agregado" in office.find("#status-text").text

    office.open("/exports")
    Select(office.find("#format")).select_by_value("csvzip")
    office.find("#kind-full").click()
    office.find("#purpose").send_keys("verificar duplicados")
    office.find("#download").click()  # a download: the page stays
    archive = _downloaded(office.downloads, ".zip")
    with zipfile.ZipFile(archive) as opened:
        text = opened.read(f"{FORM}.csv").decode("utf-8-sig")
    rows = {row["KEY"]: row for row in csv.DictReader(io.StringIO(text))}
    assert len(rows) == 7
    # One household id for both: the card of the family's first registration (Amélia's).
    card = amelia.open_for_edit(first).answers["household_id"]
    assert rows[first]["household_id"] == rows[second]["household_id"] == card
    others = [key for key in rows if key not in (first, second)]
    assert all(
        rows[key]["household_id"] == amelia.open_for_edit(key).answers["household_id"]
        for key in others
    )
    office.open("/exports")
    assert "verificar" not in office.browser.page_source  # the purpose stays in the audit log
    assert "7" in office.find("#recent-exports").text


def _downloaded(folder: Path, suffix: str, seconds: float = 60) -> Path:
    """The finished download (chromium writes `.crdownload` until the end)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == suffix]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} download in {seconds} s: {list(folder.iterdir())}")


def test_screenshots_of_the_exports_and_duplicates_pages(office: Office):
    """Not an assertion of looks: pictures for a person to open (DFK_SCREENSHOTS=DIR)."""
    amelia, zito = office.tablet("Amélia 2"), office.tablet("Zito 2")
    family_twice(office, amelia, zito, 11, str.upper)
    family_twice(office, amelia, zito, 12, lambda name: name + "a")
    SyncClient(amelia).sync()
    SyncClient(zito).sync()
    pairs = office.server.query(
        "SELECT pair_id, status FROM duplicate_pairs ORDER BY status = 'open' DESC, score DESC"
    )
    open_pair = next(p["pair_id"] for p in pairs if p["status"] == "open")
    confirmed = next(p["pair_id"] for p in pairs if p["status"] == "confirmed")
    taken = []
    for lang in ("pt", "en"):
        office.sign_in()
        office.open(f"/language/{lang}?next=/duplicates")
        for name, path in (("duplicates", "/duplicates"), ("duplicate", f"/duplicates/{open_pair}"),
                           ("duplicate-confirmed", f"/duplicates/{confirmed}"),
                           ("exports", "/exports")):  # fmt: skip
            office.open(path)
            assert office.browser.execute_script("return document.documentElement.lang") == lang
            taken.append(office.shot(f"{lang}-{name}"))
        office.find("#kind-full").click()
        office.click("#download")  # no purpose: the page again, with the error
        assert office.find("#errors").is_displayed()
        taken.append(office.shot(f"{lang}-exports-error"))
    assert all(path.stat().st_size > 10_000 for path in taken)
