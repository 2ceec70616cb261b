"""The editor desk's review queue at ``/desk/review``: machine translations an editor should see.

*Held* translations (the publisher's policy keeps a translation that failed an automatic check,
or under ``review`` every one, out of the feeds until an editor settles it) and *flagged* ones
(published under ``publish`` with failed checks), per language, the newest first. One entry
shows the source beside the machine text, block by block, the failing segments marked
(:mod:`services.ingest.review_text`), and offers three decisions: approve it as it is, edit then
approve (either way it becomes the human, reviewed version), or send it back to be translated by
another engine or model.

Each route declares what it needs as dependencies: a signed-in editor (else the sign-in page), a
form from this desk (the origin and the session's CSRF token, :mod:`services.ingest.desk`), an
entry of the editor's own publisher (another's: 404, as everywhere on the desk) and, to decide,
the ``translate`` scope. The decisions are :class:`~services.ingest.api.Editors` operations, as
the JSON API's are.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' dependencies from their
# annotations, which name aliases local to router().
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from services.ingest.api import Editors, Refused, TranslationSubmission, require
from services.ingest.review_text import side_by_side
from services.ingest.store import QueuedTranslation
from services.ingest.text import html_to_text
from shared.bodylimit import DEFAULT_MAX_BYTES, limits_of
from shared.contracts import IngestedArticle
from shared.messaging import describe_validation_error
from shared.registry import EditorKey

Session = tuple[EditorKey, str]

NOTICES = {
    "approved": "Approved: it goes out as the human, reviewed translation within seconds.",
    "edited": "Your edit was sent: it goes out as the human, reviewed translation within seconds.",
    "sent-back": "Sent back: it is translated again by another engine or model, and comes "
    "back here if it fails a check again.",
}


@dataclass(frozen=True)
class DeskTools:
    """What the desk lends its review pages (built in :func:`services.ingest.desk.install`)."""

    editors: Editors
    page: Callable[..., Response]
    signed_in: Callable[[Request], Awaitable[Session | None]]
    checked_form: Callable[[Request, Session | None], Awaitable[Mapping[str, Any]]]
    to_login: Callable[[Request], Response]
    zone_of: Callable[[EditorKey], Awaitable[str]]
    problem_of: Callable[[Refused], dict[str, str]]
    prefix: str
    headers: Mapping[str, str]


class NotSignedIn(Exception):
    """A review page without a live desk session."""


class DeskRefused(Exception):
    """A refusal to show as a desk page (not the API's JSON)."""

    def __init__(self, refused: Refused, session: Session) -> None:
        super().__init__(refused.reason)
        self.refused, self.session = refused, session


def install(api: FastAPI, tools: DeskTools) -> None:
    """The review routes and the handlers that turn their refusals into desk pages."""
    editors, prefix = tools.editors, tools.prefix
    edit_path = prefix + "/review/{article_id}/{language}/edit"
    limits_of(api).allow("POST", edit_path, editors.limit + DEFAULT_MAX_BYTES)

    async def not_signed_in(request: Request, _: Exception) -> Response:
        if request.method == "GET":
            return tools.to_login(request)
        exc = Refused(401, "unauthorized", "sign in with your editor key first")
        return tools.page(request, "desk_login.html", 401, problem=tools.problem_of(exc))

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeskRefused)
        problem = tools.problem_of(exc.refused)
        return tools.page(
            request, "desk_missing.html", exc.refused.status, session=exc.session, problem=problem
        )

    api.add_exception_handler(NotSignedIn, not_signed_in)
    api.add_exception_handler(DeskRefused, refused)
    api.include_router(router(tools))


