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
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.templating import Jinja2Templates

from services.ingest.api.editors import Editors
from services.ingest.desk.review_text import isolate_rtl
from services.ingest.desk.sessions import DeskSessions, Session
from shared import display
from shared.registry import EditorKey
from shared.web import Refused, page_environment

PREFIX = "/desk"
#: The cookie that holds the session id (:mod:`.sessions`), sent to ``PREFIX`` only.
COOKIE = "desk_session"
CSRF_LABEL = b"city-syndication desk csrf v2"
HEADERS = {**display.PAGE_HEADERS, "Cache-Control": "no-store"}
NOTICES = {
    "submitted": "Sent. Ingest stores it within seconds; it appears here, then in every feed.",
    "corrected": "Correction sent: it replaces the article in every feed and is translated again.",
    "withdrawn": "Withdrawal sent: the article leaves every feed, in every language.",
    "approved": "Your translation was sent: it becomes the human, reviewed version in the feeds.",
    "signed-out": "You are signed out.",
}
#: What a refusal's status is called at the top of a desk page.
TITLES = {
    401: "Not signed in.",
    403: "Not allowed.",
    404: "Not found.",
    409: "Conflict.",
    413: "Too large.",
    415: "Unsupported format.",
    422: "Cannot use this.",
}


def templates() -> Jinja2Templates:
    """The desk's templates (``services/ingest/templates``) and the shared layout, escaped."""
    env = page_environment("services.ingest")
    env.filters["isolate_rtl"] = isolate_rtl
    return Jinja2Templates(env=env)


def csrf_token(session_id: str) -> str:
    """The token a desk form carries: only who holds the session's id can compute it, and it
    dies with the session."""
    return hmac.new(session_id.encode(), CSRF_LABEL, hashlib.sha256).hexdigest()[:40]


def problem_of(exc: Refused) -> dict[str, str]:
    return {"title": TITLES.get(exc.status, "Refused."), "reason": exc.reason}


def to_login(request: Request) -> Response:
    """To the sign-in page, and back here after."""
    target = quote(request.url.path, safe="/")
    return RedirectResponse(f"{PREFIX}/login?next={target}", 303, headers=HEADERS)


def redirect(target: str) -> Response:
    """After a form that did something: to the page that shows it (303, never cached)."""
    return RedirectResponse(target, 303, headers=HEADERS)


def menu(request: Request) -> list[tuple[str, str, bool]]:
    """The signed-in editor's menu: (label, link, whether it is this page); the review queue's
    label counts what waits (:func:`.deps.maybe_signed` counts it)."""
    here = request.url.path
    nav = [
        ("Articles", f"{PREFIX}/articles", here == f"{PREFIX}/articles"),
        ("New article", f"{PREFIX}/compose", here == f"{PREFIX}/compose"),
    ]
    waiting = getattr(request.state, "review_count", None)
    label = "Review" if waiting is None else f"Review ({waiting})"
    nav.append((label, f"{PREFIX}/review", here.startswith(f"{PREFIX}/review")))
    return nav


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
                "site_name": "Editor desk",
                "home": f"{PREFIX}/articles" if key else f"{PREFIX}/login",
                "assets": f"{PREFIX}/assets",
                "prefix": PREFIX,
                "nav": menu(request) if key is not None else [],
                "scripts": True,
                "editor": key,
                "csrf": csrf_token(session.id) if session else "",
                "notice": NOTICES.get(done or ""),
                "session_idle": f"{lifetimes.idle.total_seconds() / 60:g}",
                "session_max": f"{lifetimes.absolute.total_seconds() / 3600:g}",
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
        unavailable = answer.status_code == 503
        response = self.page(
            request,
            "desk_outage.html",
            answer.status_code,
            problem={
                "title": "Not sent." if request.method == "POST" else "Not available.",
                "reason": "The desk cannot reach the broker or the database just now. Try "
                "again in a few seconds."
                if unavailable
                else "An unexpected error; it has been logged.",
            },
            posted=request.method == "POST",
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
