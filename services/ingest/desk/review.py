"""The editor desk's review queue at ``/desk/review``: machine translations an editor should see.

*Held* translations (the publisher's policy keeps a translation that failed an automatic check,
or under ``review`` every one, out of the feeds until an editor settles it) and *flagged* ones
(published under ``publish`` with failed checks), per language, the newest first. One entry
shows the source beside the machine text, block by block, the failing segments marked
(:mod:`services.ingest.desk.review_text`), and offers three decisions: approve it as it is, edit
then approve (either way it becomes the human, reviewed version), or send it back to be
translated by another engine or model.

Each route declares what it needs as dependencies (:mod:`.deps`): a signed-in editor (else the
sign-in page), a form from this desk (the origin and the session's CSRF token), an entry of the
editor's own publisher (another's: 404, as everywhere on the desk) and, to decide, the
``translate`` scope. The decisions are :class:`~services.ingest.api.editors.Editors` operations,
as the JSON API's are.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from services.ingest.api.bodies import TranslationSubmission
from services.ingest.desk.deps import DeskOf, Entry, Form, Reviewer, Signed, SignedPost, text_of
from services.ingest.desk.pages import PREFIX, Desk, problem_of, redirect
from services.ingest.desk.review_text import side_by_side
from services.ingest.desk.sessions import Session
from services.ingest.store import QueuedTranslation
from services.ingest.text import html_to_text
from shared.contracts import IngestedArticle
from shared.i18n import N_
from shared.messaging import describe_validation_error
from shared.web import Refused

#: What the queue says was done (``?done=…``); translated where shown.
NOTICES = {
    "approved": N_("Approved: it goes out as the human, reviewed translation within seconds."),
    "edited": N_(
        "Your edit was sent: it goes out as the human, reviewed translation within seconds."
    ),
    "sent-back": N_(
        "Sent back: it is translated again by another engine or model, and comes back here if "
        "it fails a check again."
    ),
}
#: The one review form that carries a translation (the others carry a token).
EDIT_PATH = PREFIX + "/review/{article_id}/{language}/edit"

router = APIRouter(prefix=PREFIX + "/review", include_in_schema=False)


@router.get("")
async def queue(request: Request, s: Signed, desk: DeskOf, language: str | None = None) -> Response:
    editors, key = desk.editors, s.key
    entries = await editors.review_queue(key, language or None)
    # Every feed language: an original in another language is translated into the publisher's.
    targets = await editors.rt.registry.feed_languages(key.publisher)
    publisher = await editors.rt.registry.publisher(key.publisher)
    by_language: dict[str, list[QueuedTranslation]] = {
        lang: [] for lang in targets if any(e.language == lang for e in entries)
    }  # the publisher's order of languages, each the newest first
    for e in entries:
        by_language.setdefault(e.language, []).append(e)
    return desk.page(
        request,
        "desk_review.html",
        session=s,
        by_language=by_language,
        headlines=await editors.store.headlines(e.article_id for e in entries),
        source_language=publisher.language if publisher else "fa",
        languages=targets,
        language=language,
        zone=await desk.zone_of(s.key),
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


@router.get("/{article_id}/{language}")
async def item(request: Request, s: Signed, e: Entry, desk: DeskOf) -> Response:
    return await item_view(desk, request, s, e)


async def item_view(
    desk: Desk,
    request: Request,
    s: Session,
    e: QueuedTranslation,
    status: int = 200,
    **context: Any,
) -> Response:
    _, versions = await desk.editors.owned(e.article_id, s.key)
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
    return desk.page(
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
        zone=await desk.zone_of(s.key),
        **context,
    )


async def settle(
    desk: Desk,
    request: Request,
    s: Session,
    e: QueuedTranslation,
    decision: Awaitable[object],
    done: str,
    **context: Any,
) -> Response:
    """Carry out a decision: back to the queue, which says it was done; a refusal (settled
    meanwhile, a newer version) on the entry's page, with the editor's draft."""
    try:
        await decision
    except Refused as exc:
        problem = problem_of(exc)
        return await item_view(desk, request, s, e, exc.status, problem=problem, **context)
    extra = {"article_id": e.article_id, "language": e.language, "key_id": s.key.id}
    desk.editors.rt.log.info(f"desk review {done.replace('-', ' ')}", extra=extra)
    return redirect(f"{PREFIX}/review?done={quote(done)}")


@router.post("/{article_id}/{language}/approve")
async def approve(
    request: Request, s: SignedPost, _: Form, e: Entry, key: Reviewer, desk: DeskOf
) -> Response:
    return await settle(desk, request, s, e, desk.editors.approve_held(key, e, None), "approved")


@router.post("/{article_id}/{language}/edit")
async def edit(
    request: Request, s: SignedPost, form: Form, e: Entry, key: Reviewer, desk: DeskOf
) -> Response:
    draft = {"headline": text_of(form, "headline"), "body": text_of(form, "body")}

    async def edited() -> None:
        try:
            body = TranslationSubmission(
                headline=draft["headline"], body_text=draft["body"] or None
            )
        except ValidationError as exc:
            reason = describe_validation_error(exc)
            raise Refused(422, "invalid translation", reason, code="translation_invalid") from None
        await desk.editors.approve_held(key, e, body)

    return await settle(desk, request, s, e, edited(), "edited", draft=draft)


@router.post("/{article_id}/{language}/send-back")
async def send_back(
    request: Request, s: SignedPost, _: Form, e: Entry, key: Reviewer, desk: DeskOf
) -> Response:
    return await settle(desk, request, s, e, desk.editors.send_back(key, e), "sent-back")
