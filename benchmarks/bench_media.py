"""A photo over a 2G link that drops: resumable chunks vs a whole-file upload, in one run.

A record with one photo is pushed to a real server process; then the photo goes up
through sync_core.throttle (64 kbit/s, 400 ms round trip, every connection reset every
`drop` seconds) twice, each time to a fresh server:

- ours: `fieldapp.media_sync` in 64 KB chunks, resuming from the server's offset and
  halving the chunk after a cut;
- baseline: the same uploader with one chunk the size of the file, which is what an
  upload of the whole file in one request (ODK Collect's multipart submission) does: a
  drop loses everything sent and the next attempt starts from byte 0. It gives up after
  8 attempts in a row without progress (`MAX_FAILED_CHUNKS`).

It prints the time and the bytes sent for each, next to the bare transfer time of the
file at 64 kbit/s. Run: .venv/bin/python benchmarks/bench_media.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldapp.media_sync import MediaUploader  # noqa: E402
from fieldapp.store import Store  # noqa: E402
from fieldapp.sync_client import SyncClient, SyncError, SyncReport  # noqa: E402
from sync_core.media import CHUNK_BYTES  # noqa: E402
from sync_core.throttle import ThrottleProxy  # noqa: E402
from sync_server.testing import ServerProcess  # noqa: E402

FORMS = ROOT / "tests" / "data" / "media_forms"
RATE = 64_000 / 8  # bytes per second


def run(
    base: Path, name: str, photo: bytes, chunk: int, drop: float, limit: float, adaptive: bool
) -> None:
    server = ServerProcess(base / name, forms_dir=FORMS).start()
    try:
        store = Store(base / f"{name}-tablet" / "store.db")
        SyncClient(store, server.url).enroll(server.quick_code())
        answers = {"district": "MZ1120", "site_id": "MOZ-ZAM-0001", "head_name": "Ana"}
        record_id = store.create_draft("media_visit", "1", answers)
        file_name = f"{uuid.uuid4().hex}.jpg"
        store.media_dir(record_id).mkdir(parents=True)
        (store.media_dir(record_id) / file_name).write_bytes(photo)
        store.finalize(record_id, {**answers, "shelter_photo": file_name})
        SyncClient(store)._push(SyncReport())
        link = {"bandwidth_bps": 64_000, "latency_s": 0.2, "drop_every_s": drop}
        with ThrottleProxy(("127.0.0.1", server.port), **link) as proxy:
            client = SyncClient(store, proxy.url, give_up_after=limit)
            start = time.perf_counter()
            try:
                uploader = MediaUploader(
                    store, client.transport, chunk_bytes=chunk, adaptive=adaptive
                )
                report = uploader.upload_all()
                done = report.uploaded == 1
            except SyncError:
                done = False
            took = time.perf_counter() - start
            up, drops = proxy.stats.bytes_up, proxy.stats.drops
        held = (server.data_dir / "media" / record_id / file_name).is_file()
        assert held == done
        outcome = f"{took:6.1f} s" if done else f"not done after {took:.0f} s"
        print(f"   {name:<9}: {outcome}, {up / 1024:6.0f} KB up ({up / len(photo):.2f}x the "
              f"file), {drops} drop(s)")  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller photo (about a minute)")
    args = parser.parse_args()
    size, drop = (96 * 1024, 5.0) if args.quick else (320 * 1024, 15.0)
    photo = os.urandom(size)
    bare = size / RATE
    limit = max(6 * bare, 60.0)
    print(f"A {size // 1024} KB photo over 64 kbit/s, 400 ms round trip, dropped every "
          f"{drop:.0f} s; bare transfer time {bare:.1f} s")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        run(Path(tmp), "chunks", photo, CHUNK_BYTES, drop, limit, adaptive=True)
        run(Path(tmp), "one-shot", photo, size, drop, limit, adaptive=False)


if __name__ == "__main__":
    main()
