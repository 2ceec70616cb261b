"""What a desk route needs, declared as dependencies; they run before the route, in the order
it names them, and a route body only does its own work:

- :data:`MaybeSigned`: the live session (:mod:`.sessions`) or None; with a session, the menu's
  count of what waits for review.
- :data:`Signed`: a live session; without one, the sign-in page by redirect (back here after).
- :data:`SignedPost`: a live session; without one, the sign-in page itself (401), as a new
  article and the review's decisions answer (the other forms redirect, as :data:`Signed`).
- :data:`DeskForm`: the posted form once shown to come from the desk itself: the request's
  origin (:func:`shared.web.same_origin`) and, when signed in, the session's CSRF token. A
  refusal is kept in the :class:`Posted` form, so the route answers it on its own page (the
  form kept as the editor wrote it). :data:`OriginForm`: the sign-in form (the origin only:
  there is no session yet). :data:`Form`: a desk form whose refusal is a page of its own.
- :data:`Shown`: an article of the editor's own publisher (another's: 404, as everywhere).
- :data:`Reviewer`: the key, once it has the ``translate`` scope (to settle a review).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from services.ingest.api.editors import require
from services.ingest.desk.pages import COOKIE, Desk, csrf_token, desk_of, problem_of, to_login
from services.ingest.desk.sessions import Session
from services.ingest.store import QueuedTranslation
from shared.registry import EditorKey
from shared.web import Refused, same_origin


async def the_desk(request: Request) -> Desk:
    """The app's :class:`Desk` (async, as every dependency here: a plain function would run on
    a worker thread)."""
    return desk_of(request)


DeskOf = Annotated[Desk, Depends(the_desk)]


class NotSignedIn(Exception):
    """A desk page without a live session: to the sign-in page (``redirect``), or the sign-in
    page itself, 401."""

    def __init__(self, redirect: bool) -> None:
        super().__init__("not signed in")
        self.redirect = redirect


class DeskRefused(Exception):
    """A refusal to show as a desk page (not the API's JSON)."""

    def __init__(self, refused: Refused, session: Session) -> None:
        super().__init__(refused.reason)
        self.refused, self.session = refused, session


async def not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotSignedIn)
    if exc.redirect:
        return to_login(request)
    reason = "sign in with your editor key first"
    refusal = Refused(401, "unauthorized", reason, code="not_signed_in")
    return desk_of(request).page(request, "desk_login.html", 401, problem=problem_of(refusal))


async def desk_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskRefused)
    return desk_of(request).missing(request, exc.refused, exc.session)


async def maybe_signed(request: Request, desk: DeskOf) -> Session | None:
    """The live session the desk's cookie names (see :mod:`services.ingest.desk.sessions`)."""
    found = await desk.sessions.resume(request.cookies.get(COOKIE))
    if found is None:
        return None
    request.state.review_count = await desk.editors.review_count(found.key)  # for the menu
    request.state.publisher_language = await desk.language_of(found.key)  # the pages' default
    return found


MaybeSigned = Annotated[Session | None, Depends(maybe_signed)]


async def signed_in(found: MaybeSigned) -> Session:
    if found is None:
        raise NotSignedIn(redirect=True)
    return found


async def signed_in_to_post(found: MaybeSigned) -> Session:
    if found is None:
        raise NotSignedIn(redirect=False)
    return found


Signed = Annotated[Session, Depends(signed_in)]
SignedPost = Annotated[Session, Depends(signed_in_to_post)]


@dataclass(frozen=True)
class Posted:
    """A posted desk form, or why it is refused (from another site, or out of date)."""

    form: FormData | None
    refusal: Refused | None = None

    def fields(self) -> Mapping[str, Any]:
        """The form; :class:`Refused` (403) if it did not come from the desk itself."""
        if self.refusal is not None:
            raise self.refusal
        assert self.form is not None
        return self.form


async def checked_form(request: Request, session: Session | None, limit: int) -> FormData:
    """The form of a request that changes something, once it is shown to come from the
    desk itself (the origin, and the token when signed in)."""
    if not same_origin(request):
        reason = "this form was sent from another site"
        raise Refused(403, "forbidden", reason, code="form_foreign_origin")
    form = await request.form(max_files=1, max_fields=40, max_part_size=limit)
    if session is not None:
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(session.id)):
            raise Refused(
                403,
                "forbidden",
                "the form is out of date or not from this desk; reload it",
                code="form_token_stale",
            )
    return form


async def posted(request: Request, desk: Desk, session: Session | None) -> Posted:
    try:
        return Posted(await checked_form(request, session, desk.editors.limit))
    except Refused as exc:
        return Posted(None, exc)


async def desk_form(request: Request, desk: DeskOf, session: MaybeSigned) -> Posted:
    return await posted(request, desk, session)


async def origin_form(request: Request, desk: DeskOf) -> Posted:
    return await posted(request, desk, None)


DeskForm = Annotated[Posted, Depends(desk_form)]
OriginForm = Annotated[Posted, Depends(origin_form)]


async def form(posted: DeskForm, s: Signed) -> Mapping[str, Any]:
    try:
        return posted.fields()
    except Refused as exc:
        raise DeskRefused(exc, s) from None


Form = Annotated[Mapping[str, Any], Depends(form)]


def text_of(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def shown(article_id: str, s: Signed, desk: DeskOf) -> dict[str, Any]:
    """The article (:meth:`~services.ingest.api.editors.Editors.show`) if it is the editor's."""
    try:
        return await desk.editors.show(s.key, article_id)
    except Refused as exc:
        raise DeskRefused(exc, s) from None


Shown = Annotated[dict[str, Any], Depends(shown)]


async def entry(article_id: str, language: str, s: Signed, desk: DeskOf) -> QueuedTranslation:
    """The review queue's entry, if it is the editor's publisher's."""
    try:
        return await desk.editors.queued(s.key, article_id, language)
    except Refused as exc:
        raise DeskRefused(exc, s) from None


Entry = Annotated[QueuedTranslation, Depends(entry)]


async def reviewer(s: Signed) -> EditorKey:
    try:
        require(s.key, "translate", "review translations")
    except Refused as exc:
        raise DeskRefused(exc, s) from None
    return s.key


Reviewer = Annotated[EditorKey, Depends(reviewer)]
