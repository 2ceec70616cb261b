"""Feed entries and rendered feeds in MongoDB.

Feeds are rendered when their content changes and served as stored bytes. Several consumers may
render the same feed at once; each render is stamped with the feed's change counter, read
*before* the entries, and a render only replaces one with a lower stamp. So the stored feed is
always the one that saw every entry, whatever order the renders finish in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.feeds.render import Entry
from shared.contracts import utcnow
from shared.storage import Collection, Database

ENTRIES = Collection(
    "feed_entries",
    (IndexModel([("publisher", ASCENDING), ("language", ASCENDING), ("published", DESCENDING)]),),
)
FEED_STATE = Collection("feed_state")
RENDERED = Collection("rendered_feeds")
COLLECTIONS = (ENTRIES, FEED_STATE, RENDERED)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    etag: str
    last_modified: datetime


class FeedStore:
    def __init__(self, db: Database) -> None:
        self.entries = db[ENTRIES.name]
        self.state = db[FEED_STATE.name]
        self.rendered = db[RENDERED.name]

    async def upsert_entry(self, doc: dict[str, Any]) -> bool:
        """Store an entry unless the same or a later (version, revision) is stored; True if
        changed. A revision orders events within a version (a human translation after the
        machine one)."""
        key = f"{doc['article_id']}:{doc['language']}"
        revision = doc.setdefault("revision", 0)
        try:
            result = await self.entries.update_one(
                {
                    "_id": key,
                    "$or": [
                        {"version": {"$lt": doc["version"]}},
                        {"version": doc["version"], "revision": {"$lt": revision}},
                    ],
                },
                {"$set": {**doc, "stored_at": utcnow()}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return bool(result.upserted_id is not None or result.modified_count)

    async def bump(self, feed: str) -> int:
        state = await self.state.find_one_and_update(
            {"_id": feed}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert state is not None  # upsert=True with ReturnDocument.AFTER always returns it
        return int(state["seq"])

    async def latest_entries(self, publisher: str, language: str, limit: int) -> list[Entry]:
        cursor = (
            self.entries.find({"publisher": publisher, "language": language, "status": "active"})
            .sort([("published", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [
            Entry(
                article_id=d["article_id"],
                language=d["language"],
                version=d["version"],
                headline=d["headline"],
                body_html=d["body_html"],
                published=d["published"],
                updated=d["updated"],
                url=d.get("url"),
                byline=d.get("byline"),
                subjects=tuple(d.get("subjects") or ()),
            )
            async for d in cursor
        ]

    async def save_rendered(
        self, key: str, seq: int, body: bytes, media_type: str, updated: datetime
    ) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        try:
            await self.rendered.update_one(
                {"_id": key, "seq": {"$lt": seq}},
                {
                    "$set": {
                        "seq": seq,
                        "body": Binary(body),
                        "media_type": media_type,
                        "etag": etag,
                        "last_modified": updated,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a render that saw more is already stored

    async def get_rendered(self, key: str) -> Rendered | None:
        doc = await self.rendered.find_one({"_id": key})
        if doc is None:
            return None
        return Rendered(bytes(doc["body"]), doc["media_type"], doc["etag"], doc["last_modified"])
