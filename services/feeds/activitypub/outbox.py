"""What each actor publishes: its feed's log turned into activities for its followers, and its
outbox collection.

Planning reads the feed's log past the actor's cursor (``ap_cursors``, set to the head when the
actor gets its first follower: followers get what comes after, no backlog) and queues, per
log item, one activity for every follower's server:

* the entry's first version in this feed is a ``Create``; later ones (a correction, a human
  translation after the machine one) an ``Update``; a withdrawal a ``Delete`` of a
  ``Tombstone``. Which one is decided once per (actor, entry) in ``ap_objects``, whose
  ``first`` is the stamp the ``Create`` went out with: planning the same log item again (two
  replicas, a restart before the cursor moved) decides the same, and the delivery queue's
  ids make it the same delivery;
* a log item superseded by a later version already stored is skipped: that version's own log
  item follows, so a follower gets the latest text, not every intermediate one.

Planning runs when the feed is announced (with WebSub's notification) and every few seconds
for the feeds that have followers (a crash between appending and announcing).

One race is left: two replicas planning two versions of one entry at the same moment (a
correction stored within milliseconds of the first version's planning) can decide the newer
one's ``Create`` first and then send the older one as an ``Update``; the next correction puts
it right. Each replica plans a feed one run at a time.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.feeds.activitypub import actors
from services.feeds.activitypub.actors import ActivityType, Actor
from services.feeds.activitypub.delivery import Deliveries
from services.feeds.activitypub.followers import Followers, inboxes
from services.feeds.entries import FeedEntry
from services.feeds.publishing import Feeds
from services.feeds.routing import FeedRef
from shared.storage import Collection, Database

log = logging.getLogger(__name__)

OBJECTS = Collection("ap_objects")
CURSORS = Collection("ap_cursors")
COLLECTIONS = (OBJECTS, CURSORS)
PUBLIC_KINDS = ("publisher", "network")


class Outbox:
    def __init__(
        self, feeds: Feeds, db: Database, followers: Followers, deliveries: Deliveries
    ) -> None:
        self.feeds = feeds
        self.followers = followers
        self.deliveries = deliveries
        self.objects = db[OBJECTS.name]
        self.cursors = db[CURSORS.name]
        self._planning: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def actor(self, feed: FeedRef) -> Actor:
        return Actor(feed, self.feeds.public_url)

    async def followed(self, feed: FeedRef) -> None:
        """A follower arrived: from now on the feed's new items are planned."""
        head = await self.feeds.store.head(feed.id)
        try:
            await self.cursors.insert_one({"_id": feed.id, "seq": head})
        except DuplicateKeyError:
            pass  # followed before: the cursor stands

    async def plan(self, feed: FeedRef) -> int:
        """Queue the activities of the feed's items past the cursor; how many."""
        if feed.kind not in PUBLIC_KINDS:
            return 0
        lock = self._planning.get(feed.id)
        if lock is None:
            lock = self._planning[feed.id] = asyncio.Lock()
        async with lock:
            cursor = await self.cursors.find_one({"_id": feed.id})
            if cursor is None:
                return 0  # never followed
            head = await self.feeds.store.head(feed.id)
            if head <= int(cursor["seq"]):
                return 0  # nothing new: the followers are not even read
            queued = 0
            targets = inboxes(await self.followers.of(feed.id))
            for seq in range(int(cursor["seq"]) + 1, head + 1):
                queued += await self._plan_item(feed, seq, targets) if targets else 0
            await self.cursors.update_one({"_id": feed.id}, {"$max": {"seq": head}})
            return queued

    async def plan_followed(self) -> int:
        """:meth:`plan` every feed that has a cursor (the periodic catch-up)."""
        queued = 0
        async for doc in self.cursors.find({}, {"_id": 1}):
            kind, key, language = str(doc["_id"]).split("/", 2)
            if kind in PUBLIC_KINDS:
                queued += await self.plan(FeedRef(kind, key, language))  # type: ignore[arg-type]
        return queued

    async def _plan_item(self, feed: FeedRef, seq: int, targets: list[str]) -> int:
        entry = await self.feeds.store.log_item(feed.id, seq)
        if entry is None:
            return 0
        kind = await self.kind(feed, entry)
        if kind is None:
            return 0
        actor = self.actor(feed)
        permalink = self.feeds.permalink(entry.article_id, entry.language)
        activity = actors.activity(actor, kind, entry, permalink)
        await self.deliveries.enqueue(feed.id, actor.key_id, activity, targets)
        return 1

    async def kind(self, feed: FeedRef, entry: FeedEntry) -> ActivityType | None:
        """Create, Update or Delete for this log item, or None when it is superseded (or a
        withdrawal of an entry never sent)."""
        stored = await self.feeds.store.stored(entry.article_id, entry.language)
        if stored is None or stored.entry.stamp != entry.stamp:
            return None
        _id = f"{feed.id}|{entry.article_id}"
        if entry.withdrawn:
            created = await self.objects.find_one({"_id": _id}, {"_id": 1})
            return "Delete" if created is not None else None
        try:
            await self.objects.insert_one({"_id": _id, "first": entry.stamp})
            return "Create"
        except DuplicateKeyError:
            doc = await self.objects.find_one({"_id": _id})
            return "Create" if doc is not None and doc["first"] == entry.stamp else "Update"

    # ------------------------------------------------------------------ reading

    async def page(self, feed: FeedRef, page: int) -> tuple[list[dict[str, Any]], int | None]:
        """One outbox page (a page of the feed's log, newest first), and the next page's
        number: each current entry's ``Create``, withdrawn ones left out."""
        store = self.feeds.store
        head = await store.head(feed.id)
        items = await store.page_items(feed.id, [page], head)
        current = await store.statuses(e.key for e in items)
        actor = self.actor(feed)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for entry in items:
            if entry.key in seen or entry.withdrawn or current.get(entry.key) is None:
                continue
            seen.add(entry.key)
            if current[entry.key].value == "withdrawn":
                continue
            link = self.feeds.permalink(entry.article_id, entry.language)
            activity = actors.activity(actor, "Create", entry, link)
            del activity["@context"]
            out.append(activity)
        return out, (page - 1 if page > 0 else None)

    async def last_page(self, feed: FeedRef) -> int | None:
        head = await self.feeds.store.head(feed.id)
        return None if head == 0 else self.feeds.store.page_of(head)

    async def total(self, feed: FeedRef) -> int:
        return await self.feeds.store.head(feed.id)