def router(tools: DeskTools) -> APIRouter:
    editors, prefix = tools.editors, tools.prefix
    routes = APIRouter(prefix=prefix + "/review", include_in_schema=False)

    async def session(request: Request) -> Session:
        found = await tools.signed_in(request)
        if found is None:
            raise NotSignedIn
        return found

    Signed = Annotated[Session, Depends(session)]

    async def checked(request: Request, s: Signed) -> Mapping[str, Any]:
        try:
            return await tools.checked_form(request, s)
        except Refused as exc:
            raise DeskRefused(exc, s) from None

    async def entry(article_id: str, language: str, s: Signed) -> QueuedTranslation:
        try:
            return await editors.queued(s[0], article_id, language)
        except Refused as exc:
            raise DeskRefused(exc, s) from None

    async def reviewer(s: Signed) -> EditorKey:
        try:
            require(s[0], "translate", "review translations")
        except Refused as exc:
            raise DeskRefused(exc, s) from None
        return s[0]

    Form = Annotated[Mapping[str, Any], Depends(checked)]
    Entry = Annotated[QueuedTranslation, Depends(entry)]
    Reviewer = Annotated[EditorKey, Depends(reviewer)]

    @routes.get("")
    async def queue(request: Request, s: Signed, language: str | None = None) -> Response:
        key = s[0]
        entries = await editors.review_queue(key, language or None)
        targets = await editors.rt.registry.target_languages(key.publisher)
        publisher = await editors.rt.registry.publisher(key.publisher)
        by_language: dict[str, list[QueuedTranslation]] = {
            lang: [] for lang in targets if any(e.language == lang for e in entries)
        }  # the publisher's order of languages, each the newest first
        for e in entries:
            by_language.setdefault(e.language, []).append(e)
        return tools.page(
            request,
            "desk_review.html",
            session=s,
            by_language=by_language,
            headlines=await editors.store.headlines(e.article_id for e in entries),
            source_language=publisher.language if publisher else "fa",
            languages=targets,
            language=language,
            zone=await tools.zone_of(s[0]),
            notice=NOTICES.get(request.query_params.get("done") or ""),
        )

    @routes.get("/{article_id}/{language}")
    async def item(request: Request, s: Signed, e: Entry) -> Response:
        return await item_view(request, s, e)

    async def item_view(
        request: Request, s: Session, e: QueuedTranslation, status: int = 200, **context: Any
    ) -> Response:
        _, versions = await editors.owned(e.article_id, s[0])
        stored = next((v for v in versions if v["version"] == e.version), versions[-1])
        source = IngestedArticle.model_validate(stored["event"])
        t = e.translation
        rows, unplaced = side_by_side(
            source.headline, source.body_html, t.headline, t.body_html, e.failures
        )
        draft = context.pop("draft", None) or {
            "headline": t.headline,
            "body": html_to_text(t.body_html),
        }
        return tools.page(
            request,
            "desk_review_item.html",
            status,
            session=s,
            e=e,
            source=source,
            rows=rows,
            unplaced=unplaced,
            draft=draft,
            latest_version=len(versions),
            zone=await tools.zone_of(s[0]),
            **context,
        )

    def back_to_queue(done: str) -> Response:
        return RedirectResponse(f"{prefix}/review?done={quote(done)}", 303, headers=tools.headers)

    @routes.post("/{article_id}/{language}/approve")
    async def approve(request: Request, s: Signed, _: Form, e: Entry, key: Reviewer) -> Response:
        try:
            await editors.approve_held(key, e, None)
        except Refused as exc:
            return await item_view(request, s, e, exc.status, problem=tools.problem_of(exc))
        log(editors, "desk review approved", e, key)
        return back_to_queue("approved")

    @routes.post("/{article_id}/{language}/edit")
    async def edit(request: Request, s: Signed, form: Form, e: Entry, key: Reviewer) -> Response:
        draft = {"headline": text_of(form, "headline"), "body": text_of(form, "body")}
        try:
            try:
                body = TranslationSubmission(
                    headline=draft["headline"], body_text=draft["body"] or None
                )
            except ValidationError as exc:
                raise Refused(422, "invalid translation", describe_validation_error(exc)) from None
            await editors.approve_held(key, e, body)
        except Refused as exc:
            problem = tools.problem_of(exc)
            return await item_view(request, s, e, exc.status, problem=problem, draft=draft)
        log(editors, "desk review edited", e, key)
        return back_to_queue("edited")

    @routes.post("/{article_id}/{language}/send-back")
    async def send_back(request: Request, s: Signed, _: Form, e: Entry, key: Reviewer) -> Response:
        try:
            await editors.send_back(key, e)
        except Refused as exc:
            return await item_view(request, s, e, exc.status, problem=tools.problem_of(exc))
        log(editors, "desk review sent back", e, key)
        return back_to_queue("sent-back")

    return routes


def text_of(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def log(editors: Editors, what: str, e: QueuedTranslation, key: EditorKey) -> None:
    extra = {"article_id": e.article_id, "language": e.language, "key_id": key.id}
    editors.rt.log.info(what, extra=extra)
