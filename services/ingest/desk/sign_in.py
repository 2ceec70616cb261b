"""Signing in and out of the desk (the session and its cookie: :mod:`services.ingest.desk`'s
docstring), the desk's home and its static assets."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.ingest.desk.deps import DeskForm, DeskOf, MaybeSigned, OriginForm, text_of
from services.ingest.desk.pages import COOKIE, PREFIX, problem_of, redirect
from shared import display
from shared.web import Refused, over_https

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a desk page only (never another site)."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/articles"


@router.get("")
async def desk_home(found: MaybeSigned) -> Response:
    return redirect(f"{PREFIX}/articles" if found else f"{PREFIX}/login")


@router.get("/login")
async def login_page(request: Request, desk: DeskOf) -> Response:
    next_page = safe_next(request.query_params.get("next"))
    return desk.page(request, "desk_login.html", next=next_page)


@router.post("/login")
async def login(request: Request, desk: DeskOf, posted: OriginForm) -> Response:
    try:
        form = posted.fields()
        key = await desk.editors.editor(text_of(form, "key"))
    except Refused as exc:
        return desk.page(
            request,
            "desk_login.html",
            exc.status,
            problem=problem_of(exc),
            next=safe_next(request.query_params.get("next")),
        )
    opened = await desk.sessions.open(text_of(form, "key"), key)
    desk.editors.rt.log.info("desk sign-in", extra={"key_id": key.id, "publisher": key.publisher})
    response = redirect(safe_next(text_of(form, "next")))
    response.set_cookie(
        COOKIE,
        opened.id,
        max_age=int(desk.sessions.lifetimes.absolute.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )
    return response


@router.post("/logout")
async def logout(
    request: Request, desk: DeskOf, session: MaybeSigned, posted: DeskForm
) -> Response:
    try:
        posted.fields()
    except Refused as exc:
        return desk.page(request, "desk_login.html", exc.status, problem=problem_of(exc))
    await desk.sessions.end(session.id if session else None)  # over for every copy of the cookie
    response = redirect(f"{PREFIX}/login?done=signed-out")
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    return display.asset(name)
