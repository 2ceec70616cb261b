"""The services' cached read access to the registry, editor keys and partner tokens."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.contracts import utcnow
from shared.registry.credentials import (
    EDITOR_KEYS,
    PARTNER_TOKEN_PREFIX,
    PARTNER_TOKENS,
    EditorKey,
    PartnerToken,
    key_digest,
)
from shared.registry.models import (
    NETWORKS,
    PARTNERS,
    PUBLISHERS,
    Network,
    Partner,
    Publisher,
    feed_languages_of,
    partner_wants,
    target_languages_of,
)
from shared.storage import Database

log = logging.getLogger(__name__)


Entry = TypeVar("Entry", Publisher, Network, Partner)


def _parse(model: type[Entry], doc: dict[str, Any]) -> Entry | None:
    """A stored entry, or None (logged) if it does not validate: one bad document, written by
    hand or by a newer version, must not stop every feed and every ingest."""
    doc = dict(doc)
    entry_id = doc.pop("_id", None)
    try:
        return model(id=entry_id, **doc)
    except (ValidationError, TypeError) as exc:
        if _only_the_site(model, exc):  # a bad link must not take the publisher's feeds away
            log.error(
                "registry entry's site dropped: not an http(s) URL",
                extra={"kind": model.__name__, "id": entry_id},
            )
            return model(id=entry_id, **{**doc, "site": None})
        log.error(
            "registry entry skipped: it does not validate",
            extra={"kind": model.__name__, "id": entry_id, "error": str(exc)},
        )
        return None


def _only_the_site(model: type[Entry], exc: Exception) -> bool:
    return (
        model is Publisher
        and isinstance(exc, ValidationError)
        and {e["loc"] for e in exc.errors()} == {("site",)}
    )


class Registry:
    """Cached read access for the services."""

    def __init__(
        self, db: Database, ttl: float = 5.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._loaded_at = -1e9
        self._publishers: dict[str, Publisher] = {}
        self._networks: dict[str, Network] = {}
        self._partners: dict[str, Partner] = {}
        self._keys: dict[str, tuple[float, EditorKey | None]] = {}
        self._tokens: dict[str, tuple[float, PartnerToken | None]] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.ttl:
            return
        async with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.ttl:
                return
            pubs = [_parse(Publisher, d) async for d in self.db[PUBLISHERS.name].find()]
            nets = [_parse(Network, d) async for d in self.db[NETWORKS.name].find()]
            partners = [_parse(Partner, d) async for d in self.db[PARTNERS.name].find()]
            self._publishers = {p.id: p for p in pubs if p is not None}
            self._networks = {n.id: n for n in nets if n is not None}
            self._partners = {p.id: p for p in partners if p is not None}
            self._loaded_at = time.monotonic()

    def forget_tokens(self) -> None:
        """Drop cached editor keys and partner tokens, so a revocation made here applies here at
        once (other replicas: within ``ttl``)."""
        self._keys.clear()
        self._tokens.clear()

    async def publisher(self, publisher_id: str) -> Publisher | None:
        await self.refresh()
        if publisher_id not in self._publishers:
            await self.refresh(force=True)  # registered a moment ago?
        return self._publishers.get(publisher_id)

    async def publishers(self) -> list[Publisher]:
        await self.refresh()
        return sorted(self._publishers.values(), key=lambda p: p.id)

    async def unknown_publisher_reason(self, publisher_id: str) -> str:
        """What to tell an editor who named a publisher that is not registered."""
        known = ", ".join(p.id for p in await self.publishers()) or "none"
        return f"unknown publisher {publisher_id!r}; registered publishers: {known}"

    async def editor_key(self, token: str) -> EditorKey | None:
        """The live key for this token, or None (unknown or revoked). Cached for ``ttl`` seconds,
        so a revocation takes effect everywhere within that time."""
        return await self.editor_key_for_digest(key_digest(token))

    async def editor_key_for_digest(self, digest: str) -> EditorKey | None:
        """:meth:`editor_key` by the key's SHA-256 (what the editor desk's sessions keep)."""
        cached = self._keys.get(digest)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        doc = await self.db[EDITOR_KEYS.name].find_one({"_id": digest})
        key = EditorKey.model_validate(doc) if doc else None
        if key is not None and key.revoked_at is not None:
            key = None
        if len(self._keys) > 10_000:  # bounded: a flood of made-up tokens cannot grow it
            self._keys.clear()
        self._keys[digest] = (time.monotonic(), key)
        return key

    async def networks(self) -> list[Network]:
        await self.refresh()
        return sorted(self._networks.values(), key=lambda n: n.id)

    async def network(self, network_id: str) -> Network | None:
        await self.refresh()
        return self._networks.get(network_id)

    async def partners(self) -> list[Partner]:
        await self.refresh()
        return sorted(self._partners.values(), key=lambda p: p.id)

    async def partner(self, partner_id: str) -> Partner | None:
        await self.refresh()
        if partner_id not in self._partners:
            await self.refresh(force=True)  # registered a moment ago?
        return self._partners.get(partner_id)

    async def partner_publishers(self, partner: Partner) -> list[str]:
        """Every publisher the partner receives, directly or through its networks."""
        await self.refresh()
        return partner.publisher_ids(self._networks.values())

    async def partners_of(self, publisher_id: str) -> list[Partner]:
        """Every partner receiving this publisher, directly or through a network."""
        await self.refresh()
        nets = list(self._networks.values())
        return [p for p in await self.partners() if p.receives(publisher_id, nets)]

    def partner_wants(self, partner: Partner, publisher: str, subjects: Sequence[str]) -> bool:
        """:func:`partner_wants` with the networks as last loaded (synchronous, for a loop over
        ``await partners()``, which has just refreshed them)."""
        return partner_wants(partner, publisher, subjects, self._networks.values())

    async def partner_for_token(self, token: str) -> Partner | None:
        """The partner a feed token belongs to, or None (unknown, revoked, expired, or its
        partner removed).

        One point read by the token's SHA-256 (``_id``), cached for ``ttl`` seconds; expiry is
        judged at every call. Looking up the digest, never comparing secrets, is what makes
        this constant-time with respect to the secret: whatever timing the index lookup leaks
        is about digests, and knowing part of a digest does not help anyone find a token that
        hashes to it."""
        if not token.startswith(PARTNER_TOKEN_PREFIX) or len(token) > 512:
            return None  # not one of ours: no database read
        return await self.partner_for_digest(key_digest(token))

    async def partner_for_digest(self, digest: str) -> Partner | None:
        """:meth:`partner_for_token` for a token known by its SHA-256 only (a WebSub
        subscription remembers the digest of the token it was made with, never the token)."""
        cached = self._tokens.get(digest)
        if cached and time.monotonic() - cached[0] < self.ttl:
            record = cached[1]
        else:
            doc = await self.db[PARTNER_TOKENS.name].find_one({"_id": digest})
            record = PartnerToken.model_validate(doc) if doc else None
            if len(self._tokens) > 10_000:  # bounded: made-up tokens cannot grow it
                self._tokens.clear()
            self._tokens[digest] = (time.monotonic(), record)
        if record is None or not record.valid(self.clock()):
            return None
        return await self.partner(record.partner)

    async def target_languages(self, publisher_id: str, source: str | None = None) -> list[str]:
        """Languages an article must be translated into: the publisher's own list, every
        network that carries the publisher, every partner that receives it, the publisher's
        own language too, less the article's language ``source`` (by default the publisher's:
        its usual originals)."""
        pub = await self.publisher(publisher_id)
        if pub is None:
            return []
        return target_languages_of(pub, self._networks.values(), self._partners.values(), source)

    async def feed_languages(self, publisher_id: str) -> list[str]:
        """Every language the publisher's articles appear in, its own first (see
        :func:`feed_languages_of`); an original may come in any of them."""
        pub = await self.publisher(publisher_id)
        if pub is None:
            return []
        return feed_languages_of(pub, self._networks.values(), self._partners.values())
