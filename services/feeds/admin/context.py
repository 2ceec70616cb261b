"""What the admin routes work on, as declared dependencies: the registry and its database
(:class:`Admin`), the publisher or partner a path names, and the request body as a JSON object.
Each refuses with a reason (:class:`shared.web.Refused`) before the route runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import ValidationError

from services.feeds.web import app_state
from shared.messaging import describe_validation_error
from shared.registry import Network, Partner, Publisher, Registry
from shared.storage import Collection, Database
from shared.web import Refused

NO_STORE = {"Cache-Control": "no-store"}

Entry = TypeVar("Entry", Publisher, Network, Partner)
#: A request body as JSON, before it is validated as an entry or a key request.
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Admin:
    """The admin API of one app: the registry it changes, its database, and the accepted admin
    tokens' SHA-256 digests (none: the admin API is disabled)."""

    registry: Registry
    db: Database
    digests: list[bytes]

    async def fresh(self) -> None:
        """Apply a change on this replica now (others within ``registry.ttl``)."""
        self.registry.forget_tokens()
        await self.registry.refresh(force=True)

    async def put(self, coll: Collection, entry: Publisher | Network | Partner) -> bool:
        """Store the entry; True if it is new."""
        result = await self.db[coll.name].replace_one(
            {"_id": entry.id}, entry.model_dump(exclude={"id"}), upsert=True
        )
        await self.fresh()
        return result.upserted_id is not None

    async def delete(self, coll: Collection, kind: str, entry_id: str) -> None:
        """Remove the entry; 404 ``{kind}_not_found`` (publisher, network, partner) if none."""
        result = await self.db[coll.name].delete_one({"_id": entry_id})
        await self.fresh()
        if not result.deleted_count:
            raise Refused(404, "not found", f"no {kind} {entry_id!r}", code=f"{kind}_not_found")


def admin_of(request: Request) -> Admin:
    """The :class:`Admin` that :func:`services.feeds.admin.install` gave the app."""
    return app_state(request, "feeds_admin", Admin)


AdminOf = Annotated[Admin, Depends(admin_of)]


def slug(entry_id: str) -> str:
    return entry_id.strip().lower()


async def known_partner(partner_id: str, admin: AdminOf) -> Partner:
    partner = await admin.registry.partner(slug(partner_id))
    if partner is None:
        known = ", ".join(p.id for p in await admin.registry.partners()) or "none"
        reason = f"no partner {partner_id!r}; registered partners: {known}"
        raise Refused(404, "not found", reason, code="partner_not_found")
    return partner


async def known_publisher(publisher_id: str, admin: AdminOf) -> str:
    pub = await admin.registry.publisher(slug(publisher_id))
    if pub is None:
        reason = await admin.registry.unknown_publisher_reason(publisher_id)
        raise Refused(404, "not found", reason, code="publisher_not_found")
    return pub.id


async def json_body(request: Request) -> JsonObject:
    """The request body as a JSON object, refusals readable (its size was limited as it
    streamed in: :func:`services.feeds.admin.install`)."""
    raw = await request.body()
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except UnicodeDecodeError:
        reason = "the body is not valid UTF-8"
        raise Refused(422, "invalid entry", reason, code="upload_not_utf8") from None
    except json.JSONDecodeError as exc:
        reason = f"the body is not valid JSON: {exc.msg} at line {exc.lineno}"
        raise Refused(422, "invalid entry", reason, code="json_invalid") from None
    if not isinstance(data, dict):
        raise Refused(
            422,
            "invalid entry",
            "the body must be a JSON object: the entry's fields, as in the registry file",
            code="entry_invalid",
        )
    return data


#: The partner a path's ``partner_id`` names (404 for none), its id normalised.
KnownPartner = Annotated[Partner, Depends(known_partner)]
#: The id of the publisher a path's ``publisher_id`` names (404 for none).
KnownPublisher = Annotated[str, Depends(known_publisher)]
Body = Annotated[JsonObject, Depends(json_body)]


@contextmanager
def checked(kind: str) -> Iterator[None]:
    """A registry check's ``ValueError`` as the 422 that says what to change."""
    try:
        yield
    except ValueError as exc:
        raise Refused(422, f"invalid {kind}", str(exc), code="entry_invalid") from None


def entry(model: type[Entry], entry_id: str, data: JsonObject) -> Entry:
    """The registry entry a PUT's path and body describe (the body's id, if any, must agree)."""
    kind = model.__name__.lower()
    named = data.pop("id", None)
    if named is not None and (not isinstance(named, str) or slug(named) != slug(entry_id)):
        reason = f"the body names id {named!r}, the path {entry_id!r}"
        raise Refused(422, f"invalid {kind}", reason, code="entry_id_mismatch")
    try:
        return model(id=entry_id, **data)
    except ValidationError as exc:
        reason = f"{kind} {entry_id!r}: {describe_validation_error(exc)}"
        raise Refused(422, f"invalid {kind}", reason, code="entry_invalid") from None
