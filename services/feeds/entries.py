"""The feed entry: one article in one language at one version, as the feeds keep it.

Built by the consumer from an ``articles.ingested`` or ``articles.translated`` event, stored
(services/feeds/store.py converts it to and from its MongoDB document; only the entry pages
still read that document, through ``FeedStore.entry``), appended to the feed logs, and turned
into the renderer's ``render.Entry`` by services/feeds/documents.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts import ArticleStatus


def entry_key(article_id: str, language: str) -> str:
    """An entry's id in the store: one per article and language, across its versions."""
    return f"{article_id}:{language}"


@dataclass(frozen=True)
class EntryImage:
    url: str
    caption: str | None = None
    credit: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FeedEntry:
    article_id: str
    language: str
    version: int
    status: ArticleStatus
    publisher: str
    headline: str
    body_html: str  # sanitised at ingest
    published: datetime
    updated: datetime  # moves on a correction, a translation or a review
    source_language: str | None = None  # None only in entries stored before it was kept
    # Orders events within a version: a human translation after the machine one.
    revision: int = 0
    url: str | None = None  # the publisher's original page
    subjects: tuple[str, ...] = ()
    byline: str | None = None
    images: tuple[EntryImage, ...] = ()
    # The translation's Provenance in its JSON form, printed as it is by every format; None for
    # source-language entries.
    provenance: Mapping[str, Any] | None = None
    # The publisher's name from the registry when the entry was published (feeds that
    # aggregate several publishers name each entry's own).
    publisher_name: str = ""

    @property
    def key(self) -> str:
        return entry_key(self.article_id, self.language)

    @property
    def stamp(self) -> str:
        """Version and revision as one comparable marker of what was appended to a feed."""
        return f"{self.version}.{self.revision}"

    @property
    def withdrawn(self) -> bool:
        return self.status is ArticleStatus.WITHDRAWN
