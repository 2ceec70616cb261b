"""The editor desk's sign-in sessions, kept on the server (issue 18, finding 11a).

Signing in with an editor key opens a session: a random id (256 bits) that only the browser
holds, in the desk's cookie; the database keeps its SHA-256 as ``_id`` (one indexed point read
per request, and a copy of the database opens no session), with the key's own digest, so the key
is looked up again on every request and a revoked key ends its sessions within the registry's
cache time. A session ends when the editor signs out (the document is deleted: a copy of the
cookie no longer works), after ``idle`` without a request, or ``absolute`` after signing in,
whatever happens meanwhile. The cookie never holds the key, so a stolen cookie is worth one
session at most, never the key itself.

No TTL index (FerretDB 1.24 has none): an ended session is deleted when it is next presented,
and every sign-in sweeps the ones that expired unseen (a small collection: one document per
signed-in editor).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts import utcnow
from shared.registry import EditorKey, key_digest
from shared.storage import Collection, Document

SESSIONS = Collection(
    "desk_sessions", (IndexModel([("expires_at", ASCENDING)], name="expires_at"),)
)
#: A request refreshes the idle deadline at most this often (one write per minute, not per page;
#: so a session may end up to this much before its idle lifetime is over, never after).
TOUCH_EVERY = timedelta(minutes=1)

#: Finds the live key (not revoked) by its digest; None when there is none.
KeyLookup = Callable[[str], Awaitable[EditorKey | None]]


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lasts without a request, and at most."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class Session:
    """A live session: whose key it is, and the id the browser holds (never stored)."""

    key: EditorKey
    id: str


def expires(created: datetime, seen: datetime, lifetimes: Lifetimes) -> datetime:
    """When a session created at ``created`` and last seen at ``seen`` ends."""
    return min(seen + lifetimes.idle, created + lifetimes.absolute)


class DeskSessions:
    """Open, resume and end sessions in ``coll`` (the ``desk_sessions`` collection)."""

    def __init__(
        self,
        coll: AsyncCollection[Document],
        lifetimes: Lifetimes,
        live_key: KeyLookup,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.coll = coll
        self.lifetimes = lifetimes
        self.live_key = live_key
        self.clock = clock

    async def open(self, token: str, key: EditorKey) -> Session:
        """A new session for the editor who signed in with ``token`` (the key itself is not
        kept, only its digest, which is how the registry knows it)."""
        now = self.clock()
        await self.coll.delete_many({"expires_at": {"$lt": now}})
        session_id = secrets.token_urlsafe(32)
        await self.coll.insert_one(
            {
                "_id": key_digest(session_id),
                "key": key_digest(token),
                "key_id": key.id,
                "publisher": key.publisher,
                "created_at": now,
                "seen_at": now,
                "expires_at": expires(now, now, self.lifetimes),
            }
        )
        return Session(key, session_id)

    async def resume(self, session_id: str | None) -> Session | None:
        """The live session with this id, or None: unknown, signed out, idle or too old (then
        deleted), or its key revoked since."""
        if not session_id or len(session_id) > 100:
            return None
        digest = key_digest(session_id)
        doc = await self.coll.find_one({"_id": digest})
        if doc is None:
            return None
        now = self.clock()
        created, seen = _aware(doc["created_at"]), _aware(doc["seen_at"])
        key = None
        if now < expires(created, seen, self.lifetimes):
            key = await self.live_key(doc["key"])
        if key is None:
            await self.coll.delete_one({"_id": digest})
            return None
        if now - seen >= TOUCH_EVERY:
            await self.coll.update_one(
                {"_id": digest},
                {"$set": {"seen_at": now, "expires_at": expires(created, now, self.lifetimes)}},
            )
        return Session(key, session_id)

    async def end(self, session_id: str | None) -> None:
        """Sign out: the session is gone for every copy of its cookie."""
        if session_id:
            await self.coll.delete_one({"_id": key_digest(session_id)})


def _aware(value: datetime) -> datetime:
    """Stored datetimes come back aware from our client; a naive one is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
