"""Sign in, sign out, and the language switch."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sync_server.auth import iso
from sync_server.workspace import accounts
from sync_server.workspace.accounts import COOKIE_NAME
from sync_server.workspace.i18n import LANGUAGES
from sync_server.workspace.web import LANGUAGE_COOKIE, Workspace

LOGIN_CSRF_COOKIE = "dfk_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never send a coordinator elsewhere after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc else "/"


def cookie_flags(request: Request) -> dict[str, object]:
    """http-only and SameSite=Strict always; Secure when the page came over https (on the
    district office's plain-http LAN a Secure cookie would never be sent back)."""
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


def add_routes(router: APIRouter, ws: Workspace) -> None:
    def login_page(request: Request, *, error: str = "", status: int = 200, **extra) -> Response:
        token = secrets.token_urlsafe(24)
        response = ws.render(
            request,
            None,
            "login.html",
            status=status,
            csrf=token,
            next=_safe_next(request.query_params.get("next")),
            notice=request.query_params.get("notice", ""),
            error=error,
            **extra,
        )
        response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_flags(request))
        return response

    @router.get("/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        return login_page(request)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not accounts.csrf_matches(expected, str(form.get("csrf", ""))):
            return login_page(request, error="csrf-refused", status=403)
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        outcome = await asyncio.wrap_future(
            ws.db.submit(lambda conn: accounts.sign_in(conn, username, password))
        )
        if outcome.account_id is None:
            await asyncio.sleep(accounts.failure_delay(outcome.failures))
            if outcome.locked_until is not None:
                return login_page(
                    request, error="locked", status=429, until=iso(outcome.locked_until)[11:16]
                )
            return login_page(request, error="bad-login", status=401)
        cookie = ws.db.write(
            lambda conn: accounts.start_session(conn, ws.secret, outcome.account_id)
        )
        response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
        response.set_cookie(
            COOKIE_NAME, cookie, max_age=int(accounts.SESSION_TIME.total_seconds()),
            **cookie_flags(request),
        )  # fmt: skip
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        who = ws.signed_in(request)
        if isinstance(who, Response):
            return who
        form = await request.form()
        if refused := ws.refused_post(request, who, form):
            return refused
        session_id = accounts.session_id_from_cookie(ws.secret, request.cookies.get(COOKIE_NAME))
        if session_id:
            ws.db.write(lambda conn: accounts.end_session(conn, session_id, who.account_id))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    @router.get("/language/{code}", include_in_schema=False)
    def set_language(code: str, request: Request) -> Response:
        response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        if code in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, code, max_age=365 * 86400,
                **{**cookie_flags(request), "httponly": False},
            )  # fmt: skip
        return response
