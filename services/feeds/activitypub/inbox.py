"""The actors' inboxes: follows and unfollows, every request signed, everything else ignored.

Every ``POST`` must carry an HTTP Signature (draft-cavage, as Mastodon sends, or RFC 9421) by
the key of the activity's ``actor``, over the method, target, host, date and body digest; the
date within ``window`` of our clock; and the signature never seen before (``ap_seen`` keeps
each accepted signature for twice the window: a replayed request is refused, also on another
replica). Refusals are 401 with the reason, so a remote admin can tell a clock from a key.

The order of checks keeps a stranger's cost to us low: the body's size (the service's body
limit, before any of this), its form, the signature's form and the limit per key host, all
before the one network request the signature makes us do (its key, cached for an hour).

What an inbox acts on:

* ``Follow`` of one of our actors: the follower is stored (its inbox and shared inbox read from
  its actor document) and an ``Accept`` is queued for delivery. At most ``per_host`` followers
  from one server (429 past that: a follow flood);
* ``Undo`` of a ``Follow``: the follow is removed; ``Delete`` of the account itself: all its
  follows are removed;
* anything else is answered 202 and dropped (replies, likes and boosts have nowhere to go).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.feeds.activitypub import actors, signatures
from services.feeds.activitypub.actors import Actor
from services.feeds.activitypub.delivery import Deliveries
from services.feeds.activitypub.followers import Follower, Followers, TooManyFollowers, host_of
from services.feeds.activitypub.keys import Busy, FetchError, Remote, RemoteKey
from services.feeds.activitypub.outbox import Outbox
from services.feeds.routing import FeedRef
from shared.contracts import utcnow
from shared.ratelimit import Window, exceeded, parse_limits
from shared.storage import Collection, Database

log = logging.getLogger(__name__)

T = TypeVar("T")
SEEN = Collection("ap_seen", (IndexModel([("expires", ASCENDING)]),))


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    code: str | None = None  # a refusal's (docs/architecture.md, "Refusal codes")
    retry_after: int | None = None  # seconds, for a 429


#: The codes of the inbox's refusals, by status.
CODES = {
    400: "activity_invalid",
    401: "signature_refused",
    404: "not_found",
    429: "rate_limited",
    503: "unavailable",
}


class Refused(Exception):
    def __init__(self, status: int, reason: str, *, code: str, retry_after: int | None = None):
        super().__init__(reason)
        self.answer = Answer(status, reason, code, retry_after)


ActorOf = Callable[[str], Awaitable[FeedRef | None]]  # which of our actors a URL names


class Inbox:
    def __init__(
        self,
        db: Database,
        remote: Remote,
        followers: Followers,
        outbox: Outbox,
        deliveries: Deliveries,
        actor_of: ActorOf,
        *,
        window: timedelta = timedelta(minutes=5),
        per_key_host: str = "300/minute",
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seen = db[SEEN.name]
        self.remote = remote
        self.followers = followers
        self.outbox = outbox
        self.deliveries = deliveries
        self.actor_of = actor_of
        self.window = window
        self.windows = [Window(limit) for limit in parse_limits(per_key_host)]
        self.clock = clock
        self.monotonic = monotonic

    async def receive(self, request: signatures.SignedRequest, to: FeedRef | None) -> Answer:
        """Check and act on one inbox ``POST`` (``to``: the personal inbox's actor, None for
        the shared inbox)."""
        try:
            activity = _activity(request.body)
            owner = await self._verified_or_gone(request, activity)
            if owner is None:
                count = await self.followers.remove_account(activity["actor"])
                return Answer(202, f"the account is gone; {count} follows removed")
            if owner != activity["actor"]:
                why = f"signed by the key of {owner[:200]}, not of the activity's actor"
                raise Refused(401, why, code=CODES[401])
            return await self._act(activity, to)
        except Refused as exc:
            return exc.answer

    async def _verified_or_gone(
        self, request: signatures.SignedRequest, activity: Mapping[str, Any]
    ) -> str | None:
        """The signer, or None for the ``Delete`` of an account its server says is gone: its
        key went with it, so nothing can verify it, and removing its follows is right anyway
        (Mastodon sends these, signed by the key it just deleted)."""
        try:
            return await self._verified(request)
        except Refused as refused:
            if refused.answer.status != 401:  # a limit: no fetch for it
                raise
            deletes_itself = activity["type"] == "Delete" and (
                _id_of(activity.get("object")) == activity["actor"]
            )
            if deletes_itself and await self.remote.gone(activity["actor"]):
                return None
            raise

    async def _verified(self, request: signatures.SignedRequest) -> str:
        """The owner of the key that signed the request, or Refused."""
        try:
            key_id = signatures.key_id(request)
        except signatures.SignatureError as exc:
            raise Refused(401, exc.reason, code=CODES[401]) from None
        self._limit(host_of(key_id))
        key = await self._key(key_id)
        try:
            signatures.verify(request, key.pem, now=self.clock(), window=self.window)
        except signatures.SignatureError as first:
            key = await self._key(key_id, fresh=True)  # rotated since we cached it?
            try:
                signatures.verify(request, key.pem, now=self.clock(), window=self.window)
            except signatures.SignatureError:
                raise Refused(401, first.reason, code=CODES[401]) from None
        await self._not_replayed(signatures.replay_token(request))
        return key.owner

    async def _key(self, key_id: str, fresh: bool = False) -> RemoteKey:
        found = self.remote.key(key_id, fresh=fresh)
        return await _fetched(found, 401, "the signing key could not be fetched")

    def _limit(self, host: str) -> None:
        found = exceeded(self.windows, host, self.monotonic())
        if found is not None:
            seconds = int(found[1]) + 1
            why = f"too many requests signed by keys of {host[:100]}; retry in {seconds} s"
            raise Refused(429, why, code=CODES[429], retry_after=seconds)

    async def _not_replayed(self, token: str) -> None:
        expires = self.clock() + 2 * self.window
        try:
            await self.seen.insert_one({"_id": token, "expires": expires})
        except DuplicateKeyError:
            raise Refused(
                401, "this signed request was received before (a replay)", code=CODES[401]
            ) from None

    async def forget_seen(self) -> None:
        """Drop the signatures older than the window: they are refused by date now."""
        await self.seen.delete_many({"expires": {"$lt": self.clock()}})

    async def _act(self, activity: Mapping[str, Any], to: FeedRef | None) -> Answer:
        kind = activity.get("type")
        obj = activity.get("object")
        if kind == "Follow":
            return await self._follow(activity, await self._ours(obj, to))
        if kind == "Undo" and isinstance(obj, dict) and obj.get("type") == "Follow":
            if obj.get("actor") not in (None, activity["actor"]):
                raise Refused(400, "an Undo may only undo its own actor's Follow", code=CODES[400])
            feed = await self._ours(obj.get("object"), to)
            removed = await self.followers.remove(feed.id, activity["actor"])
            return Answer(202, "unfollowed" if removed else "was not following")
        if kind == "Undo" and isinstance(obj, str):  # the Follow by its id alone
            removed = await self.followers.remove_follow(activity["actor"], obj)
            return Answer(202, "unfollowed" if removed else "nothing of ours to undo")
        if kind == "Delete" and _id_of(obj) == activity["actor"]:
            count = await self.followers.remove_account(activity["actor"])
            return Answer(202, f"account deleted; {count} follows removed")
        return Answer(202, f"{str(kind)[:40]} is not acted on here; ignored")

    async def _ours(self, obj: Any, to: FeedRef | None) -> FeedRef:
        target = _id_of(obj)
        feed = await self.actor_of(target) if target else None
        if feed is None or (to is not None and feed != to):
            raise Refused(
                404, f"{str(target)[:200]} is not an actor of this inbox", code=CODES[404]
            )
        return feed

    async def _follow(self, activity: Mapping[str, Any], feed: FeedRef) -> Answer:
        found = self.remote.actor(activity["actor"])
        remote = await _fetched(found, 400, "the follower's actor document could not be read")
        follow_id = _id_of(activity) or ""
        follower = Follower(
            feed.id, remote.id, remote.inbox, remote.shared_inbox, follow_id, self.clock()
        )
        try:
            await self.followers.add(follower)
        except TooManyFollowers as exc:
            raise Refused(
                429, f"{exc} has too many followers here already", code=CODES[429]
            ) from None
        await self.outbox.followed(feed)
        actor = Actor(feed, self.outbox.feeds.public_url)
        accept = actors.accept(actor, dict(activity))
        # again=True: a Follow sent again (its server never saw our Accept) gets it again
        await self.deliveries.enqueue(feed.id, actor.key_id, accept, [remote.inbox], again=True)
        log.info("followed", extra={"feed": feed.id, "follower": remote.id})
        return Answer(202, "accepted")


async def _fetched(work: Awaitable[T], status: int, what: str) -> T:
    """What a remote fetch found, or the refusal that says why it found nothing."""
    try:
        return await work
    except Busy as exc:
        raise Refused(503, str(exc), code=CODES[503], retry_after=5) from None
    except FetchError as exc:
        raise Refused(status, f"{what}: {exc}", code=CODES[status]) from None


def _activity(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON", code=CODES[400]) from None
    if not isinstance(doc, dict):
        raise Refused(400, "the body is not an activity (a JSON object)", code=CODES[400])
    actor = _id_of(doc.get("actor"))
    if not isinstance(doc.get("type"), str) or not actor:
        raise Refused(400, "an activity needs a type and an actor", code=CODES[400])
    return {**doc, "actor": actor}


def _id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None
