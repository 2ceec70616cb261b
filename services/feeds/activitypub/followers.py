"""Who follows each actor, in ``ap_followers``: one document per (actor, follower), so concurrent
follows of one actor touch different documents (FerretDB runs no update atomically).

Deliveries go to each follower's server once: to its shared inbox when it offers one, else to
its own inbox (:func:`inboxes`). A follow flood is bounded per remote host: past
``per_host`` followers from one host across our actors, a Follow is refused with 429, so a
stranger cannot fill the database with made-up accounts of one server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from shared.contracts import utcnow
from shared.storage import Collection, Database

FOLLOWERS = Collection("ap_followers")


@dataclass(frozen=True)
class Follower:
    feed: str  # our actor's feed id
    actor: str  # the remote account
    inbox: str
    shared_inbox: str | None
    follow_id: str
    since: datetime

    @property
    def destination(self) -> str:
        return self.shared_inbox or self.inbox


def follower_id(feed: str, actor: str) -> str:
    return hashlib.sha256(f"{feed}|{actor}".encode()).hexdigest()


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


class TooManyFollowers(Exception):
    pass


class Followers:
    def __init__(self, db: Database, per_host: int = 1000) -> None:
        self.coll = db[FOLLOWERS.name]
        self.per_host = per_host

    async def add(self, follower: Follower) -> bool:
        """Store a follow (again: a repeated Follow updates the inboxes); whether it is new.
        Refused (TooManyFollowers) when the follower's host already has ``per_host``."""
        _id = follower_id(follower.feed, follower.actor)
        doc = {
            "feed": follower.feed,
            "actor": follower.actor,
            "host": host_of(follower.actor),
            "inbox": follower.inbox,
            "shared_inbox": follower.shared_inbox,
            "follow_id": follower.follow_id,
        }
        if await self.coll.find_one({"_id": _id}, {"_id": 1}) is not None:
            await self.coll.update_one({"_id": _id}, {"$set": doc})
            return False
        if await self.coll.count_documents({"host": doc["host"]}) >= self.per_host:
            raise TooManyFollowers(doc["host"])
        result = await self.coll.update_one(
            {"_id": _id}, {"$set": doc, "$setOnInsert": {"since": follower.since}}, upsert=True
        )
        return result.upserted_id is not None

    async def remove(self, feed: str, actor: str) -> bool:
        result = await self.coll.delete_one({"_id": follower_id(feed, actor)})
        return result.deleted_count > 0

    async def remove_follow(self, actor: str, follow_id: str) -> bool:
        """The follow an ``Undo`` names by its id only (some servers send no object)."""
        doc = await self.coll.find_one({"actor": actor, "follow_id": follow_id}, {"_id": 1})
        if doc is None:
            return False
        result = await self.coll.delete_one({"_id": doc["_id"]})
        return result.deleted_count > 0

    async def remove_inbox(self, inbox: str) -> int:
        """Every follow whose own inbox answered 410 Gone: the account is no more."""
        result = await self.coll.delete_many({"inbox": inbox})
        return int(result.deleted_count)

    async def remove_account(self, actor: str) -> int:
        """Every follow of a remote account (it was deleted on its server)."""
        result = await self.coll.delete_many({"actor": actor})
        return int(result.deleted_count)

    async def of(self, feed: str) -> list[Follower]:
        return [
            Follower(
                d["feed"],
                d["actor"],
                d["inbox"],
                d.get("shared_inbox"),
                d.get("follow_id", ""),
                d.get("since") or utcnow(),
            )
            async for d in self.coll.find({"feed": feed})
        ]

    async def count(self, feed: str) -> int:
        return int(await self.coll.count_documents({"feed": feed}))


def inboxes(followers: list[Follower]) -> list[str]:
    """Where to deliver an actor's activity: each server once."""
    return list(dict.fromkeys(f.destination for f in followers))
