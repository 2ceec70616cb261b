"""How the desk answers: its templates, the page every route renders (menu, notices, the
session's CSRF token), the sign-in redirect, a refusal as a page, and an outage as a page.

:class:`Desk` is what :func:`services.ingest.desk.install` gives the app: the editors'
operations, the sessions, the templates and the way to the feeds service; the routes reach it
through :func:`desk_of` (a declared dependency, :mod:`.deps`)."""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.templating import Jinja2Templates

from services.ingest.api.editors import Editors
from services.ingest.desk import refusals, words
from services.ingest.desk.review_text import isolate_rtl
from services.ingest.desk.sessions import DeskSessions, Session
from shared import display, i18n
from shared.i18n import N_
from shared.registry import EditorKey
from shared.web import NavLink, Problem, Refused, interface, page_environment

PREFIX = "/desk"
HOME = f"{PREFIX}/articles"
#: The desk's messages (``services/ingest/locales``) over the shared layout's.
LOCALES = (Path(__file__).resolve().parents[1] / "locales", i18n.SHARED_LOCALES)
#: Where the language switch remembers a choice (:func:`shared.web.language_router`).
SWITCH = f"{PREFIX}/language"
#: The cookie that holds the session id (:mod:`.sessions`), sent to ``PREFIX`` only.
COOKIE = "desk_session"
CSRF_LABEL = b"city-syndication desk csrf v2"
HEADERS = {**display.PAGE_HEADERS, "Cache-Control": "no-store"}
#: What the page after a form says was done (``?done=…``); translated where shown.
NOTICES = {
    "submitted": N_("Sent. Ingest stores it within seconds; it appears here, then in every feed."),
    "corrected": N_(
        "Correction sent: it replaces the article in every feed and is translated again."
    ),
    "withdrawn": N_("Withdrawal sent: the article leaves every feed, in every language."),
    "approved": N_(
        "Your translation was sent: it becomes the human, reviewed version in the feeds."
    ),
    "signed-out": N_("You are signed out."),
}
#: What a refusal's status is called at the top of a desk page.
TITLES = {
    401: N_("Not signed in."),
    403: N_("Not allowed."),
    404: N_("Not found."),
    409: N_("Conflict."),
    413: N_("Too large."),
    415: N_("Unsupported format."),
    422: N_("Cannot use this."),
}
#: The title of a refusal whose status has none above.
REFUSED = N_("Refused.")


def templates() -> Jinja2Templates:
    """The desk's templates (``services/ingest/templates``) and the shared layout, escaped."""
    env = page_environment("services.ingest")
    env.filters["isolate_rtl"] = isolate_rtl
    words.install(env)
    return Jinja2Templates(env=env)


def csrf_token(session_id: str) -> str:
    """The token a desk form carries: only who holds the session's id can compute it, and it
    dies with the session."""
    return hmac.new(session_id.encode(), CSRF_LABEL, hashlib.sha256).hexdigest()[:40]


def problem_of(exc: Refused) -> Problem:
    """A refusal as a page shows it: its status's title and its code's message, both in the
    interface language, then the English reason when it says more (:mod:`.refusals`)."""
    return Problem(
        title=TITLES.get(exc.status, REFUSED),
        message=refusals.message_of(exc.code),
        detail=refusals.detail_of(exc.code, exc.reason),
    )


def to_login(request: Request) -> Response:
    """To the sign-in page, and back here after."""
    target = quote(request.url.path, safe="/")
    return RedirectResponse(f"{PREFIX}/login?next={target}", 303, headers=HEADERS)


def whole(value: float) -> int | float:
    """A number of minutes or hours as a page counts it (``30``, not ``30.0``)."""
    return int(value) if value.is_integer() else value


def redirect(target: str) -> Response:
    """After a form that did something: to the page that shows it (303, never cached)."""
    return RedirectResponse(target, 303, headers=HEADERS)


