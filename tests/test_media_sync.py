"""Record media reach the server: a real tablet store and sync client, a real server
process, and a throttling proxy that cuts the link in the middle of a file.

The server's copy is the truth: an upload cut off midway goes on from the offset the server
reports, a damaged chunk is refused, and a device of another district can neither upload
nor read a record's files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest
import requests

from fieldapp.media_sync import MediaUploader, file_sha256
from fieldapp.store import Store
from fieldapp.sync_client import SyncClient, SyncReport
from sync_core.media import CHUNK_BYTES, MAX_MEDIA_BYTES, media_references
from sync_core.throttle import ThrottleProxy
from tests.sync_helpers import DISTRICT, OTHER_DISTRICT, ROOT, SITE, ServerProcess, auth

pytestmark = pytest.mark.system

FORMS = ROOT / "tests" / "data" / "media_forms"
FORM_ID, VERSION = "media_visit", "1"
PHOTO_BYTES = 5 * CHUNK_BYTES + 1234  # six chunks, the last one short


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(tmp_path / "server", forms_dir=FORMS).start()
    yield process
    process.stop()


def tablet(tmp_path: Path, server: ServerProcess, name: str = "tablet", **enroll) -> Store:
    store = Store(tmp_path / name / "store.db")
    SyncClient(store, server.url).enroll(server.quick_code(**enroll))
    return store


def photo(tmp_path: Path, size: int = PHOTO_BYTES) -> Path:
    source = tmp_path / f"camera-{uuid.uuid4().hex[:6]}.jpg"
    source.write_bytes(os.urandom(size))
    return source


def visit_with_photo(store: Store, source: Path, district: str = DISTRICT) -> tuple[str, str]:
    """What the app does: attach the photo into the record's media folder, finalize."""
    answers = {"district": district, "site_id": SITE, "head_name": "Ana Mussa"}
    record_id = store.create_draft(FORM_ID, VERSION, answers)
    name = f"{uuid.uuid4().hex}.jpg"
    folder = store.media_dir(record_id)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / name)
    store.finalize(record_id, {**answers, "shelter_photo": name}, title="Ana Mussa")
    return record_id, name


def push_records(store: Store) -> None:
    """Only the records' part of a sync: their files stay on the tablet."""
    SyncClient(store)._push(SyncReport())


def stored(server: ServerProcess, record_id: str, name: str) -> Path:
    return server.data_dir / "media" / record_id / name


def test_a_photo_reaches_the_server_after_its_record(tmp_path: Path, server: ServerProcess):
    store = tablet(tmp_path, server)
    source = photo(tmp_path)
    record_id, name = visit_with_photo(store, source)
    assert store.media_waiting() == 1
    assert store.pending_media() == []  # the record isn't on the server yet

    report = SyncClient(store).sync()

    assert (report.accepted, report.media_uploaded, report.media_failed) == (1, 1, 0)
    assert stored(server, record_id, name).read_bytes() == source.read_bytes()
    [row] = server.query("SELECT * FROM media")
    assert (row["record_id"], row["name"], row["path"], row["size"], row["sha256"]) == (
        record_id, name, "shelter_photo", PHOTO_BYTES, file_sha256(source),
    )  # fmt: skip
    assert row["completed_at"]
    assert store.media_waiting() == 0
    # Idempotent: the next sync sends nothing again.
    assert SyncClient(store).sync().media_uploaded == 0
    assert len(server.query("SELECT * FROM media")) == 1
    assert (
        server.query("SELECT account_id, target FROM audit_log WHERE action = 'media-received'")[0][
            "target"
        ]
        == f"{record_id}/{name}"
    )


