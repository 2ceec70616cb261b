"""An article beside a translation, and the editor's own translation approved from there (it
becomes the human, reviewed version).

**Where the translation beside the source comes from.** From the feeds service: the entry
partners receive, read over HTTP (``GET {INGEST_FEEDS_URL}/entries/{article}/{lang}.json``),
read-only. Ingest never reads another service's collections; the desk shows exactly what
subscribers get (machine or human, which version); when feeds cannot be reached the page says so
and the editor can still write a translation.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from services.ingest.api.bodies import TranslationSubmission
from services.ingest.desk.deps import DeskForm, DeskOf, DeskRefused, Shown, Signed, text_of
from services.ingest.desk.pages import PREFIX, Desk, problem_of, redirect
from services.ingest.desk.sessions import Session
from services.ingest.text import html_to_text
from shared.contracts import LANGUAGE_TAG
from shared.i18n import N_
from shared.messaging import describe_validation_error
from shared.web import Refused

router = APIRouter(prefix=PREFIX, include_in_schema=False)


#: Why there is no translation beside the source (translated where shown; ``%(status)s``: the
#: feeds service's HTTP status).
UNREACHABLE = N_("The feeds service cannot be reached just now; reload in a moment.")
GONE = N_("The article is withdrawn: the feeds no longer carry it.")
NOT_YET = N_("No translation is published yet.")
ANSWERED = N_("The feeds service answered %(status)s.")


async def published_translation(
    desk: Desk, article_id: str, language: str
) -> tuple[dict[str, Any] | None, str | None, int]:
    """The feeds service's entry for the article in ``language`` and, without one, why (a
    message id) and the feeds service's status (0: not reached)."""
    url = f"{desk.feeds_url}/entries/{quote(article_id)}/{quote(language)}.json"
    try:
        async with httpx.AsyncClient(timeout=5, transport=desk.transport) as client:
            resp = await client.get(url)
    except httpx.HTTPError as exc:
        desk.editors.rt.log.warning("feeds unreachable from the desk", extra={"error": repr(exc)})
        return None, UNREACHABLE, 0
    if resp.status_code == 200:
        found: dict[str, Any] = resp.json()
        return found, None, 200
    why = {410: GONE, 404: NOT_YET}.get(resp.status_code, ANSWERED)
    return None, why, resp.status_code


async def compare_view(
    desk: Desk,
    request: Request,
    session: Session,
    shown: dict[str, Any],
    language: str,
    status: int = 200,
    **context: Any,
) -> Response:
    translation, missing, feeds_status = await published_translation(
        desk, shown["article_id"], language
    )
    state = shown["languages"].get(language, {"status": "pending"})
    draft = context.pop("draft", None) or {
        "headline": translation["headline"] if translation else "",
        "body": html_to_text(translation["body_html"]) if translation else "",
    }
    human = bool(
        translation
        and (translation.get("provenance") or {}).get("method") == "human"
        and translation.get("version") == shown["version"]
    )
    waiting = request.query_params.get("done") == "approved" and not human
    return desk.page(
        request,
        "desk_compare.html",
        status,
        session=session,
        a=shown,
        latest=shown["article"],
        language=language,
        state=state,
        translation=translation,
        missing=missing,
        feeds_status=feeds_status,
        draft=draft,
        human=human,
        waiting=waiting or (translation is None and shown["status"] == "active"),
        zone=await desk.zone_of(session.key),
        **context,
    )


def known_language(language: str) -> bool:
    return re.fullmatch(LANGUAGE_TAG, language) is not None


@router.get("/articles/{article_id}/translations/{language}")
async def compare(
    request: Request, article_id: str, language: str, s: Signed, shown: Shown, desk: DeskOf
) -> Response:
    state = shown["languages"].get(language) if known_language(language) else None
    if state is None or state.get("status") == "source":  # the original is not a translation
        reason = f"{article_id} is not translated into {language!r}"
        exc = Refused(404, "not found", reason, code="translation_not_found")
        raise DeskRefused(exc, s)
    return await compare_view(desk, request, s, shown, language)


@router.post("/articles/{article_id}/translations/{language}")
async def approve(
    request: Request,
    article_id: str,
    language: str,
    s: Signed,
    shown: Shown,
    posted: DeskForm,
    desk: DeskOf,
) -> Response:
    draft = None
    try:
        form = posted.fields()
        draft = {"headline": text_of(form, "headline"), "body": text_of(form, "body")}
        version = text_of(form, "version")
        try:
            body = TranslationSubmission(
                headline=draft["headline"],
                body_text=draft["body"] or None,
                version=int(version) if version.isdigit() else None,
            )
        except ValidationError as exc:
            reason = describe_validation_error(exc)
            raise Refused(422, "invalid translation", reason, code="translation_invalid") from None
        await desk.editors.translate(s.key, article_id, language, body)
        desk.editors.rt.log.info(
            "desk translation approved",
            extra={"article_id": article_id, "language": language, "key_id": s.key.id},
        )
    except Refused as exc:
        return await compare_view(
            desk, request, s, shown, language, exc.status, problem=problem_of(exc), draft=draft
        )
    target = f"{PREFIX}/articles/{quote(article_id)}/translations/{quote(language)}"
    return redirect(f"{target}?done=approved")
