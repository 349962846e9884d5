"""Coordinator sign-in for the workspace: passwords, sessions, lockout and the audit log.

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
  recommendation); only the hash is stored.
- A session is a random id. The browser holds `<id>.<HMAC-SHA256 of id>` in an http-only,
  SameSite=Strict cookie; the server keeps only the sha256 of the id, its account, its CSRF
  token and its expiry. A cookie whose signature doesn't match, or whose session is unknown
  or expired, is refused before any database lookup of its account.
- Failed sign-ins are counted per user name typed, known or not (so the answer never hints
  whether a name exists): after MAX_FAILURES in a row the name is locked for LOCK_TIME, and
  each failure is answered after a delay that grows with the count.
- Every sign-in (good or bad) and every change made from the workspace is written to
  `audit_log` with account ids and the ids of what was touched, never names or answers.

All functions take a connection: writes run inside the single writer's transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sync_server.auth import NATIONAL, Principal, iso, now_utc, sha256

MAX_FAILURES = 5
LOCK_TIME = dt.timedelta(minutes=15)
SESSION_TIME = dt.timedelta(hours=10)  # a working day at the district office
MIN_PASSWORD_LENGTH = 10
COOKIE_NAME = "dfk_session"

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Coordinator:
    """The signed-in person: their account, scope and session's CSRF token."""

    account_id: str
    name: str
    username: str
    district: str
    csrf_token: str

    @property
    def national(self) -> bool:
        return self.district == NATIONAL

    @property
    def principal(self) -> Principal:
        return Principal(account_id=self.account_id, role="coordinator", district=self.district)


class AccountError(ValueError):
    """An account can't be created as asked; `key` names the message in the catalogue."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key
        self.detail = detail


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password-too-short", str(MIN_PASSWORD_LENGTH))


def create_login(
    conn: sqlite3.Connection,
    *,
    name: str,
    username: str,
    password: str,
    district: str,
    created_by: str | None = None,
) -> str:
    """A coordinator account that signs in with a password; returns its account id.

    `district` is a P-code or NATIONAL ("*"). Runs inside a write transaction.
    """
    username = normalise_username(username)
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccountError("username-invalid")
    if not name.strip():
        raise AccountError("name-missing")
    check_password_rules(password)
    if conn.execute("SELECT 1 FROM workspace_logins WHERE username = ?", (username,)).fetchone():
        raise AccountError("username-taken")
    from sync_server.auth import create_coordinator

    account_id, _token = create_coordinator(conn, name=name.strip(), district=district)
    conn.execute(
        "INSERT INTO workspace_logins (account_id, username, password_hash, created_at, "
        "created_by) VALUES (?, ?, ?, ?, ?)",
        (account_id, username, _hasher.hash(password), iso(now_utc()), created_by),
    )
    audit(conn, created_by, "account.create", account_id)
    return account_id


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt."""

    account_id: str | None = None  # set when the password was right
    locked_until: dt.datetime | None = None  # set when the name is locked
    failures: int = 0


def sign_in(
    conn: sqlite3.Connection, username: str, password: str, *, now: dt.datetime | None = None
) -> SignIn:
    """Check a password (inside a write transaction: it counts failures and audits)."""
    now = now or now_utc()
    username = normalise_username(username)[:200]
    failure = conn.execute(
        "SELECT failures, locked_until FROM login_failures WHERE username = ?", (username,)
    ).fetchone()
    if failure and failure["locked_until"]:
        until = dt.datetime.fromisoformat(failure["locked_until"])
        if until > now:
            audit(conn, None, "signin", None, outcome="locked", now=now)
            return SignIn(locked_until=until, failures=failure["failures"])
    row = conn.execute(
        "SELECT l.account_id, l.password_hash, a.revoked_at FROM workspace_logins l "
        "JOIN accounts a ON a.account_id = l.account_id WHERE l.username = ?",
        (username,),
    ).fetchone()
    good = False
    try:
        good = _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        good = False
    if good and row is not None and not row["revoked_at"]:
        conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        if _hasher.check_needs_rehash(row["password_hash"]):
            conn.execute(
                "UPDATE workspace_logins SET password_hash = ? WHERE account_id = ?",
                (_hasher.hash(password), row["account_id"]),
            )
        audit(conn, row["account_id"], "signin", None, now=now)
        return SignIn(account_id=row["account_id"])
    # A lock that ran out starts a fresh count.
    failures = 1 if failure is None or failure["locked_until"] else failure["failures"] + 1
    locked_until = now + LOCK_TIME if failures >= MAX_FAILURES else None
    conn.execute(
        "INSERT INTO login_failures (username, failures, last_failure_at, locked_until) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET failures = excluded.failures, "
        "last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
        (username, failures, iso(now), iso(locked_until) if locked_until else None),
    )
    audit(
        conn,
        row["account_id"] if row else None,
        "signin",
        None,
        outcome="locked" if locked_until else "bad-password",
        now=now,
    )
    return SignIn(locked_until=locked_until, failures=failures)


