"""The fediverse side of the feeds service, put together from its settings: keys, followers,
the delivery queue, the outbox planner and the inbox, plus the loop that retries deliveries."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx
from prometheus_client import Counter as PromCounter

from services.feeds.activitypub import actors, delivery, followers, inbox, keys, outbox
from services.feeds.activitypub.actors import Actor, Profile
from services.feeds.publishing import Feeds
from services.feeds.routing import PATHS, FeedRef
from services.feeds.settings import FeedsSettings
from shared import netguard
from shared.contracts import utcnow
from shared.storage import Database

log = logging.getLogger(__name__)

COLLECTIONS = (
    keys.KEYS,
    followers.FOLLOWERS,
    inbox.SEEN,
    *delivery.COLLECTIONS,
    *outbox.COLLECTIONS,
)


@dataclass(frozen=True)
class Directory:
    """Which feeds are actors, and what their actor documents say of them."""

    feeds: Feeds

    def actor(self, feed: FeedRef) -> Actor:
        return Actor(feed, self.feeds.public_url)

    async def exists(self, feed: FeedRef) -> bool:
        """Whether the feed is public and published in its language."""
        if feed.kind not in outbox.PUBLIC_KINDS:
            return False
        return feed.language in (await self.feeds.feed_languages(feed.kind, feed.key) or [])

    async def named(self, feed: FeedRef) -> FeedRef | None:
        """The feed a handle names, its language as the feed spells it (handles are
        case-insensitive: ``mashhad.ZH-hans`` is ``zh-Hans``), if it is an actor."""
        if feed.kind not in outbox.PUBLIC_KINDS:
            return None
        wanted = feed.language.lower()
        for language in await self.feeds.feed_languages(feed.kind, feed.key) or []:
            if language.lower() == wanted:
                return FeedRef(feed.kind, feed.key, language)
        return None

    async def actor_of(self, url: str) -> FeedRef | None:
        """Which of our actors a URL names, if any."""
        prefix = f"{self.feeds.public_url}/ap/"
        if not url.startswith(prefix):
            return None
        parts = url[len(prefix) :].split("/")
        if len(parts) != 3 or parts[0] not in actors.KINDS:
            return None
        kind = actors.KINDS[parts[0]]
        feed = FeedRef(kind, parts[1], parts[2])  # type: ignore[arg-type]
        return feed if await self.exists(feed) else None

    async def profile(self, feed: FeedRef) -> Profile:
        registry = self.feeds.registry
        name, site, icon = feed.key, None, None
        if feed.kind == "publisher" and (pub := await registry.publisher(feed.key)):
            name, site, icon = pub.name, pub.site, pub.icon
        elif feed.kind == "network" and (net := await registry.network(feed.key)):
            name = net.name
        icon = icon or f"{self.feeds.public_url}/assets/account.png"
        return Profile(name, site, self.feeds.url(feed, "atom"), self.profile_page(feed), icon)

    def profile_page(self, feed: FeedRef) -> str:
        return f"{self.feeds.public_url}/preview/{PATHS[feed.kind]}/{feed.key}/{feed.language}"


@dataclass
class Fediverse:
    directory: Directory
    keys: keys.ActorKeys
    followers: followers.Followers
    deliveries: delivery.Deliveries
    outbox: outbox.Outbox
    inbox: inbox.Inbox
    client: httpx.AsyncClient

    async def run(self, interval: float) -> None:
        """Due deliveries, the followed feeds' catch-up and old signatures, every
        ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.deliveries.run_due()
                await self.outbox.plan_followed()
                await self.inbox.forget_seen()
            except Exception:  # the database may be away for a while; keep trying
                log.exception("fediverse background work failed")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(5):
                await self.deliveries.drain()  # the last deliveries, briefly
        except TimeoutError:
            pass
        await self.deliveries.aclose()
        await self.client.aclose()


def build(
    settings: FeedsSettings, db: Database, feeds: Feeds, counter: PromCounter | None = None
) -> Fediverse:
    policy = netguard.Policy(netguard.parse_networks(settings.activitypub_allow_networks))
    client = netguard.guarded_client(  # inboxes and keys are anyone's: never our own network
        policy,
        httpx.Timeout(settings.activitypub_timeout, connect=min(5.0, settings.activitypub_timeout)),
        httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )
    actor_keys = keys.ActorKeys(db)
    instance_key = f"{actors.instance_actor(feeds.public_url)}#main-key"
    signer = keys.instance_signer(actor_keys, instance_key, utcnow)
    remote = keys.Remote(client, policy, sign_get=signer)
    known = followers.Followers(db, settings.activitypub_followers_per_host)
    queue = delivery.Deliveries(
        db,
        client,
        actor_keys,
        retry_delays=settings.delays(settings.activitypub_retry_delays),
        timeout=settings.activitypub_timeout,
        claim_seconds=max(120.0, 4 * settings.activitypub_timeout),
        counter=counter,
        on_gone=known.remove_inbox,  # an account's inbox answered 410: it follows no more
    )
    planner = outbox.Outbox(feeds, db, known, queue)
    directory = Directory(feeds)
    receiver = inbox.Inbox(
        db,
        remote,
        known,
        planner,
        queue,
        directory.actor_of,
        window=timedelta(seconds=settings.activitypub_signature_window),
        per_key_host=settings.activitypub_rate_limit,
    )
    feeds.on_announce.append(planner.plan)
    feeds.fediverse = True
    return Fediverse(directory, actor_keys, known, queue, planner, receiver, client)
