"""``/admin/partners``: partner cities, and the feed tokens their readers send."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from services.feeds.admin.context import (
    AdminOf,
    Body,
    KnownPartner,
    checked,
    entry,
    known_partner,
)
from services.feeds.admin.views import (
    IssuedToken,
    RotatedTokens,
    TokenView,
    put_docs,
    stored,
    token_view,
)
from shared.registry import (
    DEFAULT_GRACE,
    PARTNERS,
    Partner,
    PartnerToken,
    check_partner,
    create_partner_token,
    partner_tokens,
    revoke_all_partner_tokens,
    revoke_partner_token,
    rotate_partner_tokens,
)
from shared.web import Refused

MAX_GRACE_DAYS = 365

router = APIRouter()


async def described_partner(partner_id: str, body: Body, admin: AdminOf) -> Partner:
    """The partner a PUT describes, its publishers and networks registered ones."""
    partner = entry(Partner, partner_id, body)
    registry = admin.registry
    await registry.refresh(force=True)
    publishers = [p.id for p in await registry.publishers()]
    networks = [n.id for n in await registry.networks()]
    with checked("partner"):
        check_partner(partner, publishers, networks)
    return partner


@router.put("/partners/{partner_id}", summary="Add or replace a partner", **put_docs(Partner))
async def put_partner(
    partner: Annotated[Partner, Depends(described_partner)], response: Response, admin: AdminOf
) -> dict[str, Any]:
    return stored(response, await admin.put(PARTNERS, partner), partner)


@router.delete("/partners/{partner_id}", summary="Remove a partner and revoke its tokens")
async def delete_partner(partner: KnownPartner, admin: AdminOf) -> dict[str, Any]:
    # Tokens first: a partner registered again under this id must not inherit them.
    revoked = await revoke_all_partner_tokens(admin.db, partner.id, admin.registry.clock())
    await admin.delete(PARTNERS, "partner", partner.id)
    return {"deleted": partner.id, "tokens_revoked": revoked}


@router.get(
    "/partners/{partner_id}/tokens",
    summary="A partner's tokens: ids and dates",
    response_model=list[TokenView],  # type: ignore[valid-type]
)
async def list_tokens(partner: KnownPartner, admin: AdminOf) -> list[dict[str, Any]]:
    now = admin.registry.clock()
    return [token_view(t, now) for t in await partner_tokens(admin.db, partner.id)]


def issued(token: str, record: PartnerToken, now: datetime, detail: str) -> dict[str, Any]:
    """A new token's answer: the token itself (this once) and what is ever shown of it."""
    return {"token": token, **token_view(record, now), "detail": detail}


@router.post(
    "/partners/{partner_id}/tokens",
    status_code=201,
    summary="Issue a feed token for a partner (the token is in this answer only)",
    response_model=IssuedToken,
)
async def create_token(partner: KnownPartner, admin: AdminOf) -> dict[str, Any]:
    now = admin.registry.clock()
    token, record = await create_partner_token(admin.db, partner.id, now)
    await admin.fresh()
    detail = "Shown once: only its SHA-256 is kept. Give it to the partner now."
    return issued(token, record, now, detail)


def grace_period(grace_days: str | None) -> timedelta:
    """How long a rotation leaves the older tokens working: ``grace_days``, or the default."""
    if grace_days is None:
        return DEFAULT_GRACE
    try:
        days = float(grace_days)
    except ValueError:
        days = -1.0
    if not 0 <= days <= MAX_GRACE_DAYS:
        raise Refused(
            422,
            "invalid grace period",
            f"grace_days must be a number of days from 0 to {MAX_GRACE_DAYS}, not {grace_days!r}",
            code="grace_period_invalid",
        )
    return timedelta(days=days)


@router.post(
    "/partners/{partner_id}/tokens/rotate",
    status_code=201,
    summary="Issue a new token; the partner's others keep working for grace_days",
    response_model=RotatedTokens,
)
async def rotate_tokens(
    partner: KnownPartner, admin: AdminOf, grace_days: str | None = None
) -> dict[str, Any]:
    grace = grace_period(grace_days)
    now = admin.registry.clock()
    token, record, previous = await rotate_partner_tokens(admin.db, partner.id, grace, now)
    await admin.fresh()
    detail = (
        "Shown once: only its SHA-256 is kept. The previous tokens work until their expires_at."
    )
    answer = issued(token, record, now, detail)
    return {**answer, "previous": [token_view(t, now) for t in previous]}


@router.delete("/partners/{partner_id}/tokens/{token_id}", summary="Revoke a token at once")
async def revoke_token(partner_id: str, token_id: str, admin: AdminOf) -> dict[str, Any]:
    # Not declared as KnownPartner: the document lists the path's ids in the path's order.
    partner = await known_partner(partner_id, admin)
    if not await revoke_partner_token(admin.db, token_id, partner.id, admin.registry.clock()):
        reason = f"no unrevoked token {token_id!r} of partner {partner.id!r}"
        raise Refused(404, "not found", reason, code="token_not_found")
    await admin.fresh()
    return {"revoked": token_id, "partner": partner.id}
