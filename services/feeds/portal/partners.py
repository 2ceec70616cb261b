"""A partner's side of the portal: signing in with a feed token (kept in a cookie scoped to the
partner's preview pages), signing out, and the partner's page listing its feeds."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from services.feeds.portal.context import (
    COOKIE,
    PRIVATE,
    TOKEN_NEEDED,
    PortalOf,
    SignedIn,
    SignInForm,
    same_site,
)
from services.feeds.portal.previews import links
from services.feeds.publishing import FeedRef
from shared.i18n import N_
from shared.web import Problem, over_https

SESSION_SECONDS = 12 * 3600
MISMATCH = Problem(
    TOKEN_NEEDED,
    N_("This partner and feed token do not go together (or the token is revoked or expired)."),
)

router = APIRouter(include_in_schema=False)


@router.post("/preview/partners")
async def partner_sign_in(request: Request, form: SignInForm, portal: PortalOf) -> Response:
    found = await portal.feeds.registry.partner_for_token(form.token) if form.token else None
    if found is None or found.id != form.partner:
        return portal.token_form(form.partner, 401, MISMATCH)
    response = RedirectResponse(
        f"{portal.base}/preview/partners/{quote(found.id)}", 303, headers=PRIVATE
    )
    response.set_cookie(
        COOKIE,
        form.token,
        max_age=SESSION_SECONDS,
        path=f"/preview/partners/{found.id}",
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )
    return response


@router.post("/preview/partners/{partner_id}/sign-out", dependencies=[Depends(same_site)])
async def partner_sign_out(partner_id: str, portal: PortalOf) -> Response:
    response = RedirectResponse(portal.home, 303, headers=PRIVATE)
    response.delete_cookie(  # quoted: the id came from the path, and goes into a header
        COOKIE,
        path=f"/preview/partners/{quote(partner_id, safe='')}",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/preview/partners/{partner_id}")
async def partner_home(partner: SignedIn, portal: PortalOf) -> Response:
    feeds_of = [
        {
            "language": lang,
            "preview": f"{portal.base}/preview/partners/{quote(partner.id)}/{lang}",
            "links": links(portal.feeds, FeedRef("partner", partner.id, lang)),
        }
        for lang in partner.languages
    ]
    return portal.render("partner.html", 200, PRIVATE, partner=partner, feeds=feeds_of)
