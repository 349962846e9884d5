"""Accounts, one-time enrollment codes and bearer tokens.

A supervisor runs `sync-server enroll` and reads a short code (or shows its QR) to the
enumerator; the tablet trades code + its device id for a long-lived token. Codes and tokens
are random and only their sha256 is stored, so a copy of the database can't be used to
impersonate a device. Revoking an account (lost tablet) makes its token useless at once.

Roles: `device` pushes and pulls within its district (and its sites, if it has any);
`coordinator` reads everything in its district and decides conflicts; `server` is a
district server forwarding to this (national) server: it pushes revisions of any device
in its district.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field

from forms.site_list import NEW_SITE
from sync_core.protocol import Role
from sync_server.problems import Problem

# No 0/O, 1/I/L: a code is read aloud over a bad phone line and typed on a tablet.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
CODE_LIFETIME = dt.timedelta(days=7)
# How long the tablet that redeemed a code may redeem it again, in case the answer with
# its token was lost on a bad link. After that, the code is spent for everyone.
RETRY_WINDOW = dt.timedelta(minutes=10)
TOKEN_PREFIX = "dfk_"
# The district of a national coordinator account: every district is in its scope.
NATIONAL = "*"


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may see."""

    account_id: str
    role: Role
    district: str
    sites: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_national(self) -> bool:
        """A national coordinator sees every district (only coordinators can be national)."""
        return self.role == "coordinator" and self.district == NATIONAL

    def covers(self, district: str | None, site_id: str | None) -> bool:
        """Whether a record with this scope is inside this account's scope."""
        if self.is_national:
            return True
        if district != self.district:
            return False
        # A "new site" record is in its district; the coordinator places it (sites.py).
        return not self.sites or site_id in (None, NEW_SITE) or site_id in self.sites


class EnrollmentError(Problem):
    """The code can't be used; the message says why and what to do.

    A refused code is 403 (`expired`, `unknown-code`, `revoked`), one already used 409
    (`used`, `device-id-taken`): the statuses are the catalogue's (`sync_server.problems`).
    """

    def __init__(self, code: str, message: str):
        super().__init__(code, message, status=403 if code == "revoked" else None)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_code() -> str:
    """A one-time code like `7KQ4-M9XD-2F`: about 50 bits, typeable, hard to guess."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(code: str) -> str:
    """Accept the code as people type it: any case, with or without dashes or spaces."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_code(
    conn: sqlite3.Connection,
    *,
    name: str,
    district: str,
    sites: list[str] | None = None,
    role: Role = "device",
    lifetime: dt.timedelta = CODE_LIFETIME,
) -> tuple[str, dt.datetime]:
    """Store a new one-time code (hashed) and return it with its expiry time."""
    code = new_code()
    created = now_utc()
    expires = created + lifetime
    conn.execute(
        "INSERT INTO enrollment_codes (code_sha256, role, name, district, sites, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (sha256(normalise_code(code)), role, name, district, json.dumps(sites or []),
         iso(created), iso(expires)),
    )  # fmt: skip
    return code, expires


