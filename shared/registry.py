"""Who publishes and who subscribes: publishers, networks and partners.

The registry is written from a YAML file (``python -m shared.registry load FILE``) into the
database, where every service reads it; so all replicas of all services agree, and a change
reaches them within ``Registry.ttl`` seconds without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts import LanguageTag, PublisherId, utcnow
from shared.settings import InfraSettings
from shared.storage import Collection, Database, connect

PUBLISHERS = Collection("publishers")
NETWORKS = Collection("networks")
EDITOR_KEYS = Collection("editor_keys")


class Publisher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str
    language: LanguageTag = "fa"
    timezone: str = "Asia/Tehran"
    site: str | None = None
    translate_to: list[LanguageTag] = Field(default_factory=list)

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


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def parsed(self) -> tuple[list[Publisher], list[Network]]:
        pubs = [Publisher(id=k, **v) for k, v in self.publishers.items()]
        nets = [Network(id=k, **v) for k, v in self.networks.items()]
        known = {p.id for p in pubs}
        for net in nets:
            unknown = sorted(set(net.members) - known)
            if unknown:
                raise ValueError(f"network {net.id!r} lists unknown publishers: {unknown}")
        return pubs, nets


def read_file(path: Path) -> tuple[list[Publisher], list[Network]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return RegistryFile.model_validate(data).parsed()


async def save(db: Database, publishers: list[Publisher], networks: list[Network]) -> None:
    """Upsert every entry (idempotent); entries missing from the file are left in place."""
    for pub in publishers:
        doc = pub.model_dump(exclude={"id"})
        await db[PUBLISHERS.name].replace_one({"_id": pub.id}, doc, upsert=True)
    for net in networks:
        doc = net.model_dump(exclude={"id"})
        await db[NETWORKS.name].replace_one({"_id": net.id}, doc, upsert=True)


class Registry:
    """Cached read access for the services."""

    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._loaded_at = -1e9
        self._publishers: dict[str, Publisher] = {}
        self._networks: dict[str, Network] = {}
        self._keys: dict[str, tuple[float, EditorKey | None]] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.ttl:
            return
        async with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.ttl:
                return
            pubs = [Publisher(id=d.pop("_id"), **d) async for d in self.db[PUBLISHERS.name].find()]
            nets = [Network(id=d.pop("_id"), **d) async for d in self.db[NETWORKS.name].find()]
            self._publishers = {p.id: p for p in pubs}
            self._networks = {n.id: n for n in nets}
            self._loaded_at = time.monotonic()

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
        digest = key_digest(token)
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

    async def target_languages(self, publisher_id: str) -> list[str]:
        """Languages an article must be translated into: the publisher's own list plus every
        network that carries the publisher."""
        pub = await self.publisher(publisher_id)
        if pub is None:
            return []
        wanted = list(pub.translate_to)
        for net in self._networks.values():
            if publisher_id in net.members:
                wanted.extend(net.languages)
        seen: dict[str, None] = {}
        for lang in wanted:
            if lang != pub.language:
                seen.setdefault(lang, None)
        return list(seen)


async def _with_db(work: Any) -> None:
    infra = InfraSettings()
    client = connect(infra, "registry-cli")
    try:
        await work(client[infra.mongodb_database])
    finally:
        await client.close()


async def _load(db: Database, path: Path) -> None:
    pubs, nets = read_file(path)
    await save(db, pubs, nets)
    print(f"registry: {len(pubs)} publishers, {len(nets)} networks from {path}")


async def _urls(db: Database, feeds: str) -> None:
    registry = Registry(db)
    print("\nFeeds (Atom; swap .atom for .rss for RSS 2.0):")
    for pub in await registry.publishers():
        langs = [pub.language, *await registry.target_languages(pub.id)]
        for lang in langs:
            print(f"  {feeds.rstrip('/')}/feeds/{pub.id}/{lang}.atom")


async def _key_create(db: Database, args: argparse.Namespace) -> None:
    if args.out and args.out.exists():
        existing = await Registry(db).editor_key(args.out.read_text().strip())
        if existing and existing.publisher == args.publisher:
            print(f"keys: {args.out} already holds live key {existing.id} for {args.publisher}")
            return
    if await Registry(db).publisher(args.publisher) is None:
        raise ValueError(f"unknown publisher {args.publisher!r}: load the registry first")
    scopes = [s.strip() for s in args.scopes.split(",")] if args.scopes else None
    token, digest, key = new_editor_key(args.publisher, args.name, scopes)
    await db[EDITOR_KEYS.name].insert_one({"_id": digest, **key.model_dump()})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.touch(mode=0o600)
        args.out.write_text(token + "\n")
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


async def _key_list(db: Database, args: argparse.Namespace) -> None:
    query = {"publisher": args.publisher} if args.publisher else {}
    async for doc in db[EDITOR_KEYS.name].find(query).sort("created_at", 1):
        key = EditorKey.model_validate(doc)
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
        print(f"{key.id}  {key.publisher:12} {key.name:20} {','.join(key.scopes):32} {state}")


async def _key_revoke(db: Database, args: argparse.Namespace) -> None:
    result = await db[EDITOR_KEYS.name].update_many(
        {"id": args.key_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
    )
    if not result.matched_count:
        raise ValueError(f"no live key {args.key_id!r}")
    print(f"keys: revoked {args.key_id}; services stop accepting it within seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.registry")
    sub = parser.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load", help="write publishers and networks from a YAML file")
    load.add_argument("file", type=Path)
    urls = sub.add_parser("urls", help="print every publisher's feed URLs")
    urls.add_argument("--feeds", default="http://127.0.0.1:8080", help="feeds service base URL")
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
    args = parser.parse_args(argv)
    commands: dict[str, Any] = {
        "load": lambda db: _load(db, args.file),
        "urls": lambda db: _urls(db, args.feeds),
        "create": lambda db: _key_create(db, args),
        "list": lambda db: _key_list(db, args),
        "revoke": lambda db: _key_revoke(db, args),
    }
    try:
        asyncio.run(_with_db(commands[args.keys if args.cmd == "keys" else args.cmd]))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
