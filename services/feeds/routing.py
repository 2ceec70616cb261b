"""Which feeds there are, where they are, and which of them carry an entry.

Three kinds of feed, each per language: a publisher's own, a network's (every member
publisher), and a partner city's private one (its publishers and networks, filtered by
subject). The registry says which exist; this module only asks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from services.feeds.entries import FeedEntry
from services.feeds.render import Format
from shared.registry import Registry

Kind = Literal["publisher", "network", "partner"]
PATHS: dict[str, str] = {"publisher": "feeds", "network": "networks", "partner": "partners"}
TOPIC = re.compile(
    r"^/(?P<root>feeds|networks|partners)/(?P<key>[^/]+)/(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)"
    r"\.(?P<fmt>atom|rss|json)$"
)


@dataclass(frozen=True)
class FeedRef:
    kind: Kind
    key: str
    language: str

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.key}/{self.language}"

    @property
    def path(self) -> str:
        """URL path without extension, e.g. ``/feeds/mashhad/en``."""
        return f"/{PATHS[self.kind]}/{self.key}/{self.language}"


@dataclass(frozen=True)
class FeedUrls:
    """The public URLs of feeds and entries under ``public_url`` (no trailing slash)."""

    public_url: str

    def url(self, feed: FeedRef, fmt: str) -> str:
        return f"{self.public_url}{feed.path}.{fmt}"

    def archive_base(self, feed: FeedRef, page: int) -> str:
        return f"{self.public_url}{feed.path}/archive/{page}"

    def permalink(self, article_id: str, language: str) -> str:
        return f"{self.public_url}/entries/{article_id}/{language}"

    def parse_topic(self, url: str) -> tuple[FeedRef, Format] | None:
        """The feed and format of one of our subscription-document URLs (query ignored)."""
        if not url.startswith(self.public_url + "/"):
            return None
        match = TOPIC.match(url[len(self.public_url) :].split("?", 1)[0])
        if match is None:
            return None
        kind = next(k for k, v in PATHS.items() if v == match["root"])
        fmt: Format = match["fmt"]  # type: ignore[assignment]
        return FeedRef(kind, match["key"], match["lang"]), fmt  # type: ignore[arg-type]


class FeedRoutes:
    """The feeds of the registry: which carry an entry, which languages one has."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def feeds_for(self, entry: FeedEntry) -> list[FeedRef]:
        """Every feed that carries this entry."""
        publisher, language = entry.publisher, entry.language
        feeds = [FeedRef("publisher", publisher, language)]
        for net in await self.registry.networks():
            if publisher in net.members and (not net.languages or language in net.languages):
                feeds.append(FeedRef("network", net.id, language))
        for partner in await self.registry.partners():
            if language in partner.languages and self.registry.partner_wants(
                partner, publisher, list(entry.subjects)
            ):
                feeds.append(FeedRef("partner", partner.id, language))
        return feeds

    async def feed_languages(self, kind: Kind, key: str) -> list[str] | None:
        """The languages a publisher, network or partner has feeds in; None if unknown."""
        registry = self.registry
        if kind == "publisher":
            pub = await registry.publisher(key)
            if pub is None:
                return None
            targets = await registry.target_languages(key)
            return list(dict.fromkeys([*pub.feed_languages, *targets]))
        if kind == "network":
            net = await registry.network(key)
            if net is None:
                return None
            if net.languages:
                return list(net.languages)
            found: list[str] = []
            for member in net.members:
                found += (await self.feed_languages("publisher", member)) or []
            return list(dict.fromkeys(found))
        partner = await registry.partner(key)
        return None if partner is None else list(partner.languages)
