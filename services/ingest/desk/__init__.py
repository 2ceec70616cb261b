"""The editor desk: server-rendered pages at ``/desk`` over the editors' API.

An editor pastes or uploads a page or an article, sees what ingest extracts from it (headline,
date, news code, body) before sending it, lists the recent articles with their state in each
target language, compares an article with a translation side by side, edits and approves the
translation (it becomes the human, reviewed version), corrects or withdraws an article, and
settles the machine translations held or flagged by the automatic checks (the review queue,
:mod:`.review`; the menu shows how many wait). Every operation is one of
:class:`services.ingest.api.editors.Editors`, the same the JSON API calls, so a page and an API
client are judged, refused and published alike.

**How an editor signs in.** With the editor key the API takes, pasted into the sign-in form
once. That opens a server-side session (:mod:`.sessions`): the browser keeps only
a random session id, in the ``desk_session`` cookie: ``HttpOnly`` (no script can read it),
``SameSite=Strict`` (no other site's page makes the browser send it), ``Path=/desk`` (no other
route of the service receives it), ``Secure`` when the desk is reached over HTTPS. The session
ends on signing out (on the server: a copy of the cookie stops working too), after
``INGEST_DESK_SESSION_IDLE_MINUTES`` without a request, ``INGEST_DESK_SESSION_MAX_HOURS`` after
signing in, or when the key is revoked (each request looks the key up again through the
registry, within its cache time). Forms that change something are guarded against cross-site
requests twice over: each carries a token (an HMAC of a fixed label keyed with the session id,
which another site cannot compute, and which dies with the session), and the request's
``Origin`` (else ``Referer``), when the browser sends one, must name this host. Neither the key
nor the session id appears in a URL, a page or a log line (uvicorn's access log is off; traces
carry only the path).

**Where the translation beside the source comes from.** From the feeds service, read-only
(:mod:`.translations`).

The routes are routers by what they do (:mod:`.sign_in`, :mod:`.compose`, :mod:`.articles`,
:mod:`.translations`, :mod:`.review`); each declares the sign-in, the form's origin and token and
the article's ownership it needs as dependencies (:mod:`.deps`), and renders through
:mod:`.pages`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from services.ingest.api.editors import Editors
from services.ingest.api.errors import OUTAGES
from services.ingest.desk import articles, compose, review, sign_in, translations
from services.ingest.desk.deps import DeskRefused, NotSignedIn, desk_refused, not_signed_in
from services.ingest.desk.pages import HOME, PREFIX, SWITCH, Desk, templates
from services.ingest.desk.sessions import SESSIONS, DeskSessions, Lifetimes
from shared.bodylimit import DEFAULT_MAX_BYTES, limits_of
from shared.web import language_router

__all__ = ["SESSIONS", "install"]

#: The forms that carry a page or an article take the submission limit and room for their
#: other fields; sign-in, sign-out and withdrawal keep the small default (shared.bodylimit).
UPLOADS = (
    PREFIX + "/compose",
    PREFIX + "/articles/{article_id}/correct",
    PREFIX + "/articles/{article_id}/translations/{language}",
    review.EDIT_PATH,
)


def sessions_of(editors: Editors) -> DeskSessions:
    """The desk's sessions in the ingest database, with the lifetimes its settings give."""
    settings = editors.settings
    lifetimes = Lifetimes(
        idle=timedelta(minutes=settings.desk_session_idle_minutes),
        absolute=timedelta(hours=settings.desk_session_max_hours),
    )
    registry = editors.rt.registry
    return DeskSessions(editors.rt.db[SESSIONS.name], lifetimes, registry.editor_key_for_digest)


def install(
    api: FastAPI,
    editors: Editors,
    transport: httpx.AsyncBaseTransport | None = None,
    sessions: DeskSessions | None = None,
) -> None:
    """The desk's routes on the ingest service's app, after the API's
    (:func:`services.ingest.api.install`: the desk wraps its outage handlers). ``transport``:
    how to reach the feeds service, and ``sessions``: where sign-ins are kept, for tests."""
    feeds_url = editors.settings.feeds_url.rstrip("/")
    desk = Desk(editors, sessions or sessions_of(editors), templates(), feeds_url, transport)
    api.state.ingest_desk = desk  # what the routes' dependencies find (pages.desk_of)
    limits = limits_of(api)
    for upload in UPLOADS:
        limits.allow("POST", upload, editors.limit + DEFAULT_MAX_BYTES)
    for outage in OUTAGES:
        api.add_exception_handler(outage, partial(desk.outage_page, api.exception_handlers[outage]))
    api.add_exception_handler(NotSignedIn, not_signed_in)
    api.add_exception_handler(DeskRefused, desk_refused)
    for routes in (sign_in, compose, articles, translations, review):
        api.include_router(routes.router)
    api.include_router(language_router(SWITCH, HOME))  # the pages' language switch
