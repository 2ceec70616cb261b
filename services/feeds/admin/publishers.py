"""``/admin/publishers``: publishers, and the editor keys they sign in to ingest with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import ValidationError

from services.feeds.admin.context import (
    AdminOf,
    Body,
    KnownPublisher,
    entry,
    known_publisher,
    slug,
)
from services.feeds.admin.views import (
    IssuedKey,
    KeyRequest,
    KeyView,
    key_view,
    put_docs,
    request_body,
    stored,
)
from shared.messaging import describe_validation_error
from shared.registry import (
    PUBLISHERS,
    Publisher,
    create_editor_key,
    editor_keys,
    revoke_editor_keys,
)
from shared.web import Refused

router = APIRouter()


async def described_publisher(publisher_id: str, body: Body) -> Publisher:
    """The publisher a PUT describes."""
    return entry(Publisher, publisher_id, body)


@router.put(
    "/publishers/{publisher_id}", summary="Add or replace a publisher", **put_docs(Publisher)
)
async def put_publisher(
    pub: Annotated[Publisher, Depends(described_publisher)], response: Response, admin: AdminOf
) -> dict[str, Any]:
    return stored(response, await admin.put(PUBLISHERS, pub), pub)


@router.delete("/publishers/{publisher_id}", summary="Remove a publisher no one lists")
async def delete_publisher(publisher_id: str, admin: AdminOf) -> dict[str, Any]:
    pub_id = slug(publisher_id)
    registry = admin.registry
    await registry.refresh(force=True)
    nets = [n.id for n in await registry.networks() if pub_id in n.members]
    partners = [p.id for p in await registry.partners() if pub_id in p.publishers]
    if nets or partners:
        where = [f"networks {nets}"] * bool(nets) + [f"partners {partners}"] * bool(partners)
        raise Refused(
            409,
            "still listed",
            f"publisher {pub_id!r} is listed by {' and '.join(where)}: remove it there first",
            code="still_listed",
        )
    # Keys first: a publisher registered again under this id must not inherit them.
    revoked = await revoke_editor_keys(admin.db, publisher=pub_id, now=registry.clock())
    await admin.delete(PUBLISHERS, "publisher", pub_id)
    return {"deleted": pub_id, "keys_revoked": revoked}


@router.get(
    "/publishers/{publisher_id}/keys",
    summary="A publisher's editor keys: ids, names, scopes and dates",
    response_model=list[KeyView],  # type: ignore[valid-type]
)
async def list_keys(pub_id: KnownPublisher, admin: AdminOf) -> list[dict[str, Any]]:
    return [key_view(k) for k in await editor_keys(admin.db, pub_id)]


@router.post(
    "/publishers/{publisher_id}/keys",
    status_code=201,
    summary="Issue an editor key for a publisher (the key is in this answer only)",
    response_model=IssuedKey,
    openapi_extra=request_body(KeyRequest.model_json_schema()),
)
async def create_key(pub_id: KnownPublisher, body: Body, admin: AdminOf) -> dict[str, Any]:
    try:
        wanted = KeyRequest.model_validate(body)
    except ValidationError as exc:
        reason = f"editor key: {describe_validation_error(exc)}"
        raise Refused(422, "invalid key", reason, code="key_request_invalid") from None
    key, record = await create_editor_key(admin.db, pub_id, wanted.name, wanted.scopes)
    return {
        "key": key,
        **key_view(record),
        "detail": "Shown once: only its SHA-256 is kept. Give it to the editor now; "
        "to rotate, issue a new key, hand it over, then revoke the old one.",
    }


@router.delete(
    "/publishers/{publisher_id}/keys/{key_id}",
    summary="Revoke an editor key (every replica refuses it within seconds)",
)
async def revoke_key(publisher_id: str, key_id: str, admin: AdminOf) -> dict[str, Any]:
    # Not declared as KnownPublisher: the document lists the path's ids in the path's order.
    pub_id = await known_publisher(publisher_id, admin)
    now = admin.registry.clock()
    if not await revoke_editor_keys(admin.db, key_id=key_id, publisher=pub_id, now=now):
        reason = f"no live editor key {key_id!r} of publisher {pub_id!r}"
        raise Refused(404, "not found", reason, code="key_not_found")
    await admin.fresh()
    return {"revoked": key_id, "publisher": pub_id}