def test_an_upload_cut_off_midway_resumes_from_the_servers_offset(
    tmp_path: Path, server: ServerProcess
):
    store = tablet(tmp_path, server)
    source = photo(tmp_path)
    record_id, name = visit_with_photo(store, source)
    # The record goes up directly (no proxy); then the file goes through a link that dies
    # after about two and a half chunks of the first connection.
    push_records(store)
    assert store.pending_media()
    cut_at = 2 * CHUNK_BYTES + CHUNK_BYTES // 2
    with ThrottleProxy(("127.0.0.1", server.port), cuts={0: ("up", cut_at)}) as proxy:
        uploader = MediaUploader(
            store, SyncClient(store, proxy.url, sleep=lambda s: None).transport
        )
        report = uploader.upload_all()
        assert proxy.stats.drops == 1
        up = proxy.stats.bytes_up
    assert (report.uploaded, report.failed) == (1, [])
    assert stored(server, record_id, name).read_bytes() == source.read_bytes()
    # Resumed, not restarted: the bytes sent over the wire are the file, the one chunk
    # cut off, and headers, far less than the file twice.
    assert up < PHOTO_BYTES + CHUNK_BYTES + 20_000
    assert report.bytes_sent == PHOTO_BYTES + CHUNK_BYTES


def test_a_transfer_that_stops_resumes_on_the_next_sync(tmp_path: Path, server: ServerProcess):
    """A tablet switched off after three chunks: the server keeps them; the next sync
    (a new client, as after a restart) asks the offset and sends only the rest."""
    store = tablet(tmp_path, server)
    source = photo(tmp_path)
    record_id, name = visit_with_photo(store, source)
    token = store.get_setting("token")
    push_records(store)
    data = source.read_bytes()
    url = f"{server.url}/api/v1/media/{record_id}/{name}"
    for offset in range(0, 3 * CHUNK_BYTES, CHUNK_BYTES):
        chunk = data[offset : offset + CHUNK_BYTES]
        response = put_chunk(url, token, offset, data, chunk)
        assert response.status_code == 200, response.text
    status = requests.get(url + "/status", headers=auth(token), timeout=10).json()
    assert (status["received"], status["complete"]) == (3 * CHUNK_BYTES, False)
    assert not stored(server, record_id, name).exists()

    report = SyncClient(store).sync()

    assert report.media_uploaded == 1
    assert stored(server, record_id, name).read_bytes() == data


def put_chunk(url: str, token: str, offset: int, data: bytes, chunk: bytes, **override):
    params = {
        "offset": offset,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunk_sha256": hashlib.sha256(chunk).hexdigest(),
        **override,
    }
    return requests.put(
        url,
        params=params,
        data=chunk,
        headers={**auth(token), "Content-Type": "application/octet-stream"},
        timeout=10,
    )


def pushed_record(tmp_path: Path, server: ServerProcess) -> tuple[Store, str, str, bytes, str]:
    store = tablet(tmp_path, server)
    source = photo(tmp_path)
    record_id, name = visit_with_photo(store, source)
    push_records(store)
    url = f"{server.url}/api/v1/media/{record_id}/{name}"
    return store, record_id, url, source.read_bytes(), store.get_setting("token")


def test_a_damaged_chunk_is_refused_and_nothing_is_stored(tmp_path: Path, server: ServerProcess):
    store, record_id, url, data, token = pushed_record(tmp_path, server)
    chunk = data[:CHUNK_BYTES]
    damaged = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
    response = put_chunk(
        url, token, 0, data, damaged, chunk_sha256=hashlib.sha256(chunk).hexdigest()
    )
    assert response.status_code == 422
    assert response.json()["error"] == "checksum"
    assert requests.get(url + "/status", headers=auth(token), timeout=10).json()["received"] == 0

    # A chunk at the wrong offset is refused with the server's offset.
    assert put_chunk(url, token, 0, data, chunk).status_code == 200
    wrong = put_chunk(url, token, 0, data, chunk)
    assert (wrong.status_code, wrong.json()["error"]) == (409, "offset")
    assert wrong.json()["problems"][0]["message"] == str(CHUNK_BYTES)

    # A whole file whose chunks are each intact but which isn't the declared file: refused
    # at the end, and the server drops its copy so the next try starts clean.
    other = os.urandom(len(data) - CHUNK_BYTES)
    offset = CHUNK_BYTES
    while offset < len(data):
        part = other[offset - CHUNK_BYTES : offset]
        response = put_chunk(url, token, offset, data, part)
        offset += len(part)
    assert (response.status_code, response.json()["error"]) == (422, "checksum")
    assert requests.get(url + "/status", headers=auth(token), timeout=10).json()["received"] == 0
    assert not (server.data_dir / "media" / record_id).exists()

    # The tablet's sync then sends the real file from zero.
    assert SyncClient(store).sync().media_uploaded == 1


