"""Who publishes and who subscribes: publishers, networks and partners.

The registry is written from a YAML file (``python -m shared.registry load FILE``) into the
database, where every service reads it; so all replicas of all services agree, and a change
reaches them within ``Registry.ttl`` seconds without a restart. The feeds service's admin API
(``services/feeds/admin.py``) writes the same collections.

Partners (sister cities, city networks' members, news desks) receive publishers' feeds in the
languages they read, optionally filtered by subject, through private feed tokens. Like editor keys,
a token is stored only as its SHA-256 digest, which is also the document's ``_id``: the lookup is
one indexed point read (on FerretDB only an exact ``{"_id": ...}`` filter uses an index).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pymongo import IndexModel

from shared.contracts import LanguageTag, PublisherId, TranslationPolicy, utcnow
from shared.display import http_url
from shared.settings import InfraSettings
from shared.storage import Collection, Database, connect

PUBLISHERS = Collection("publishers")
NETWORKS = Collection("networks")
EDITOR_KEYS = Collection("editor_keys")
PARTNERS = Collection("partners")
#: ``_id`` is the token's SHA-256. The ``partner`` index serves only the rare admin listing and
#: rotation (on MongoDB; FerretDB scans, which is fine for a handful of tokens per partner).
PARTNER_TOKENS = Collection(
    "partner_tokens", indexes=(IndexModel([("partner", 1)], name="partner"),)
)
#: Every registry collection, for a service's ``ensure_indexes``.
COLLECTIONS = (PUBLISHERS, NETWORKS, EDITOR_KEYS, PARTNERS, PARTNER_TOKENS)
#: How long a rotated-out partner token keeps working, so partners can switch without downtime.
DEFAULT_GRACE = timedelta(days=7)

log = logging.getLogger(__name__)


class Publisher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str
    language: LanguageTag = "fa"
    timezone: str = "Asia/Tehran"
    site: str | None = None
    translate_to: list[LanguageTag] = Field(default_factory=list)
    translation_policy: TranslationPolicy = Field(
        default=TranslationPolicy.HOLD,
        description="Machine translations: `publish` (all go out, marked, with the checks' "
        "results), `hold` (one failing an automatic check waits for an editor), `review` "
        "(none goes out before an editor approves it).",
    )

    @field_validator("site")
    @classmethod
    def _http_site(cls, value: str | None) -> str | None:
        """The site is a link on the public directory and in the OPML: http(s) only."""
        if value is not None and http_url(value) is None:
            raise ValueError(f"must be an http:// or https:// URL, not {value[:80]!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def feed_languages(self) -> list[str]:
        return [self.language, *(lang for lang in self.translate_to if lang != self.language)]


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str
    members: list[PublisherId] = Field(default_factory=list)
    languages: list[LanguageTag] = Field(default_factory=list)


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


class Partner(BaseModel):
    """Who receives feeds: a partner city, a network's office, a news desk.

    It receives the publishers it lists plus every member of the networks it lists, in its
    languages, optionally only the entries on its subjects.
    """

    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str = Field(min_length=1)
    city: str | None = None
    languages: list[LanguageTag] = Field(
        min_length=1, description="Feed languages it receives; articles are translated into them."
    )
    publishers: list[PublisherId] = Field(default_factory=list)
    networks: list[PublisherId] = Field(
        default_factory=list, description="It receives every member of these networks."
    )
    subjects: list[str] = Field(
        default_factory=list,
        description="Only entries with one of these subjects (case-insensitive); empty: all.",
    )
    websub: bool = Field(default=True, description="May subscribe to its feeds via WebSub.")

    @field_validator("languages", "publishers", "networks")
    @classmethod
    def _once_each(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @field_validator("subjects")
    @classmethod
    def _clean_subjects(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in values]
        if not all(cleaned):
            raise ValueError("a subject cannot be blank")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _receives_something(self) -> Partner:
        if not self.publishers and not self.networks:
            raise ValueError(f"partner {self.id!r} receives nothing: list publishers or networks")
        return self

    def publisher_ids(self, networks: Iterable[Network]) -> list[str]:
        """Every publisher it receives: its own list, then the members of its networks."""
        by_id = {net.id: net for net in networks}
        ids = dict.fromkeys(self.publishers)
        for net_id in self.networks:
            if net_id in by_id:
                ids.update(dict.fromkeys(by_id[net_id].members))
        return list(ids)

    def receives(self, publisher_id: str, networks: Iterable[Network]) -> bool:
        return publisher_id in self.publisher_ids(networks)

    def wants_subjects(self, subjects: Sequence[str]) -> bool:
        """True when it takes every subject, or one of these subjects is among its own."""
        if not self.subjects:
            return True
        wanted = {s.casefold() for s in self.subjects}
        return any(" ".join(s.split()).casefold() in wanted for s in subjects)


def partner_wants(
    partner: Partner, publisher: str, subjects: Sequence[str], networks: Iterable[Network]
) -> bool:
    """Whether an entry of ``publisher`` on ``subjects`` belongs in the partner's feeds."""
    return partner.receives(publisher, networks) and partner.wants_subjects(subjects)


