"""Checks on what `sync-server` commands are given, before anything is written.

A coordinator types these commands by hand, often tired, sometimes over a slow remote
shell. A typo must not become a working enrollment code for district `banana`, a new
empty database in a mistyped folder, or a traceback: each check here raises CliError
with one sentence that says what was wrong and what would be right.
"""

from __future__ import annotations

import difflib
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
    require_database(data_dir, create=command == "serve" and getattr(args, "init", False))
    if command in ("enroll", "coordinator"):
        args.district = check_district(args.district)
    if command == "enroll":
        args.site = check_sites(args.district, args.site)
    if command == "revoke" and args.device:
        args.device = resolve_device(data_dir, args.device)