def test_limits_and_types(tmp_path: Path, server: ServerProcess):
    _, record_id, url, data, token = pushed_record(tmp_path, server)
    too_big = put_chunk(url, token, 0, data, data[:10], size=MAX_MEDIA_BYTES + 1)
    assert (too_big.status_code, too_big.json()["error"]) == (413, "too-large")
    exe = f"{server.url}/api/v1/media/{record_id}/{uuid.uuid4().hex}.exe"
    refused = put_chunk(exe, token, 0, data, data[:10])
    assert (refused.status_code, refused.json()["error"]) == (415, "media-type")
    # A name no revision of the record mentions: nothing to attach it to.
    stray = f"{server.url}/api/v1/media/{record_id}/{uuid.uuid4().hex}.jpg"
    assert put_chunk(stray, token, 0, data, data[:10]).status_code == 404
    # JSON is not a chunk; a binary body anywhere else is not JSON.
    as_json = requests.put(url, params={"offset": 0, "size": 3, "sha256": "0" * 64,
                                        "chunk_sha256": "0" * 64}, data=b"abc",
                           headers={**auth(token), "Content-Type": "application/json"},
                           timeout=10)  # fmt: skip
    assert (as_json.status_code, as_json.json()["error"]) == (415, "content-type")
    binary_push = requests.post(
        f"{server.url}/api/v1/push",
        data=b"\x00\x01",
        headers={**auth(token), "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert (binary_push.status_code, binary_push.json()["error"]) == (415, "content-type")
    no_token = requests.get(url + "/status", timeout=10)
    assert no_token.status_code == 401


def test_a_device_of_another_district_can_neither_upload_nor_read(
    tmp_path: Path, server: ServerProcess
):
    store = tablet(tmp_path, server)
    source = photo(tmp_path)
    record_id, name = visit_with_photo(store, source)
    SyncClient(store).sync()
    url = f"{server.url}/api/v1/media/{record_id}/{name}"
    _, outsider = server.enroll(district=OTHER_DISTRICT)
    data = source.read_bytes()

    for response in (
        requests.get(url, headers=auth(outsider), timeout=10),
        requests.get(url + "/status", headers=auth(outsider), timeout=10),
        put_chunk(url, outsider, 0, data, data[:CHUNK_BYTES]),
    ):
        assert (response.status_code, response.json()["error"]) == (404, "not-found")
        assert "Ana" not in response.text

    # The district's coordinator and a device of the same district read it.
    coordinator = server.coordinator_token(DISTRICT)
    got = requests.get(url, headers=auth(coordinator), timeout=10)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/jpeg"
    _, neighbour = server.enroll(district=DISTRICT)
    assert requests.get(url, headers=auth(neighbour), timeout=10).content == data
    # A coordinator reads; it doesn't upload.
    denied = put_chunk(url, coordinator, 0, data, data[:CHUNK_BYTES])
    assert (denied.status_code, denied.json()["error"]) == (403, "forbidden")


def test_media_references_name_each_file_with_its_answer_path():
    answers = {
        "head_name": "Ana",
        "photo": "5f0c.jpg",
        "members": [{"name": "Rui"}, {"id_photo": "a1b2.png", "note": "not a file"}],
        "document": "../../etc/passwd.txt",
    }
    assert media_references(answers) == {"5f0c.jpg": "photo", "a1b2.png": "members[2].id_photo"}


# --- the coordinator's workspace ----------------------------------------------------------

PASSWORD = "uma frase longa"


def add_login(server: ServerProcess, username: str, district: str) -> None:
    import sqlite3

    from sync_server.workspace import accounts

    conn = sqlite3.connect(server.data_dir / "sync.db", isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        accounts.create_login(
            conn, name="Graça", username=username, password=PASSWORD, district=district
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def web_session(server: ServerProcess, username: str) -> requests.Session:
    from sync_server.workspace.testing import csrf_of

    session = requests.Session()
    page = session.get(server.url + "/login", timeout=10)
    answer = session.post(
        server.url + "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD, "next": "/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text[:300]
    return session


def real_jpeg(tmp_path: Path) -> Path:
    from PIL import Image, ImageDraw

    path = tmp_path / "shelter.jpg"
    image = Image.new("RGB", (640, 480), (70, 120, 160))
    draw = ImageDraw.Draw(image)
    draw.polygon([(120, 380), (320, 160), (520, 380)], fill=(200, 170, 90))
    draw.rectangle([(280, 300), (360, 380)], fill=(90, 60, 40))
    image.save(path, quality=85)
    return path


def test_coordinators_open_a_records_files_from_its_page(tmp_path: Path, server: ServerProcess):
    store = tablet(tmp_path, server)
    source = real_jpeg(tmp_path)
    record_id, name = visit_with_photo(store, source)
    SyncClient(store).sync()
    add_login(server, "graca", DISTRICT)
    add_login(server, "nelson", OTHER_DISTRICT)
    file_url = f"{server.url}/records/{record_id}/media/{name}"

    anonymous = requests.get(file_url, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303  # to the sign-in page, never the file

    graca = web_session(server, "graca")
    page = graca.get(f"{server.url}/records/{record_id}", timeout=10)
    assert page.status_code == 200
    assert f"/records/{record_id}/media/{name}" in page.text
    assert "shelter_photo" in page.text and "Ficheiros" in page.text
    got = graca.get(file_url, timeout=10)
    assert got.status_code == 200 and got.content == source.read_bytes()
    assert got.headers["content-type"] == "image/jpeg"
    assert (
        server.query("SELECT target FROM audit_log WHERE action = 'media.download'")[0]["target"]
        == f"{record_id}/{name}"
    )

    nelson = web_session(server, "nelson")
    assert nelson.get(file_url, timeout=10).status_code == 404
    assert (
        nelson.get(f"{server.url}/records/{record_id}/media/x.jpg", timeout=10).status_code == 404
    )


@pytest.mark.browser
def test_the_record_page_shows_the_photo_in_chromium(tmp_path: Path, server: ServerProcess):
    chromium, driver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and driver.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    store = tablet(tmp_path, server)
    record_id, _ = visit_with_photo(store, real_jpeg(tmp_path))
    SyncClient(store).sync()
    add_login(server, "graca", DISTRICT)
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,768",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(driver)), options=options)
    try:
        browser.get(server.url + "/login")
        browser.find_element(By.NAME, "username").send_keys("graca")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button, form [type=submit]").click()
        # The click only starts the sign-in: wait for it to land before leaving the page.
        WebDriverWait(browser, 30).until(lambda b: "/login" not in b.current_url)
        browser.get(f"{server.url}/records/{record_id}")
        photo_element = browser.find_element(By.CSS_SELECTOR, "#files img.record-photo")
        width = browser.execute_script(
            "const img = arguments[0]; return img.complete ? img.naturalWidth : -1;",
            photo_element,
        )
        assert width == 640  # the real picture loaded through the session, not a broken icon
        shots = Path(os.environ.get("DFK_SCREENSHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        browser.execute_script("document.getElementById('files').scrollIntoView()")
        browser.save_screenshot(str(shots / "record-media-pt.png"))
    finally:
        browser.quit()


def test_a_full_csv_export_names_each_records_file(tmp_path: Path, server: ServerProcess):
    """The files stay on the server; the export's column holds the file's name (as ODK
    Central's CSV does), so a coordinator can find it under the record's page."""
    import csv
    import io
    import subprocess
    import sys
    import zipfile

    store = tablet(tmp_path, server)
    _, name = visit_with_photo(store, photo(tmp_path))
    SyncClient(store).sync()
    out = tmp_path / "visits.zip"
    result = subprocess.run(
        [sys.executable, "-m", "sync_server.cli", "export", "--data-dir", str(server.data_dir),
         "--form", FORM_ID, "--format", "csvzip", "--out", str(out), "--full",
         "--purpose", "checking photos", "--token", server.coordinator_token(), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        text = archive.read(f"{FORM_ID}.csv").decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["shelter_photo"] for row in rows] == [name]
    assert not any(n.startswith("media/") for n in names)  # names, not the files