def target_languages_of(
    publisher: Publisher, networks: Iterable[Network], partners: Iterable[Partner]
) -> list[str]:
    """Languages the publisher's articles are translated into: its own ``translate_to``, the
    languages of every network carrying it and of every partner receiving it (directly or
    through a network); never its source language."""
    networks = list(networks)
    wanted = list(publisher.translate_to)
    for net in networks:
        if publisher.id in net.members:
            wanted.extend(net.languages)
    for partner in partners:
        if partner.receives(publisher.id, networks):
            wanted.extend(partner.languages)
    return [lang for lang in dict.fromkeys(wanted) if lang != publisher.language]


def check_network(network: Network, publishers: Iterable[str]) -> None:
    """ValueError naming the members that are not registered publishers."""
    unknown = sorted(set(network.members) - set(publishers))
    if unknown:
        raise ValueError(f"network {network.id!r} lists unknown publishers: {unknown}")


def check_partner(partner: Partner, publishers: Iterable[str], networks: Iterable[str]) -> None:
    """ValueError naming the publishers or networks the partner lists that do not exist."""
    known_pubs, known_nets = set(publishers), set(networks)
    unknown = sorted(set(partner.publishers) - known_pubs)
    if unknown:
        raise ValueError(
            f"partner {partner.id!r} lists unknown publishers: {unknown}; "
            f"registered publishers: {sorted(known_pubs) or 'none'}"
        )
    unknown = sorted(set(partner.networks) - known_nets)
    if unknown:
        raise ValueError(
            f"partner {partner.id!r} lists unknown networks: {unknown}; "
            f"registered networks: {sorted(known_nets) or 'none'}"
        )


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


class RegistryContents(NamedTuple):
    publishers: list[Publisher]
    networks: list[Network]
    partners: list[Partner]


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line: ``field: problem; field: problem``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = "is required" if err["type"] == "missing" else str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "is not a known field"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    partners: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def parsed(self) -> RegistryContents:
        pubs = [Publisher(id=k, **v) for k, v in self.publishers.items()]
        nets = [Network(id=k, **v) for k, v in self.networks.items()]
        partners = []
        for key, value in self.partners.items():
            try:
                partners.append(Partner(id=key, **value))
            except ValidationError as exc:
                raise ValueError(f"partner {key!r}: {_describe(exc)}") from None
        known = [p.id for p in pubs]
        for net in nets:
            check_network(net, known)
        for partner in partners:
            check_partner(partner, known, [n.id for n in nets])
        return RegistryContents(pubs, nets, partners)


