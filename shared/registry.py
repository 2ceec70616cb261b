"""Who publishes and who subscribes: publishers, networks and partners.

The registry is written from a YAML file (``python -m shared.registry load FILE``) into the
database, where every service reads it; so all replicas of all services agree, and a change
reaches them within ``Registry.ttl`` seconds without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts import LanguageTag, PublisherId
from shared.settings import InfraSettings
from shared.storage import Collection, Database, connect

PUBLISHERS = Collection("publishers")
NETWORKS = Collection("networks")


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


async def _load(path: Path) -> None:
    infra = InfraSettings()
    client = connect(infra, "registry-loader")
    try:
        pubs, nets = read_file(path)
        await save(client[infra.mongodb_database], pubs, nets)
        print(f"registry: {len(pubs)} publishers, {len(nets)} networks from {path}")
    finally:
        await client.close()


async def _urls(feeds: str) -> None:
    infra = InfraSettings()
    client = connect(infra, "registry-urls")
    try:
        registry = Registry(client[infra.mongodb_database])
        print("\nFeeds (Atom; swap .atom for .rss for RSS 2.0):")
        for pub in await registry.publishers():
            langs = [pub.language, *await registry.target_languages(pub.id)]
            for lang in langs:
                print(f"  {feeds.rstrip('/')}/feeds/{pub.id}/{lang}.atom")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.registry")
    sub = parser.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load", help="write publishers and networks from a YAML file")
    load.add_argument("file", type=Path)
    urls = sub.add_parser("urls", help="print every publisher's feed URLs")
    urls.add_argument("--feeds", default="http://127.0.0.1:8080", help="feeds service base URL")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_load(args.file) if args.cmd == "load" else _urls(args.feeds))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
