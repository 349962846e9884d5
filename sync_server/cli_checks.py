"""Checks on what `sync-server` commands are given, before anything is written.

A coordinator types these commands by hand, often tired, sometimes over a slow remote
shell. A typo must not become a working enrollment code for district `banana`, a new
empty database in a mistyped folder, or a traceback: each check here raises CliError
with one sentence that says what was wrong and what would be right.
"""

from __future__ import annotations

import difflib
import errno
import os
import socket
import sqlite3
from pathlib import Path

from sync_server.db import DATABASE_NAME


class CliError(Exception):
    """A command's argument is wrong; the message is printed as it is, exit status 2."""


def require_database(data_dir: Path, *, create: bool = False) -> None:
    """The data folder must hold a server database, unless `create` (serve --init)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise CliError(f"--data-dir {data_dir} is a file, not a folder.")
    if (data_dir / DATABASE_NAME).is_file():
        require_writable(data_dir)
        return
    if not create:
        raise CliError(
            f"there is no sync server database in {data_dir}: check --data-dir, or create "
            f"one with `sync-server serve --init --data-dir {data_dir}`."
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create {data_dir}: {error.strerror or error}.") from None
    require_writable(data_dir)


def require_writable(data_dir: Path) -> None:
    """Every command writes (the database, its journal, the audit log): a read-only folder
    or database would otherwise fail halfway with an SQLite traceback."""
    for path in (data_dir, data_dir / DATABASE_NAME):
        if path.exists() and not os.access(path, os.W_OK):
            raise CliError(
                f"{path} is read-only: the server must write there. Give it a folder it may "
                "write to with --data-dir, or change the folder's permissions."
            )


def check_port(host: str, port: int) -> None:
    """The address `serve` will listen on must be free and this computer's own.

    Bound and released at once, with SO_REUSEADDR as uvicorn binds (so a port left in
    TIME_WAIT by a server that just stopped is not mistaken for a busy one)."""
    if not 1 <= port <= 65535:
        raise CliError(f"--port {port} is not a port: choose a number from 1 to 65535.")
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror:
        raise CliError(f"--host {host!r} is not an address or name this computer knows.") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is already in use (another sync server, or "
                    "another program): stop it, or choose a free port with --port."
                ) from None
            if error.errno == errno.EACCES:
                raise CliError(
                    f"port {port} needs administrator rights: choose one above 1023 with "
                    "--port (8000 is usual)."
                ) from None
            if error.errno == errno.EADDRNOTAVAIL:
                raise CliError(
                    f"--host {host} is not an address of this computer: use 127.0.0.1 "
                    "(this computer only) or 0.0.0.0 (every network it is on)."
                ) from None
            raise CliError(f"cannot listen on {host} port {port}: {error.strerror}.") from None


def _nearest(wanted: str, known: dict[str, str]) -> str:
    """'MZ1120 (Namacurra)'-style suggestions: close codes or names, else the first few."""
    by_name = {name.casefold(): code for code, name in known.items()}
    codes = [code for code in sorted(known) if wanted and code.startswith(wanted.upper())]
    codes += difflib.get_close_matches(wanted.upper(), list(known), n=3, cutoff=0.5)
    codes += [
        by_name[name]
        for name in difflib.get_close_matches(wanted.casefold(), list(by_name), n=3, cutoff=0.6)
    ]
    codes = list(dict.fromkeys(codes))[:3] or sorted(known)[:3]
    return ", ".join(f"{code} ({known[code]})" for code in codes)


def check_district(pcode: str) -> str:
    """The district's P-code as the gazetteer spells it; CliError if it has no such district.

    A district's name is accepted too ("Namacurra" -> MZ1120)."""
    from forms.geo import default_gazetteer

    districts = {d.pcode: d.name for d in default_gazetteer().districts}
    if pcode.upper() in districts:
        return pcode.upper()
    by_name = {name.casefold(): code for code, name in districts.items()}
    if pcode.casefold() in by_name:
        return by_name[pcode.casefold()]
    raise CliError(
        f"unknown district {pcode!r}: the gazetteer has no such P-code. Nearest: "
        f"{_nearest(pcode, districts)}."
    )


def check_sites(district: str, sites: list[str]) -> list[str]:
    """Each site must be a gazetteer site in `district`."""
    from forms.geo import default_gazetteer

    gazetteer = default_gazetteer()
    in_district = {
        s.site_id: s.name for s in gazetteer.sites.values() if s.district_pcode == district
    }
    checked = []
    for site in sites:
        if site.upper() in in_district:
            checked.append(site.upper())
            continue
        elsewhere = gazetteer.sites.get(site.upper())
        if elsewhere is not None:
            raise CliError(
                f"site {site} ({elsewhere.name}) is in district {elsewhere.district_pcode}, "
                f"not {district}."
            )
        nearest = _nearest(site, in_district) if in_district else "none in this district"
        raise CliError(f"unknown site {site!r} in district {district}. Nearest: {nearest}.")
    return checked


def resolve_device(data_dir: Path, device: str) -> str:
    """A full device id from the short one shown on the tablet, when it is unambiguous."""
    conn = sqlite3.connect(f"file:{data_dir / DATABASE_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT account_id FROM accounts WHERE account_id = ? OR account_id LIKE ? || '%'",
            (device, device.replace("%", "").replace("_", "")),
        ).fetchall()
    finally:
        conn.close()
    ids = sorted({row[0] for row in rows})
    if device in ids or not ids:
        return device  # exact, or unknown: revoke says "Nothing to revoke"
    if len(ids) > 1:
        raise CliError(
            f"the short id {device} matches {len(ids)} devices ({', '.join(ids[:5])}): give "
            "more of the id (Settings on the tablet shows all of it)."
        )
    return ids[0]


def check(args) -> None:
    """Run the checks that apply to the parsed command line, normalising what they accept."""
    command = args.command
    if not hasattr(args, "data_dir"):
        return  # a command without a server database (e.g. `duplicates`)
    data_dir: Path = args.data_dir
    if command == "serve":
        check_port(args.host, args.port)  # before --init creates anything
    require_database(data_dir, create=command == "serve" and getattr(args, "init", False))
    if command in ("enroll", "coordinator"):
        args.district = check_district(args.district)
    if command == "enroll":
        args.site = check_sites(args.district, args.site)
    if command == "revoke" and args.device:
        args.device = resolve_device(data_dir, args.device)