def read_registry(path: Path) -> RegistryContents:
    """Publishers, networks and partners of a registry file, validated (ValueError)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return RegistryFile.model_validate(data).parsed()


def read_file(path: Path) -> tuple[list[Publisher], list[Network]]:
    """Publishers and networks of a registry file (partners validated too, then left out)."""
    contents = read_registry(path)
    return contents.publishers, contents.networks


async def save(
    db: Database,
    publishers: Sequence[Publisher],
    networks: Sequence[Network],
    partners: Sequence[Partner] = (),
) -> None:
    """Upsert every entry (idempotent); entries missing from the file are left in place."""
    entries: list[tuple[Collection, Sequence[Publisher | Network | Partner]]] = [
        (PUBLISHERS, publishers),
        (NETWORKS, networks),
        (PARTNERS, partners),
    ]
    for coll, items in entries:
        for item in items:
            doc = item.model_dump(exclude={"id"})
            await db[coll.name].replace_one({"_id": item.id}, doc, upsert=True)


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

    async def target_languages(self, publisher_id: str) -> list[str]:
        """Languages an article must be translated into: the publisher's own list, every
        network that carries the publisher, every partner that receives it."""
        pub = await self.publisher(publisher_id)
        if pub is None:
            return []
        return target_languages_of(pub, self._networks.values(), self._partners.values())


async def _with_db(work: Any) -> None:
    infra = InfraSettings()
    client = connect(infra, "registry-cli")
    try:
        await work(client[infra.mongodb_database])
    finally:
        await client.close()


async def _load(db: Database, path: Path) -> None:
    pubs, nets, partners = read_registry(path)
    await save(db, pubs, nets, partners)
    print(
        f"registry: {len(pubs)} publishers, {len(nets)} networks, {len(partners)} partners "
        f"from {path}"
    )


async def _urls(db: Database, feeds: str, tokens: Path | None = None) -> None:
    registry = Registry(db)
    base = feeds.rstrip("/")
    print("\nFeeds (Atom; swap .atom for .rss or .json):")
    for pub in await registry.publishers():
        langs = dict.fromkeys([pub.language, *await registry.target_languages(pub.id)])
        for lang in langs:
            print(f"  {base}/feeds/{pub.id}/{lang}.atom")
    for net in await registry.networks():
        for lang in net.languages:
            print(f"  {base}/networks/{net.id}/{lang}.atom")
    for partner in await registry.partners():
        token = tokens / f"partner-{partner.id}.token" if tokens else None
        query = f"?token=$(cat {token})" if token and token.exists() else " (needs its token)"
        for lang in partner.languages:
            print(f"  {base}/partners/{partner.id}/{lang}.atom{query}")
    print(f"Directory: {base}/feeds  OPML: {base}/feeds.opml  WebSub hub: {base}/websub")


async def _key_create(db: Database, args: argparse.Namespace) -> None:
    if args.out and args.out.exists():
        existing = await Registry(db).editor_key(args.out.read_text().strip())
        if existing and existing.publisher == args.publisher:
            print(f"keys: {args.out} already holds live key {existing.id} for {args.publisher}")
            return
    if await Registry(db).publisher(args.publisher) is None:
        raise ValueError(f"unknown publisher {args.publisher!r}: load the registry first")
    scopes = [s.strip() for s in args.scopes.split(",")] if args.scopes else None
    token, key = await create_editor_key(db, args.publisher, args.name, scopes)
    if args.out:
        _write_secret(args.out, token)
        print(
            f"keys: created {key.id} for {args.publisher} ({', '.join(key.scopes)}) in {args.out}"
        )
    else:
        print(
            f"keys: created {key.id} for {args.publisher} ({', '.join(key.scopes)}); "
            "the key, shown once:",
            file=sys.stderr,
        )
        print(token)


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")


async def _key_list(db: Database, args: argparse.Namespace) -> None:
    for key in await editor_keys(db, args.publisher):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
        print(f"{key.id}  {key.publisher:12} {key.name:20} {','.join(key.scopes):32} {state}")


async def _key_revoke(db: Database, args: argparse.Namespace) -> None:
    if not await revoke_editor_keys(db, key_id=args.key_id):
        raise ValueError(f"no live key {args.key_id!r}")
    print(f"keys: revoked {args.key_id}; services stop accepting it within seconds")


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "-"


async def _known_partner(db: Database, partner_id: str) -> Partner:
    partner = await Registry(db).partner(partner_id)
    if partner is None:
        known = ", ".join(p.id for p in await Registry(db).partners()) or "none"
        raise ValueError(f"unknown partner {partner_id!r}; registered partners: {known}")
    return partner


def _show_token(token: str, out: Path | None, what: str) -> None:
    if out:
        _write_secret(out, token)
        print(f"partner-token: {what}; the token is in {out}")
    else:
        print(f"partner-token: {what}; the token, shown once:", file=sys.stderr)
        print(token)


async def _token_create(db: Database, args: argparse.Namespace) -> None:
    partner = await _known_partner(db, args.partner)
    if args.out and args.out.exists():  # make run, again: keep the partner's live token
        existing = await Registry(db).partner_for_token(args.out.read_text().strip())
        if existing and existing.id == partner.id:
            print(f"partner-token: {args.out} already holds a live token for {partner.id}")
            return
    token, record = await create_partner_token(db, partner.id)
    _show_token(token, args.out, f"created {record.id} for {partner.id}")


async def _token_rotate(db: Database, args: argparse.Namespace) -> None:
    if not 0 <= args.grace_days <= 365:
        raise ValueError(f"--grace-days must be between 0 and 365, not {args.grace_days:g}")
    partner = await _known_partner(db, args.partner)
    token, record, previous = await rotate_partner_tokens(
        db, partner.id, timedelta(days=args.grace_days)
    )
    _show_token(token, args.out, f"created {record.id} for {partner.id}")
    for old in previous:
        print(f"partner-token: {old.id} keeps working until {_when(old.expires_at)}")


async def _token_revoke(db: Database, args: argparse.Namespace) -> None:
    if not await revoke_partner_token(db, args.token_id):
        raise ValueError(f"no unrevoked partner token {args.token_id!r}")
    print(f"partner-token: revoked {args.token_id}; feeds stop accepting it within seconds")


async def _token_list(db: Database, args: argparse.Namespace) -> None:
    await _known_partner(db, args.partner)
    now = utcnow()
    records = await partner_tokens(db, args.partner)
    if not records:
        print(f"partner-token: {args.partner} has no tokens; 'partner-token create' issues one")
    for record in records:
        state = record.state(now)
        print(
            f"{record.id}  {state:8}  created {_when(record.created_at)}  "
            f"expires {_when(record.expires_at)}  revoked {_when(record.revoked_at)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.registry")
    sub = parser.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load", help="write publishers, networks and partners from a YAML file")
    load.add_argument("file", type=Path)
    urls = sub.add_parser("urls", help="print every feed URL")
    urls.add_argument("--feeds", default="http://127.0.0.1:8080", help="feeds service base URL")
    urls.add_argument(
        "--tokens",
        dest="token_dir",
        type=Path,
        help="folder of partner-{id}.token files, to show in the URLs",
    )
    keys = sub.add_parser("keys", help="editors' API keys").add_subparsers(
        dest="keys", required=True
    )
    create = keys.add_parser("create", help="issue a key for a publisher (printed once)")
    create.add_argument("publisher")
    create.add_argument("--name", default="editor", help="who or what holds the key")
    create.add_argument("--scopes", help=f"comma-separated, from {','.join(ALL_SCOPES)} (all)")
    create.add_argument("--out", type=Path, help="write the key to this file (kept if still live)")
    listing = keys.add_parser("list", help="list keys (ids, never the keys themselves)")
    listing.add_argument("--publisher")
    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    tokens = sub.add_parser("partner-token", help="partners' private feed tokens").add_subparsers(
        dest="tokens", required=True
    )
    t_create = tokens.add_parser("create", help="issue a token for a partner (printed once)")
    t_create.add_argument("partner")
    t_create.add_argument("--out", type=Path, help="write the token to this file instead")
    t_rotate = tokens.add_parser(
        "rotate", help="issue a new token; the partner's others keep working for a grace period"
    )
    t_rotate.add_argument("partner")
    t_rotate.add_argument(
        "--grace-days",
        type=float,
        default=DEFAULT_GRACE.days,
        help=f"days the older tokens keep working (default {DEFAULT_GRACE.days}; 0: none)",
    )
    t_rotate.add_argument("--out", type=Path, help="write the new token to this file instead")
    t_revoke = tokens.add_parser("revoke", help="end a token at once, by its id")
    t_revoke.add_argument("token_id")
    t_list = tokens.add_parser("list", help="a partner's tokens (ids and dates, never tokens)")
    t_list.add_argument("partner")
    args = parser.parse_args(argv)
    commands: dict[str, Any] = {
        "load": lambda db: _load(db, args.file),
        "urls": lambda db: _urls(db, args.feeds, args.token_dir),
        "keys create": lambda db: _key_create(db, args),
        "keys list": lambda db: _key_list(db, args),
        "keys revoke": lambda db: _key_revoke(db, args),
        "partner-token create": lambda db: _token_create(db, args),
        "partner-token rotate": lambda db: _token_rotate(db, args),
        "partner-token revoke": lambda db: _token_revoke(db, args),
        "partner-token list": lambda db: _token_list(db, args),
    }
    action = getattr(args, "keys", None) or getattr(args, "tokens", None)
    name = f"{args.cmd} {action}" if action else args.cmd
    try:
        asyncio.run(_with_db(commands[name]))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
