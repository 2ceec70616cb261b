"""Signed deliveries to followers' inboxes, with retries persisted like the WebSub hub's.

A delivery is one activity for one inbox, ``_id`` = SHA-256 of inbox and activity id: queueing
it twice (two replicas, a replay after a crash) inserts it once, and once delivered its id
moves to ``ap_sent``, which queueing checks first; so a follower's server gets each activity
(each version of each entry) at most once, however often it is planned. A delivery is tried at
once, then on the schedule (``retry_delays``) until delivered, refused for good (a 4xx other
than 408 and 429: the server will not take it) or out of tries. An attempt holds a claim, an
*insert* of ``<id>:<failures>`` (atomic on FerretDB, which runs no update atomically), so two
replicas never send the same delivery at once; a holder that dies leaves a claim that expires,
and the delivery is tried again: a server may then get an activity twice, under the one id it
already has (Mastodon keeps one status per object id, so a second Create changes nothing).

Inboxes are strangers' URLs: every request goes through the guarded client
(:mod:`shared.netguard`), never to our own network, never following redirects. Requests per
inbox host are limited (``per_host`` at once), so one slow server queues behind itself.

Document shapes::

    ap_deliveries  {_id, feed, key_id, inbox, activity, body, failures, due, last_error?}
    ap_sent        {_id, at, result}     result: delivered | refused | given-up
    ap_claims      {_id: "<id>:<failures>", expires}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter as PromCounter
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.feeds.activitypub import signatures
from services.feeds.activitypub.actors import MEDIA_TYPE
from services.feeds.activitypub.followers import host_of
from services.feeds.activitypub.keys import ActorKeys
from services.feeds.background import Background
from services.feeds.websub import HostSlots
from shared import netguard
from shared.contracts import utcnow
from shared.storage import Collection, Database, Document, find_by_ids, insert_new

log = logging.getLogger(__name__)

DELIVERIES = Collection("ap_deliveries", (IndexModel([("due", ASCENDING)]),))
SENT = Collection("ap_sent")
CLAIMS = Collection("ap_claims")
COLLECTIONS = (DELIVERIES, SENT, CLAIMS)
RETRYABLE = frozenset({408, 425, 429})


def delivery_id(inbox: str, activity_id: str) -> str:
    return hashlib.sha256(f"{inbox}\n{activity_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    result: str  # delivered | refused | failed
    detail: str


class Deliveries:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        keys: ActorKeys,
        *,
        retry_delays: Sequence[float] = (10, 60, 300, 1800, 7200, 21600),
        timeout: float = 15.0,
        claim_seconds: float = 120.0,
        per_host: int = 2,
        concurrency: int = 32,
        batch: int = 200,
        clock: Callable[[], datetime] = utcnow,
        counter: PromCounter | None = None,
        on_gone: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        if claim_seconds < 2 * timeout:
            raise ValueError("claim_seconds must be at least twice the delivery timeout")
        self.queue = db[DELIVERIES.name]
        self.sent = db[SENT.name]
        self.claims = db[CLAIMS.name]
        self.client = client
        self.keys = keys
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.timeout, self.claim_seconds, self.batch = timeout, claim_seconds, batch
        self.clock = clock
        self.counter = counter  # syndication_activitypub_deliveries_total{result}
        self.on_gone = on_gone  # called with an inbox that answered 410 Gone
        self._slots = HostSlots(per_host, concurrency)
        self._background = Background("activity delivery")

    async def enqueue(
        self,
        feed: str,
        key_id: str,
        activity: dict[str, Any],
        inboxes: Sequence[str],
        *,
        again: bool = False,
    ) -> list[str]:
        """Queue ``activity`` for each inbox that has not had it (``again``: also those that
        have) and try them at once; the ids queued by this call."""
        activity_id = str(activity["id"])
        ids = {delivery_id(inbox, activity_id): inbox for inbox in dict.fromkeys(inboxes)}
        if again:
            await self.sent.delete_many({"_id": {"$in": list(ids)}})
        done = await find_by_ids(self.sent, list(ids), {"_id": 1})
        body = json.dumps(activity, ensure_ascii=False, separators=(",", ":"))
        now = self.clock()
        docs = [
            {
                "_id": _id,
                "feed": feed,
                "key_id": key_id,
                "inbox": inbox,
                "activity": activity_id,
                "body": body,
                "failures": 0,
                "due": now,
            }
            for _id, inbox in ids.items()
            if _id not in done
        ]
        taken = await insert_new(self.queue, docs)  # queued meanwhile by another replica
        queued = [str(d["_id"]) for d in docs if d["_id"] not in taken]
        for _id in queued:
            self._background.spawn(self._attempt_quietly(_id))
        return queued

    async def attempt(self, _id: str) -> Outcome | None:
        """Send one queued delivery under a claim; its outcome, or None when it is someone
        else's or no longer queued."""
        doc = await self.queue.find_one({"_id": _id})
        if doc is None:
            return None
        claim = f"{_id}:{doc['failures']}"
        if not await self._claim(claim):
            return None
        try:
            current = await self.queue.find_one({"_id": _id})
            if current is None or current["failures"] != doc["failures"]:
                return None  # delivered or rescheduled meanwhile
            outcome = await self._send(current)
            await self._settle(current, outcome)
            return outcome
        finally:
            await self.claims.delete_one({"_id": claim})

    async def _claim(self, claim: str) -> bool:
        now = self.clock()
        expires = now + timedelta(seconds=self.claim_seconds)
        for _ in range(2):
            try:
                await self.claims.insert_one({"_id": claim, "expires": expires})
                return True
            except DuplicateKeyError:
                held = await self.claims.find_one({"_id": claim})
                if held is not None and held["expires"] > now:
                    return False
                # its holder died: take it over (one of two racing takers wins the insert)
                await self.claims.delete_one({"_id": claim, "expires": {"$lte": now}})
        return False

    async def _send(self, doc: Document) -> Outcome:
        inbox, body = str(doc["inbox"]), str(doc["body"]).encode()
        private, _ = await self.keys.pair(str(doc["feed"]))
        headers = signatures.sign(
            "POST", inbox, body, key_id=str(doc["key_id"]), private_key_pem=private,
            now=self.clock(),
        )  # fmt: skip
        headers["Content-Type"] = MEDIA_TYPE
        try:
            async with (
                self._slots.slot(host_of(inbox)),
                asyncio.timeout(self.timeout),
                self.client.stream("POST", inbox, content=body, headers=headers) as answer,
            ):
                status = answer.status_code  # its body is never read
        except (httpx.HTTPError, TimeoutError) as exc:
            if netguard.blocked(exc):
                return Outcome("refused", "not ours to reach")
            return Outcome("failed", type(exc).__name__)
        if 200 <= status < 300:
            return Outcome("delivered", str(status))
        if 400 <= status < 500 and status not in RETRYABLE:
            return Outcome("refused", str(status))
        return Outcome("failed", str(status))

    async def _settle(self, doc: Document, outcome: Outcome) -> None:
        failures = int(doc["failures"]) + 1
        retried = outcome.result == "failed" and failures <= len(self.retry_delays)
        if self.counter is not None:
            given_up = outcome.result == "failed" and not retried
            self.counter.labels("given-up" if given_up else outcome.result).inc()
        if retried:
            due = self.clock() + timedelta(seconds=self.retry_delays[failures - 1])
            await self.queue.update_one(
                {"_id": doc["_id"]},
                {"$set": {"failures": failures, "due": due, "last_error": outcome.detail}},
            )
            log.info(
                "activity delivery failed; retry scheduled",
                extra={"inbox": doc["inbox"], "activity": doc["activity"], "error": outcome.detail},
            )
            return
        if outcome.detail == "410" and self.on_gone is not None:
            await self.on_gone(str(doc["inbox"]))
        result = outcome.result if outcome.result != "failed" else "given-up"
        try:
            await self.sent.insert_one({"_id": doc["_id"], "at": self.clock(), "result": result})
        except DuplicateKeyError:
            pass
        await self.queue.delete_one({"_id": doc["_id"]})
        if result != "delivered":
            log.warning(
                "activity not delivered",
                extra={"inbox": doc["inbox"], "activity": doc["activity"], "result": result,
                       "error": outcome.detail},
            )  # fmt: skip

    async def run_due(self) -> int:
        """Attempt every due delivery (up to ``batch``); how many were sent."""
        now = self.clock()
        cursor = self.queue.find({"due": {"$lte": now}}, {"_id": 1}).sort("due", ASCENDING)
        due = [str(d["_id"]) async for d in cursor.limit(self.batch)]
        results = await asyncio.gather(*(self.attempt(i) for i in due), return_exceptions=True)
        for _id, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                log.error("delivery attempt failed", extra={"delivery": _id}, exc_info=result)
        return sum(1 for r in results if isinstance(r, Outcome))

    async def _attempt_quietly(self, _id: str) -> None:
        await self.attempt(_id)

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests; graceful shutdown)."""
        await self._background.drain()

    async def aclose(self) -> None:
        await self._background.aclose()
