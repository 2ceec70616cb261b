"""Keep rendered feeds in step with their entries."""

from __future__ import annotations

import logging
from typing import Any

from services.feeds.render import EPOCH, MEDIA_TYPES, FeedInfo, Format, render
from services.feeds.store import FeedStore
from shared.registry import Registry

log = logging.getLogger(__name__)
FORMATS: tuple[Format, ...] = ("atom", "rss")


def feed_key(publisher: str, language: str) -> str:
    return f"publisher/{publisher}/{language}"


class FeedPublisher:
    def __init__(
        self, store: FeedStore, registry: Registry, public_url: str, entries_per_feed: int
    ) -> None:
        self.store = store
        self.registry = registry
        self.public_url = public_url.rstrip("/")
        self.entries_per_feed = entries_per_feed

    def url(self, publisher: str, language: str, fmt: str) -> str:
        return f"{self.public_url}/feeds/{publisher}/{language}.{fmt}"

    async def add(self, entry: dict[str, Any]) -> None:
        """Store the entry and re-render its feed. Always re-render, even when the entry was
        already stored: a crash may have come between storing and rendering."""
        changed = await self.store.upsert_entry(entry)
        await self.refresh(entry["publisher"], entry["language"])
        log.info("entry stored" if changed else "entry already stored; feed refreshed")

    async def refresh(self, publisher: str, language: str) -> bool:
        """Render every format of one feed; False if the publisher is unknown."""
        pub = await self.registry.publisher(publisher)
        if pub is None:
            return False
        key = feed_key(publisher, language)
        seq = await self.store.bump(key)
        entries = tuple(await self.store.latest_entries(publisher, language, self.entries_per_feed))
        updated = max((e.updated for e in entries), default=EPOCH)
        for fmt in FORMATS:
            info = FeedInfo(
                publisher=publisher,
                publisher_name=pub.name,
                language=language,
                self_url=self.url(publisher, language, fmt),
                alternate_url=pub.site,
                entries=entries,
            )
            await self.store.save_rendered(
                f"{key}.{fmt}", seq, render(info, fmt), MEDIA_TYPES[fmt], updated
            )
        return True