def failure_delay(failures: int) -> float:
    """Seconds to wait before answering a failed sign-in: slows guessing, not people."""
    return min(0.2 * failures, 1.0)


# --- sessions --------------------------------------------------------------------------


def _signature(secret: str, session_id: str) -> str:
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def session_secret(conn: sqlite3.Connection) -> str:
    return conn.execute("SELECT value FROM meta WHERE key = 'session_secret'").fetchone()[0]


def start_session(
    conn: sqlite3.Connection, secret: str, account_id: str, *, now: dt.datetime | None = None
) -> str:
    """A new session for the account; returns the cookie value (id and signature)."""
    now = now or now_utc()
    session_id = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO sessions (session_sha256, account_id, csrf_token, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (sha256(session_id), account_id, secrets.token_urlsafe(32), iso(now),
         iso(now + SESSION_TIME)),
    )  # fmt: skip
    # Old sessions go away as new ones start: the table stays small without a cron job.
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (iso(now),))
    return f"{session_id}.{_signature(secret, session_id)}"


def session_id_from_cookie(secret: str, cookie: str | None) -> str | None:
    """The session id if the cookie carries a valid signature; None if absent or tampered."""
    if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
        return None
    session_id, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _signature(secret, session_id)):
        return None
    return session_id


def coordinator_for_session(
    conn: sqlite3.Connection, session_id: str, *, now: dt.datetime | None = None
) -> Coordinator | None:
    """The coordinator of a live session; None if unknown, expired or revoked."""
    now = now or now_utc()
    row = conn.execute(
        "SELECT s.account_id, s.csrf_token, s.expires_at, a.name, a.district, a.revoked_at, "
        "l.username FROM sessions s JOIN accounts a ON a.account_id = s.account_id "
        "JOIN workspace_logins l ON l.account_id = s.account_id WHERE s.session_sha256 = ?",
        (sha256(session_id),),
    ).fetchone()
    if row is None or row["revoked_at"] or dt.datetime.fromisoformat(row["expires_at"]) <= now:
        return None
    return Coordinator(
        account_id=row["account_id"],
        name=row["name"],
        username=row["username"],
        district=row["district"],
        csrf_token=row["csrf_token"],
    )


def end_session(conn: sqlite3.Connection, session_id: str, account_id: str) -> None:
    conn.execute("DELETE FROM sessions WHERE session_sha256 = ?", (sha256(session_id),))
    audit(conn, account_id, "signout", None)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


# --- audit -----------------------------------------------------------------------------


def audit(
    conn: sqlite3.Connection,
    account_id: str | None,
    action: str,
    target: str | None,
    *,
    outcome: str = "ok",
    now: dt.datetime | None = None,
) -> None:
    """One line in the audit log: ids only, never names, answers or phone numbers."""
    conn.execute(
        "INSERT INTO audit_log (at, account_id, action, target, outcome) VALUES (?, ?, ?, ?, ?)",
        (iso(now or now_utc()), account_id, action, target, outcome),
    )


def list_logins(conn: sqlite3.Connection) -> list[dict[str, object]]:
    """Every workspace login, for the national administrator's accounts page."""
    return [
        dict(row)
        for row in conn.execute(
            "SELECT l.account_id, l.username, a.name, a.district, a.revoked_at, l.created_at, "
            "(SELECT max(at) FROM audit_log g WHERE g.account_id = l.account_id "
            " AND g.action = 'signin' AND g.outcome = 'ok') AS last_signin, "
            "(SELECT locked_until FROM login_failures f WHERE f.username = l.username "
            " AND f.locked_until > ?) AS locked_until "
            "FROM workspace_logins l JOIN accounts a ON a.account_id = l.account_id "
            "ORDER BY a.district, l.username",
            (iso(now_utc()),),
        )
    ]
