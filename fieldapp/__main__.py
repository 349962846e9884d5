"""`fieldapp` / `python -m fieldapp`: open the tablet app."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fieldapp.launch import LaunchError, check_display, lock_data_dir, parse_size, prepare_data_dir
from sync_core.arguments import ArgumentParser


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("displacement-field-kit", "dfk"))


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="fieldapp", description="Displacement Field Kit app")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the local SQLite database lives (default: the platform's user data directory)",
    )
    parser.add_argument("--server", help="sync server address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--enroll-code", help="one-time enrollment code from the coordinator")
    parser.add_argument("--enumerator", help="enumerator name or ID (skips the set-up screen)")
    parser.add_argument("--language", choices=["pt", "en"], help="interface language")
    parser.add_argument(
        "--size", default="1280x800", type=size_argument, help="window size, e.g. 800x1280"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation: open the app offscreen in a temporary folder, draw "
        "home and a form, save a household, then exit (0 when everything works)",
    )
    parser.add_argument(
        "--self-test-screenshots",
        type=Path,
        metavar="DIR",
        help="with --self-test: keep the screenshots of the screens it drew in DIR",
    )
    args = parser.parse_args(argv)
    if args.self_test_screenshots and not args.self_test:
        parser.error("--self-test-screenshots is only used with --self-test")
    if args.self_test:
        from fieldapp.selftest import run

        return run(screenshots=args.self_test_screenshots)
    try:
        check_display()
        data_dir = prepare_data_dir(args.data_dir or default_data_dir())
        lock = lock_data_dir(data_dir)
    except LaunchError as error:
        print(f"fieldapp: {error}", file=sys.stderr)
        return 1

    # Kivy reads sys.argv and its config at import: settle both before importing it.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    width, height = args.size
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")

    from fieldapp.app import FieldApp

    with lock:
        FieldApp(
            data_dir,
            server_url=args.server,
            enroll_code=args.enroll_code,
            enumerator=args.enumerator,
            language=args.language,
        ).run()
    return 0


def size_argument(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except LaunchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


if __name__ == "__main__":
    raise SystemExit(main())
