"""Editors' API keys and partners' private feed tokens: issued, listed, rotated, revoked.

A key or a token is shown once and stored only as its SHA-256 (the document's ``_id``): the
database never holds a usable secret, and checking one is one indexed point read.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pymongo import IndexModel

from shared.contracts import PublisherId, utcnow
from shared.storage import Collection, Database

EDITOR_KEYS = Collection("editor_keys")
#: ``_id`` is the token's SHA-256. The ``partner`` index serves only the rare admin listing and
#: rotation (on MongoDB; FerretDB scans, which is fine for a handful of tokens per partner).
PARTNER_TOKENS = Collection(
    "partner_tokens", indexes=(IndexModel([("partner", 1)], name="partner"),)
)
#: How long a rotated-out partner token keeps working, so partners can switch without downtime.
DEFAULT_GRACE = timedelta(days=7)


Scope = Literal["submit", "correct", "withdraw", "translate"]
ALL_SCOPES: tuple[Scope, ...] = ("submit", "correct", "withdraw", "translate")


class EditorKey(BaseModel):
    """An editor's API key for one publisher. Only its SHA-256 is stored (as ``_id``), so the
    database never holds a usable secret and a lookup is one indexed read."""

    id: str = Field(description="Public key id, safe to log and to name in a revocation.")
    publisher: PublisherId
    name: str
    scopes: list[Scope] = Field(default_factory=lambda: list(ALL_SCOPES))
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


def key_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_editor_key(
    publisher: str, name: str, scopes: list[Scope] | None = None
) -> tuple[str, str, EditorKey]:
    """A fresh random token, its digest and its record; the token is shown once, never stored."""
    token = f"cfk_{publisher}_{secrets.token_urlsafe(32)}"
    digest = key_digest(token)
    key = EditorKey(
        id=f"k_{digest[:10]}", publisher=publisher, name=name, scopes=scopes or list(ALL_SCOPES)
    )
    return token, digest, key


async def create_editor_key(
    db: Database, publisher: str, name: str, scopes: list[Scope] | None = None
) -> tuple[str, EditorKey]:
    """Issue and store a key; returns the key (shown once) and its record."""
    token, digest, key = new_editor_key(publisher, name, scopes)
    await db[EDITOR_KEYS.name].insert_one({"_id": digest, **key.model_dump()})
    return token, key


async def editor_keys(db: Database, publisher: str | None = None) -> list[EditorKey]:
    """Every key (of one publisher, when named), oldest first: records only, never a key."""
    query = {"publisher": publisher} if publisher else {}
    cursor = db[EDITOR_KEYS.name].find(query).sort("created_at", 1)
    return [EditorKey.model_validate(doc) async for doc in cursor]


async def revoke_editor_keys(
    db: Database,
    *,
    key_id: str | None = None,
    publisher: str | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke the live key ``key_id`` (of ``publisher``, when named), or every live key of
    ``publisher``; how many were revoked. Services stop accepting a key within
    ``Registry.ttl`` seconds."""
    if key_id is None and publisher is None:
        raise ValueError("name a key or a publisher")
    query: dict[str, Any] = {"revoked_at": None}
    if key_id is not None:
        query["id"] = key_id
    if publisher is not None:
        query["publisher"] = publisher
    result = await db[EDITOR_KEYS.name].update_many(
        query, {"$set": {"revoked_at": now or utcnow()}}
    )
    return int(result.matched_count)


TokenState = Literal["live", "expiring", "expired", "revoked"]


class PartnerToken(BaseModel):
    """One of a partner's feed tokens. Only its SHA-256 is stored (as ``_id``): the database
    never holds a usable secret, and checking a token is one indexed point read."""

    id: str = Field(description="Public token id, safe to log and to name in a revocation.")
    partner: PublisherId
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None, description="None: until revoked.")
    revoked_at: datetime | None = None

    @field_validator("created_at", "expires_at", "revoked_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """A client without ``tz_aware`` reads naive datetimes; they are UTC."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is None:
            return "live"
        return "expiring" if self.expires_at > now else "expired"

    def valid(self, now: datetime) -> bool:
        return self.state(now) in ("live", "expiring")


PARTNER_TOKEN_PREFIX = "cfp_"


def new_partner_token(
    partner: str, now: datetime | None = None, expires_at: datetime | None = None
) -> tuple[str, str, PartnerToken]:
    """A fresh random token, its digest and its record; the token is shown once, never stored."""
    token = f"{PARTNER_TOKEN_PREFIX}{partner}_{secrets.token_urlsafe(32)}"
    digest = key_digest(token)
    record = PartnerToken(
        id=f"t_{digest[:12]}", partner=partner, created_at=now or utcnow(), expires_at=expires_at
    )
    return token, digest, record


async def create_partner_token(
    db: Database, partner: str, now: datetime | None = None
) -> tuple[str, PartnerToken]:
    """Issue and store a token; returns the token (shown once) and its record."""
    token, digest, record = new_partner_token(partner, now)
    await db[PARTNER_TOKENS.name].insert_one({"_id": digest, **record.model_dump()})
    return token, record


async def partner_tokens(db: Database, partner: str) -> list[PartnerToken]:
    """Every token of the partner, oldest first (records only: ids and dates)."""
    cursor = db[PARTNER_TOKENS.name].find({"partner": partner}).sort("created_at", 1)
    return [PartnerToken.model_validate(doc) async for doc in cursor]


async def rotate_partner_tokens(
    db: Database, partner: str, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> tuple[str, PartnerToken, list[PartnerToken]]:
    """Issue a new token and let the partner's other valid tokens expire after ``grace``
    (sooner if they already expire sooner), so the partner can switch without a gap.

    Returns the new token (shown once), its record and the records of the older tokens as they
    now stand. The new token is stored first: a failure half-way leaves more working tokens,
    never fewer."""
    if grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")
    now = now or utcnow()
    until = now + grace
    token, digest, record = new_partner_token(partner, now)
    coll = db[PARTNER_TOKENS.name]
    await coll.insert_one({"_id": digest, **record.model_dump()})
    older = [d async for d in coll.find({"partner": partner, "revoked_at": None})]
    previous = []
    for doc in older:
        old = PartnerToken.model_validate(doc)
        if doc["_id"] == digest or not old.valid(now):
            continue
        if old.expires_at is None or old.expires_at > until:
            await coll.update_one({"_id": doc["_id"]}, {"$set": {"expires_at": until}})
            old = old.model_copy(update={"expires_at": until})
        previous.append(old)
    return token, record, previous


async def revoke_partner_token(
    db: Database, token_id: str, partner: str | None = None, now: datetime | None = None
) -> bool:
    """End a token at once (on other replicas within ``Registry.ttl``); False if no such
    unrevoked token (of that partner, when one is named)."""
    query: dict[str, Any] = {"id": token_id, "revoked_at": None}
    if partner is not None:
        query["partner"] = partner
    result = await db[PARTNER_TOKENS.name].update_many(
        query, {"$set": {"revoked_at": now or utcnow()}}
    )
    return bool(result.matched_count)


async def revoke_all_partner_tokens(db: Database, partner: str, now: datetime | None = None) -> int:
    """Revoke every token of a partner (it is being removed); how many were revoked."""
    result = await db[PARTNER_TOKENS.name].update_many(
        {"partner": partner, "revoked_at": None}, {"$set": {"revoked_at": now or utcnow()}}
    )
    return int(result.modified_count)