def redeem_code(
    conn: sqlite3.Connection, code: str, device_id: str, current_token: str | None = None
) -> tuple[str, Principal]:
    """Trade a code for a new token bound to `device_id`. Runs inside a write transaction.

    A code redeems once. The only exception is the tablet that redeemed it asking again
    within `RETRY_WINDOW` (its first answer was lost on the way): it gets a fresh token,
    the earlier one stops working. A revoked account stays revoked: its code, and any
    other code issued before the revocation, give it nothing (`revoked`); a code issued
    after it (a supervisor's decision) enrolls the tablet again. The device id is bound to
    its account on first use; a code redeemed with an id that belongs to another account is refused
    (`device-id-taken`) and stays unused, so nobody can take over a working tablet's
    account by knowing its (public) device id. The tablet itself proves it owns the id by
    sending its current token (`current_token`): then a new code re-enrolls it (a
    supervisor moving it to another district or enumerator), and the old token stops.
    """
    row = conn.execute(
        "SELECT * FROM enrollment_codes WHERE code_sha256 = ?", (sha256(normalise_code(code)),)
    ).fetchone()
    if row is None:
        raise EnrollmentError(
            "unknown-code",
            "This enrollment code is not known to this server. Check it for typing mistakes "
            "(it looks like 7KQ4-M9XD-2F) and that the device is talking to the right server.",
        )
    if row["revoked_at"]:
        raise EnrollmentError("revoked", "This enrollment code was revoked. Ask for a new one.")
    if dt.datetime.fromisoformat(row["expires_at"]) < now_utc():
        raise EnrollmentError(
            "expired", "This enrollment code has expired. Ask your supervisor for a new one."
        )
    existing = conn.execute(
        "SELECT role, enrolled_with, revoked_at, token_sha256 FROM accounts WHERE account_id = ?",
        (device_id,),
    ).fetchone()
    # A revoked account stays revoked for every code that existed when it was revoked
    # (its own, and any other already handed out). Only a code issued after the revocation,
    # a supervisor's deliberate decision, enrolls the tablet again.
    readmit = (
        existing is not None
        and existing["revoked_at"] is not None
        and not row["used_by"]
        and row["created_at"] > existing["revoked_at"]
    )
    if existing is not None and existing["revoked_at"] and not readmit:
        raise EnrollmentError(
            "revoked",
            "This device's access was revoked. A supervisor must give the tablet a new "
            "enrollment code, issued after the revocation.",
        )
    retry = (
        row["used_by"] == device_id
        and existing is not None
        and existing["enrolled_with"] == row["code_sha256"]
        and now_utc() - dt.datetime.fromisoformat(row["used_at"]) <= RETRY_WINDOW
    )
    owner = (
        existing is not None
        and current_token is not None
        and secrets.compare_digest(existing["token_sha256"] or "", sha256(current_token))
    )
    if row["used_by"] and not retry:
        raise EnrollmentError(
            "used",
            "This enrollment code was already used. Each code enrolls one device, once: ask "
            "your supervisor for a new one.",
        )
    if existing is not None and not retry and not owner and not readmit:
        raise EnrollmentError(
            "device-id-taken",
            f"The device id {device_id!r} already belongs to another account on this server. "
            "The code was not used; enroll from the tablet that shows this code's QR, or ask "
            "the administrator.",
        )
    token = new_token()
    moment = iso(now_utc())
    if retry:
        conn.execute(
            "UPDATE accounts SET token_sha256 = ? WHERE account_id = ?", (sha256(token), device_id)
        )
    elif owner or readmit:
        conn.execute(
            "UPDATE accounts SET role = ?, name = ?, district = ?, sites = ?, token_sha256 = ?, "
            "enrolled_with = ?, revoked_at = NULL WHERE account_id = ?",
            (row["role"], row["name"], row["district"], row["sites"], sha256(token),
             row["code_sha256"], device_id),
        )  # fmt: skip
        conn.execute(
            "UPDATE enrollment_codes SET used_at = ?, used_by = ? WHERE code_sha256 = ?",
            (moment, device_id, row["code_sha256"]),
        )
    else:
        conn.execute(
            "INSERT INTO accounts (account_id, role, name, district, sites, token_sha256, "
            "enrolled_with, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, row["role"], row["name"], row["district"], row["sites"], sha256(token),
             row["code_sha256"], moment),
        )  # fmt: skip
        conn.execute(
            "UPDATE enrollment_codes SET used_at = ?, used_by = ? WHERE code_sha256 = ?",
            (moment, device_id, row["code_sha256"]),
        )
    principal = Principal(
        account_id=device_id,
        role=row["role"],
        district=row["district"],
        sites=tuple(json.loads(row["sites"])),
    )
    return token, principal


def create_coordinator(conn: sqlite3.Connection, *, name: str, district: str) -> tuple[str, str]:
    """A coordinator account and its token (shown once). Returns (account_id, token)."""
    account_id = f"coordinator-{uuid.uuid4().hex[:12]}"
    token = new_token()
    conn.execute(
        "INSERT INTO accounts (account_id, role, name, district, token_sha256, created_at) "
        "VALUES (?, 'coordinator', ?, ?, ?, ?)",
        (account_id, name, district, sha256(token), iso(now_utc())),
    )
    return account_id, token


def principal_for_token(conn: sqlite3.Connection, token: str) -> Principal | str | None:
    """The account a token belongs to; "revoked" for a revoked one; None if unknown."""
    row = conn.execute(
        "SELECT account_id, role, district, sites, revoked_at FROM accounts WHERE token_sha256 = ?",
        (sha256(token),),
    ).fetchone()
    if row is None:
        return None
    if row["revoked_at"]:
        return "revoked"
    return Principal(
        account_id=row["account_id"],
        role=row["role"],
        district=row["district"],
        sites=tuple(json.loads(row["sites"])),
    )


def revoke(
    conn: sqlite3.Connection, *, device_id: str | None = None, name: str | None = None
) -> int:
    """Revoke a device (by id) or every account and unused code of an enumerator (by name).
    Returns how many accounts and codes were revoked."""
    moment = iso(now_utc())
    if device_id:
        cursor = conn.execute(
            "UPDATE accounts SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
            (moment, device_id),
        )
        return cursor.rowcount
    if name:
        accounts = conn.execute(
            "UPDATE accounts SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (moment, name),
        ).rowcount
        codes = conn.execute(
            "UPDATE enrollment_codes SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL "
            "AND used_at IS NULL",
            (moment, name),
        ).rowcount
        return accounts + codes
    raise ValueError("revoke needs a device id or an enumerator name")