def menu(request: Request) -> list[NavLink]:
    """The signed-in editor's menu; the review queue's link counts what waits
    (:func:`.deps.maybe_signed` counts it)."""
    here = request.url.path
    waiting = getattr(request.state, "review_count", None)
    return [
        NavLink(N_("Articles"), f"{PREFIX}/articles", here == f"{PREFIX}/articles"),
        NavLink(N_("New article"), f"{PREFIX}/compose", here == f"{PREFIX}/compose"),
        NavLink(N_("Review"), f"{PREFIX}/review", here.startswith(f"{PREFIX}/review"), waiting),
    ]


def ui_of(request: Request) -> i18n.Ui:
    """The desk's interface language for ``request``: chosen, the browser's, else the signed-in
    editor's publisher's language (:func:`.deps.maybe_signed` finds it), else English."""
    fallback = getattr(request.state, "publisher_language", None)
    return interface(request, LOCALES, SWITCH, HOME, fallback)


@dataclass(frozen=True)
class Desk:
    """The desk of one app (``transport``: how to reach the feeds service, for tests)."""

    editors: Editors
    sessions: DeskSessions
    pages: Jinja2Templates
    feeds_url: str
    transport: httpx.AsyncBaseTransport | None = None

    def page(
        self,
        request: Request,
        name: str,
        status: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> Response:
        key = session.key if session else None
        done = request.query_params.get("done")
        lifetimes = self.sessions.lifetimes
        return self.pages.TemplateResponse(
            request,
            name,
            {
                "site_name": N_("Editor desk"),
                "ui": ui_of(request),
                "home": f"{PREFIX}/articles" if key else f"{PREFIX}/login",
                "assets": f"{PREFIX}/assets",
                "prefix": PREFIX,
                "nav": menu(request) if key is not None else [],
                "scripts": True,
                "editor": key,
                "csrf": csrf_token(session.id) if session else "",
                "notice": NOTICES.get(done or ""),
                "session_idle": whole(lifetimes.idle.total_seconds() / 60),
                "session_max": whole(lifetimes.absolute.total_seconds() / 3600),
                **context,
            },
            status_code=status,
            headers=HEADERS,
        )

    def missing(self, request: Request, exc: Refused, session: Session) -> Response:
        """A refusal of something the editor asked to see (not theirs, gone, not allowed)."""
        problem = problem_of(exc)
        return self.page(request, "desk_missing.html", exc.status, session=session, problem=problem)

    async def zone_of(self, key: EditorKey) -> str:
        publisher = await self.editors.rt.registry.publisher(key.publisher)
        return publisher.timezone if publisher else "UTC"

    async def language_of(self, key: EditorKey) -> str:
        publisher = await self.editors.rt.registry.publisher(key.publisher)
        return publisher.language if publisher else "fa"

    # An outage on a desk page: the API's handler decides (503 and Retry-After, or 500) and
    # logs; the editor gets a desk page saying so instead of the API's JSON.
    async def outage_page(
        self,
        handler: Callable[[Request, Exception], Response | Awaitable[Response]],
        request: Request,
        exc: Exception,
    ) -> Response:
        found = handler(request, exc)
        answer = await found if inspect.isawaitable(found) else found
        if request.url.path != PREFIX and not request.url.path.startswith(PREFIX + "/"):
            return answer
        posted = request.method == "POST"
        problem = Problem(
            title=N_("Not sent.") if posted else N_("Not available."),
            message=N_(
                "The desk cannot reach the broker or the database just now. Try again in a few "
                "seconds."
            )
            if answer.status_code == 503
            else N_("An unexpected error; it has been logged."),
        )
        response = self.page(
            request,
            "desk_outage.html",
            answer.status_code,
            problem=problem,
            posted=posted,
            again=str(request.url) if request.method == "GET" else None,
        )
        if retry := answer.headers.get("retry-after"):
            response.headers["Retry-After"] = retry
        return response


def desk_of(request: Request) -> Desk:
    """The :class:`Desk` that :func:`services.ingest.desk.install` gave the app."""
    desk = getattr(request.app.state, "ingest_desk", None)
    if not isinstance(desk, Desk):
        raise TypeError("services.ingest.desk.install has not run on this app")
    return desk
