"""`sync-server`: run the district (or national) sync server and manage who may use it.

    sync-server serve --data-dir DIR [--host 127.0.0.1] [--port 8000] [--forms-dir forms/]
    sync-server enroll --enumerator NAME --district PCODE [--site ID ...] [--server-role]
    sync-server revoke (--device ID | --enumerator NAME)
    sync-server coordinator --name NAME (--district PCODE | --national) [--password-prompt]
    sync-server publish-form FORM [ATTACHMENT ...]
    sync-server forward --to URL (--token TOKEN | --code CODE) [--every SECONDS]
    sync-server duplicates INPUT.csv --out PAIRS.csv [--threshold P]
    sync-server export --form ID --format csvzip|xlsx|geojson|hxl --out PATH [options]
    sync-server --self-test
    sync-server sites list [--district PCODE] [--all]
    sync-server sites add --name NAME --type TYPE --district PCODE --lat LAT --lon LON
    sync-server sites close SITE_ID [--date YYYY-MM-DD]
    sync-server sites confirm SITE_ID | sites merge SITE_ID --into SITE_ID

Every command but `duplicates` (which reads a CSV list, see duplicates_cli) takes
--data-dir (default ./sync-data; in a packaged bundle, the platform's user data folder:
see default_data_dir). The management commands may run
while the server is serving: SQLite serialises their writes with the server's.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from sync_core.arguments import ArgumentParser

DEFAULT_DATA_DIR = Path("sync-data")


def default_data_dir() -> Path:
    """Where the server keeps its database when --data-dir is not given.

    From a source checkout: ./sync-data. In a bundle (PyInstaller sets `sys.frozen`), the
    working folder is often the bundle itself (a double-click on Windows), which the next
    upgrade replaces: there the default is the platform's user data folder instead
    (~/.local/share/dfk-sync-server on Linux, %LOCALAPPDATA%\\dfk\\dfk-sync-server on
    Windows), as README's install section says.
    """
    if getattr(sys, "frozen", False):
        from platformdirs import user_data_dir

        return Path(user_data_dir("dfk-sync-server", "dfk"))
    return DEFAULT_DATA_DIR


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from sync_server.selftest import run

        return run()
    if args.command is None:
        parser.error("the following arguments are required: COMMAND (or --self-test)")
    from sync_server.cli_checks import CliError, check

    try:
        check(args)
    except CliError as error:
        parser.exit(2, f"sync-server {args.command}: {error}\n")
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="sync-server",
        description="District sync server for the Displacement Field Kit tablets.",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation in a temporary folder (a server on a free loopback "
        "port, a push, the sign-in page), then exit: 0 when everything works",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=default_data_dir(),
            help="directory of the server's database and published forms (default: %(default)s)",
        )
        sub.set_defaults(run=run)
        return sub

    serve = command("serve", "Run the sync server.", _serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (%(default)s)")
    serve.add_argument(
        "--forms-dir",
        type=Path,
        help="publish the XLSForms (*.xlsx) in this directory (default: the bundled forms)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="processes validating uploads (default: one per core, at most 4; 0: none)",
    )
    serve.add_argument(
        "--max-clock-drift",
        type=float,
        default=300,
        help="seconds a revision's clock may run ahead of the server's before it is "
        "ordered as if it arrived now (%(default)s)",
    )
    serve.add_argument(
        "--enroll-failures",
        type=int,
        default=10,
        help="failed enrollments one address may make in a row, and per minute after that "
        "(%(default)s)",
    )
    serve.add_argument(
        "--enroll-failures-total",
        type=int,
        default=100,
        help="failed enrollments from all addresses in a row, and per minute (%(default)s)",
    )
    serve.add_argument("--verbose", action="store_true", help="log revision ids of each push")
    serve.add_argument(
        "--init",
        action="store_true",
        help="create the database if --data-dir has none (otherwise a missing one is an error)",
    )

    enroll = command(
        "enroll",
        "Make a one-time enrollment code (and its QR image) for one tablet.",
        _enroll,
    )
    enroll.add_argument("--enumerator", required=True, help="who will use the tablet")
    enroll.add_argument("--district", required=True, help="district P-code, e.g. MZ1120")
    enroll.add_argument(
        "--site", action="append", default=[], help="limit to this site id (repeatable)"
    )
    enroll.add_argument(
        "--server-role",
        action="store_true",
        help="the code is for a district server forwarding to this (national) server",
    )
    enroll.add_argument("--server-url", help="put this server address in the QR code too")
    enroll.add_argument("--days", type=float, default=7, help="days the code is valid (7)")

    revoke = command("revoke", "Revoke a device, or every device of an enumerator.", _revoke)
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--device", help="device id (in the tablet's Settings; the short id when unambiguous)"
    )
    who.add_argument("--enumerator", help="enumerator name as given to `enroll`")

    coordinator = command(
        "coordinator", "Create a coordinator account and print its token.", _coordinator
    )
    coordinator.add_argument("--name", required=True, help="the coordinator's name")
    scope = coordinator.add_mutually_exclusive_group(required=True)
    scope.add_argument("--district", help="district P-code, e.g. MZ1120")
    scope.add_argument(
        "--national",
        action="store_true",
        help="a national coordinator: sees every district, creates workspace accounts",
    )
    coordinator.add_argument(
        "--password-prompt",
        action="store_true",
        help="ask for a password (twice on a terminal; one line from standard input "
        "otherwise) so the coordinator can sign in to the web workspace",
    )
    coordinator.add_argument(
        "--username", help="user name for the web workspace (default: from --name)"
    )

    publish = command(
        "publish-form", "Publish an XLSForm and its attachments to the tablets.", _publish
    )
    publish.add_argument("form", type=Path, metavar="FORM", help="the XLSForm (.xlsx)")
    publish.add_argument(
        "attachments",
        nargs="*",
        type=Path,
        metavar="ATTACHMENT",
        help="files the form uses (CSV/GeoJSON choices and lookups, media); those beside "
        "the form are taken when not given",
    )

    forward = command(
        "forward", "Push every revision received here to the national server.", _forward
    )
    forward.add_argument("--to", required=True, help="national server address")
    forward.add_argument("--token", help="this server's token on the national server")
    forward.add_argument(
        "--code", help="an enrollment code from the national server (first time only)"
    )
    forward.add_argument(
        "--every", type=float, help="keep forwarding, every SECONDS (default: once)"
    )

    sites = command(
        "sites",
        "List, add, close, confirm or merge sites: the living site list the tablets get.",
        _sites,
    )
    sites.add_argument(
        "action", choices=["list", "add", "close", "confirm", "merge"], help="what to do"
    )
    sites.add_argument("site_id", nargs="?", help="the site to close, confirm or merge")
    sites.add_argument("--name", help="add: the site's name")
    sites.add_argument(
        "--type",
        dest="site_type",
        default="accommodation_centre",
        help="add: accommodation_centre, resettlement_site or host_community (%(default)s)",
    )
    sites.add_argument("--district", help="add: district P-code; list: only this district")
    sites.add_argument("--lat", type=float, help="add: latitude of the site's centre")
    sites.add_argument("--lon", type=float, help="add: longitude of the site's centre")
    sites.add_argument("--date", help="add: opening date; close: closing date (default today)")
    sites.add_argument("--into", help="merge: the listed site the proposed one is")
    sites.add_argument("--all", action="store_true", help="list: proposed and merged sites too")

    from sync_server.duplicates_cli import add_command

    add_command(commands)
    export = command(
        "export",
        "Export a form's records (CSV zip, XLSX, GeoJSON or HXL CSV); shareable unless --full.",
        _export,
    )
    export.add_argument("--form", required=True, help="form id, e.g. household_registration")
    export.add_argument(
        "--format", required=True, help="csvzip, xlsx, geojson or hxl (HXL-tagged CSV for HDX)"
    )
    export.add_argument("--out", required=True, type=Path, help="file to write")
    export.add_argument(
        "--from", dest="date_from", help="records created on or after this day (YYYY-MM-DD)"
    )
    export.add_argument("--to", dest="date_to", help="records created on or before this day")
    export.add_argument("--district", help="only this district (P-code)")
    export.add_argument("--site", help="only this site id")
    export.add_argument("--enumerator", help="only records started by this enumerator/device")
    export.add_argument("--status", help="only clean, soft-conflict or open-conflict records")
    export.add_argument(
        "--codes", action="store_true", help="choice names (codes) instead of labels"
    )
    export.add_argument("--language", help="language of the labels, e.g. pt or en")
    export.add_argument(
        "--without-open-conflicts",
        action="store_true",
        help="leave out records with an open (hard) conflict",
    )
    export.add_argument(
        "--every-revision", action="store_true", help="one row per revision, not per record"
    )
    export.add_argument(
        "--full",
        action="store_true",
        help="include personal and sensitive data (needs --token of a coordinator and "
        "--purpose; recorded in the audit log)",
    )
    export.add_argument("--token", help="a coordinator's token: limits the export to its scope")
    export.add_argument("--purpose", default="", help="why a full export is needed")
    export.add_argument(
        "--threshold",
        type=int,
        default=5,
        help="shareable: people counts below this are written <N (default: %(default)s)",
    )
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _export(args: argparse.Namespace) -> int:
    from sync_server import auth
    from sync_server.db import Database
    from sync_server.exports import ExportError, ExportOptions, export, parse_date
    from sync_server.exports.progress import ProgressBar

    try:
        options = ExportOptions(
            form_id=args.form,
            format=args.format,
            date_from=parse_date(args.date_from, "--from"),
            date_to=parse_date(args.date_to, "--to"),
            district=args.district,
            site_id=args.site,
            enumerator=args.enumerator,
            status=args.status,
            labels=not args.codes,
            language=args.language,
            include_open_conflicts=not args.without_open_conflicts,
            every_revision=args.every_revision,
            shareable=not args.full,
            threshold=args.threshold,
            purpose=args.purpose,
        ).check()
    except ExportError as error:
        print(f"export: {error.message}", file=sys.stderr)
        return 2
    if not (args.data_dir / "sync.db").is_file():
        print(f"export: no server database in {args.data_dir}", file=sys.stderr)
        return 2
    db = Database(args.data_dir)
    bar = None if args.quiet else ProgressBar(sys.stderr)
    try:
        principal = None
        if args.token:
            with db.read() as conn:
                found = auth.principal_for_token(conn, args.token)
            if not isinstance(found, auth.Principal):
                print("export: the token is unknown or revoked.", file=sys.stderr)
                return 2
            principal = found
        summary = export(db, options, args.out, principal=principal, progress=bar)
    except ExportError as error:
        if bar:
            bar.finish()
        print(f"export: {error.message} Nothing was written.", file=sys.stderr)
        return 2
    finally:
        db.close()
    if bar:
        bar.finish()
    tables = ", ".join(f"{name}: {count}" for name, count in summary.rows.items())
    kind = "shareable" if summary.shareable else "FULL (personal data; audited)"
    print(f"Exported {summary.records} record(s) ({tables}) to {args.out} [{kind}]")
    return 0


def _sites(args: argparse.Namespace) -> int:
    import datetime as dt

    from forms import FORMS_DIR
    from sync_server import sites
    from sync_server.db import Database

    today = dt.date.today().isoformat()
    db = Database(args.data_dir)
    try:
        db.write(lambda conn: sites.seed(conn, FORMS_DIR / "data" / "transit_sites.geojson"))
        if args.action == "list":
            statuses = ("open", "closed", "proposed", "merged") if args.all else sites.LISTED
            with db.read() as conn:
                rows = sites.list_sites(conn, district=args.district, statuses=statuses)
            for site in rows:
                print(
                    f"{site['site_id']}\t{site['status']}\t{site['district_pcode']}\t"
                    f"{site['opened'] or ''}\t{site['closed'] or ''}\t{site['name']}"
                )
            return 0
        if args.action == "add":
            if not args.name or not args.district:
                print("sync-server sites add: --name and --district are required", file=sys.stderr)
                return 2
            site_id = db.write(
                lambda conn: sites.add_site(
                    conn,
                    name=args.name,
                    site_type=args.site_type,
                    district=args.district,
                    lat=args.lat,
                    lon=args.lon,
                    opened=args.date or today,
                    account_id="cli",
                )
            )
            print(f"Opened site {site_id}. Tablets get it at their next sync.")
            return 0
        if not args.site_id:
            print(f"sync-server sites {args.action}: give the SITE_ID", file=sys.stderr)
            return 2
        site_id = args.site_id.upper()
        if args.action == "close":
            db.write(
                lambda conn: sites.close_site(
                    conn, site_id, closed=args.date or today, account_id="cli"
                )
            )
            print(f"Closed site {site_id}. Tablets stop offering it at their next sync.")
        elif args.action == "confirm":
            db.write(lambda conn: sites.confirm_site(conn, site_id, account_id="cli"))
            print(f"Confirmed site {site_id}: it is open and on the tablets' list.")
        else:
            into = (args.into or "").upper()
            db.write(lambda conn: sites.merge_site(conn, site_id, into, account_id="cli"))
            print(f"Merged proposed site {site_id} into {into}.")
        return 0
    except sites.SiteError as error:
        print(f"sync-server sites {args.action}: {error}", file=sys.stderr)
        return 2
    finally:
        db.close()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sync_server.app import create_app
    from sync_server.guards import EnrollThrottle

    throttle = EnrollThrottle(
        per_address=args.enroll_failures,
        per_address_per_minute=args.enroll_failures,
        total=args.enroll_failures_total,
        total_per_minute=args.enroll_failures_total,
    )
    app = create_app(
        args.data_dir,
        args.forms_dir,
        validation_workers=args.workers,
        max_clock_drift_ms=int(args.max_clock_drift * 1000),
        enroll_throttle=throttle,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    import datetime as dt

    import qrcode

    from sync_core.protocol import enrollment_uri
    from sync_server import auth
    from sync_server.db import Database

    db = Database(args.data_dir)
    try:
        code, expires = db.write(
            lambda conn: auth.create_code(
                conn,
                name=args.enumerator,
                district=args.district,
                sites=args.site,
                role="server" if args.server_role else "device",
                lifetime=dt.timedelta(days=args.days),
            )
        )
    finally:
        db.close()
    qr_dir = args.data_dir / "enrollment"
    qr_dir.mkdir(parents=True, exist_ok=True)
    # The file name carries no name or code: the folder may be shared or backed up.
    qr_path = qr_dir / f"enroll-{auth.sha256(code)[:12]}.png"
    qrcode.make(enrollment_uri(code, args.server_url)).save(qr_path)
    print(f"Enrollment code: {code}")
    print(f"Valid until:     {auth.iso(expires)} (one device, once)")
    print(f"QR image:        {qr_path}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from sync_server import auth
    from sync_server.db import Database

    db = Database(args.data_dir)
    try:
        count = db.write(
            lambda conn: auth.revoke(conn, device_id=args.device, name=args.enumerator)
        )
    finally:
        db.close()
    if not count:
        target = f"device {args.device}" if args.device else f"enumerator {args.enumerator!r}"
        print(f"Nothing to revoke: no active {target} on this server.", file=sys.stderr)
        return 1
    print(f"Revoked {count} account(s)/code(s).")
    return 0


def _coordinator(args: argparse.Namespace) -> int:
    from sync_server import auth
    from sync_server.db import Database

    district = auth.NATIONAL if args.national else args.district
    if args.password_prompt:
        return _coordinator_login(args, district)
    db = Database(args.data_dir)
    try:
        account_id, token = db.write(
            lambda conn: auth.create_coordinator(conn, name=args.name, district=district)
        )
    finally:
        db.close()
    print(f"Coordinator account: {account_id}")
    print(f"Token (shown once):  {token}")
    return 0


def _coordinator_login(args: argparse.Namespace, district: str) -> int:
    """A coordinator who signs in to the workspace with a user name and password."""
    import getpass
    import re
    import unicodedata

    from sync_server.db import Database
    from sync_server.workspace import accounts

    username = args.username
    if not username:
        plain = unicodedata.normalize("NFKD", args.name).encode("ascii", "ignore").decode()
        username = re.sub(r"[^a-z0-9]+", ".", plain.lower()).strip(".")
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            print("The two passwords differ; nothing was created.", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    db = Database(args.data_dir)
    try:
        account_id = db.write(
            lambda conn: accounts.create_login(
                conn, name=args.name, username=username, password=password, district=district
            )
        )
    except accounts.AccountError as error:
        messages = {
            "password-too-short": f"The password needs at least {accounts.MIN_PASSWORD_LENGTH} "
            "characters",
            "username-taken": f"The user name {username!r} is taken; choose another with "
            "--username",
            "username-invalid": "The user name may only have letters, digits, '.', '-', '_'",
            "name-missing": "The name is empty",
        }
        print(f"{messages.get(error.key, error.key)}; nothing was created.", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"Coordinator account: {account_id}")
    print(f"Workspace user name: {username}")
    print("Scope:               " + ("national" if district == "*" else district))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from forms import FormLoadError
    from sync_server.catalog import PublishError, publish_form
    from sync_server.db import Database

    db = Database(args.data_dir)
    warnings: list[str] = []
    try:
        form, new = db.write(
            lambda conn: publish_form(
                conn, args.data_dir, args.form, args.attachments, warnings=warnings
            )
        )
    except (FormLoadError, PublishError) as error:
        print(f"not published: {error}", file=sys.stderr)
        return 1
    finally:
        db.close()
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    state = "published" if new else "already published"
    print(f"{state}: {form.form_id} version {form.version} ({form.title})")
    return 0


def _forward(args: argparse.Namespace) -> int:
    from sync_server.db import Database
    from sync_server.forward import ForwardError, forward_once, remember_target

    db = Database(args.data_dir)
    try:
        try:
            remember_target(db, args.to, token=args.token, code=args.code)
        except ForwardError as error:
            print(f"forward: {error}", file=sys.stderr)
            return 1
        while True:
            try:
                report = forward_once(db, args.to)
                print(
                    f"forwarded {report.sent} revision(s) to {args.to}: "
                    f"{report.accepted} accepted, {report.already_had} already there, "
                    f"{len(report.refused)} refused"
                )
                for revision_id, codes in report.refused.items():
                    print(f"refused {revision_id}: {codes}")
                if report.refused:
                    print(
                        "forward: the national server refused some revisions (above); they "
                        "are retried at every forward. Publish the same form versions there "
                        "(sync-server publish-form), then forward again.",
                        file=sys.stderr,
                    )
            except ForwardError as error:
                print(f"forward: {error}", file=sys.stderr)
                if args.every is None:
                    return 1
            if args.every is None:
                return 2 if report.refused else 0
            time.sleep(args.every)
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())
