"""What every workspace page shares: templates, the signed-in coordinator, CSRF, headers.

Pages are rendered on the server with Jinja2 (autoescaping on: a household named
`<script>` is shown as text). Each view calls `Workspace.signed_in(request)` first and
returns its answer (a redirect to the sign-in page) when nobody valid is signed in, and
`Workspace.refused_post(...)` on every form post, which checks the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from forms import FormLoadError, load_form
from forms.model import Form, language_code
from sync_server.catalog import published_forms
from sync_server.db import Database
from sync_server.workspace import accounts, index
from sync_server.workspace.accounts import COOKIE_NAME, Coordinator
from sync_server.workspace.i18n import DEFAULT_LANGUAGE, LANGUAGES, has_text, translate
from sync_server.workspace.maps import district_names

log = logging.getLogger("sync_server.workspace")

HERE = Path(__file__).parent
LANGUAGE_COOKIE = "dfk_lang"

# The pages in the navigation bar, in order.
NAV = [
    ("/", "nav-overview"),
    ("/records", "nav-records"),
    ("/conflicts", "nav-conflicts"),
    ("/tablets", "nav-tablets"),
    ("/sites", "nav-sites"),
    ("/map", "nav-map"),
    ("/diaspora", "nav-diaspora"),
    ("/exports", "nav-exports"),
    ("/duplicates", "nav-duplicates"),
]
# Pages listed but not installed on this server: shown greyed (none at the moment; the
# template keeps the greyed style for a page that is on its way).
NOT_INSTALLED: set[str] = set()

# No inline script or style anywhere: the policy can forbid both.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Workspace:
    """The shared state of the workspace pages for one server."""

    def __init__(self, db: Database, data_dir: Path, sites: list[dict[str, Any]]):
        self.db = db
        self.data_dir = data_dir
        self.sites = sites
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html", "svg"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        with db.read() as conn:
            self.secret = accounts.session_secret(conn)

    # --- who is signed in ----------------------------------------------------------------

    def signed_in(self, request: Request) -> Coordinator | Response:
        """The coordinator of a valid session, or a redirect to the sign-in page."""
        cookie = request.cookies.get(COOKIE_NAME)
        session_id = accounts.session_id_from_cookie(self.secret, cookie)
        who = None
        if session_id is not None:
            with self.db.read() as conn:
                who = accounts.coordinator_for_session(conn, session_id)
        if who is not None:
            return who
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        notice = "session-ended" if cookie else ""
        response = RedirectResponse(
            f"/login?{urlencode({'next': target, 'notice': notice})}", status_code=303
        )
        if cookie:
            response.delete_cookie(COOKIE_NAME, path="/")
        return response

    def refused_post(self, request: Request, who: Coordinator, form: Any) -> Response | None:
        """A 403 page when a form post lacks the session's CSRF token; None when it is fine."""
        if accounts.csrf_matches(who.csrf_token, form.get("csrf")):
            return None
        self.audit(who.account_id, "csrf", request.url.path, outcome="refused")
        return self.render(request, who, "error.html", status=403, message_key="csrf-refused")

    def audit(self, account_id: str | None, action: str, target: str | None, **kw: Any) -> None:
        self.db.write(lambda conn: accounts.audit(conn, account_id, action, target, **kw))

    async def refresh_index(self) -> None:
        """Bring the record list up to date with what arrived since the last page view."""
        with self.db.read() as conn:
            stale = index.needs_refresh(conn)
        if stale:
            await asyncio.wrap_future(self.db.submit(index.refresh))

    # --- forms -----------------------------------------------------------------------------

    def form(self, form_id: str, version: str) -> Form | None:
        """The published form a record was filled with (cached), or None."""
        with self.db.read() as conn:
            found = [
                f for f in published_forms(conn) if (f.form_id, f.version) == (form_id, version)
            ]
        if not found:
            return None
        return _load(str(self.data_dir / "forms" / found[0].file_name))

    def current_forms(self, lang: str = "") -> list[tuple[str, str]]:
        """(form_id, title) of the forms published here, for filters; with `lang`, the
        title in that language (our forms' titles read "Português / English")."""
        with self.db.read() as conn:
            forms = [(f.form_id, f.title) for f in published_forms(conn) if f.current]
        return [(form_id, title_in(title, lang)) for form_id, title in forms]

    # --- rendering -------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        who: Coordinator | None,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        lang = language(request)
        nav = [
            {"path": path, "key": key, "available": path not in NOT_INSTALLED} for path, key in NAV
        ]
        html = self.env.get_template(template).render(
            t=functools.partial(translate, lang),
            lang=lang,
            languages=LANGUAGES,
            has_text=has_text,
            district_names=district_names(),
            who=who,
            nav=nav,
            path=request.url.path,
            here=quote(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
            **context,
        )
        return HTMLResponse(
            html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )

    def not_found(self, request: Request, who: Coordinator) -> HTMLResponse:
        """The same answer for 'does not exist' and 'not yours': no hint either way."""
        return self.render(request, who, "error.html", status=404, message_key="not-found")


def title_in(title: str, lang: str) -> str:
    """ "Registo de agregados / Household registration" -> the part for `lang`."""
    parts = [part.strip() for part in title.split(" / ")]
    if not lang or len(parts) != len(LANGUAGES):
        return title
    return parts[LANGUAGES.index(lang)] if lang in LANGUAGES else title


def language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def text_in(translations: dict[str, str], lang: str, default_language: str = "") -> str:
    """A form label in the page's language ("pt"), else the form's default, else any."""
    if not translations:
        return ""
    for name, text in translations.items():
        if language_code(name) == lang and text:
            return text
    return translations.get(default_language) or next(iter(translations.values()))


@functools.lru_cache(maxsize=32)
def _load(path: str) -> Form | None:
    try:
        return load_form(path)
    except (FormLoadError, OSError):
        log.error("cannot load published form file %s", Path(path).name)
        return None
