"""Reading and changing what was sent: the recent articles with their state in each target
language, one article with its versions, its correction and its withdrawal."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from services.ingest.desk import deps
from services.ingest.desk.compose import FORMATS
from services.ingest.desk.deps import DeskForm, DeskOf, Shown, Signed, text_of
from services.ingest.desk.pages import PREFIX, Desk, problem_of, redirect
from services.ingest.desk.sessions import Session
from shared.web import Refused

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/articles")
async def articles(request: Request, s: Signed, desk: DeskOf) -> Response:
    rows = await desk.editors.recent(s.key, 50)
    submitted = request.query_params.get("submitted")
    waiting = bool(submitted) and not any(r["article_id"] == submitted for r in rows)
    return desk.page(
        request,
        "desk_articles.html",
        session=s,
        rows=rows,
        waiting_for=submitted if waiting else None,
        zone=await desk.zone_of(s.key),
        source_language=await desk.language_of(s.key),
    )


@router.get("/articles/{article_id}")
async def article(request: Request, s: Signed, shown: Shown, desk: DeskOf) -> Response:
    return await article_view(desk, request, s, shown)


async def article_view(
    desk: Desk,
    request: Request,
    session: Session,
    shown: dict[str, Any],
    status: int = 200,
    **context: Any,
) -> Response:
    latest = shown["article"]
    return desk.page(
        request,
        "desk_article.html",
        status,
        session=session,
        a=shown,
        latest=latest,
        zone=await desk.zone_of(session.key),
        correction=context.pop(
            "correction",
            {"headline": latest["headline"], "body_text": latest.get("body_text") or ""},
        ),
        **context,
    )


def correction_of(latest: dict[str, Any], values: dict[str, str]) -> bytes:
    """The corrected article as a JSON submission: the editor's headline and body over what
    the latest version says, under its news code (which makes it the same article)."""
    if not latest.get("external_id"):
        raise Refused(
            409,
            "no news code",
            "this article has no news code (external id), so a correction could not be "
            "told from a new article: send the corrected page with its news code instead",
            code="news_code_missing",
        )
    correction = {
        "headline": values["headline"],
        "body_text": values["body_text"],
        "external_id": latest["external_id"],
        "published": latest["published"],
        "language": latest["language"],
        "subjects": latest.get("subjects") or [],
        **{k: latest[k] for k in ("url", "byline") if latest.get(k)},
    }
    return json.dumps(correction, ensure_ascii=False, default=str).encode()


@router.post("/articles/{article_id}/correct")
async def correct(
    request: Request, article_id: str, s: Signed, shown: Shown, posted: DeskForm, desk: DeskOf
) -> Response:
    latest = shown["article"]
    values = {"headline": latest["headline"], "body_text": latest.get("body_text") or ""}
    try:
        form = posted.fields()
        values = {"headline": text_of(form, "headline"), "body_text": text_of(form, "body")}
        body = correction_of(latest, values)
        sub, change = await desk.editors.judge(s.key, body, FORMATS["json"], {})
        if change.article_id != article_id:
            reason = "the correction would not be the same article"
            raise Refused(409, "conflict", reason, code="correction_not_same_article")
        await desk.editors.submit(s.key, sub, change)
    except Refused as exc:
        return await article_view(
            desk, request, s, shown, exc.status, problem=problem_of(exc), correction=values
        )
    return redirect(f"{PREFIX}/articles/{quote(article_id)}?done=corrected")


@router.post("/articles/{article_id}/withdraw")
async def withdraw(
    request: Request, article_id: str, s: Signed, posted: DeskForm, desk: DeskOf
) -> Response:
    try:
        form = posted.fields()
        if form.get("confirm") != "yes":
            reason = "tick the box to confirm the withdrawal"
            raise Refused(422, "not confirmed", reason, code="withdrawal_unconfirmed")
        await desk.editors.withdraw(s.key, article_id, text_of(form, "reason") or None)
    except Refused as exc:
        shown = await deps.shown(article_id, s, desk)  # another's: 404, as the dependency says
        return await article_view(desk, request, s, shown, exc.status, problem=problem_of(exc))
    return redirect(f"{PREFIX}/articles/{quote(article_id)}?done=withdrawn")
