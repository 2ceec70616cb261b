"""The feeds service: articles and translations in; Atom, RSS and JSON feeds out over HTTP,
pushed to subscribers with WebSub."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial

import httpx
from fastapi import FastAPI
from faststream import FastStream

from services.feeds import activitypub, admin, consumer, http, portal, websub
from services.feeds.http.fast import FeedFastPath
from services.feeds.publishing import Feeds
from services.feeds.settings import FeedsSettings
from services.feeds.store import COLLECTIONS, FeedStore
from shared import metrics, netguard
from shared.service import Runtime, asgi_app, build_app, build_runtime
from shared.storage import Collection


def create(settings: FeedsSettings | None = None) -> FastAPI:
    settings = settings or FeedsSettings()
    rt = build_runtime("feeds", settings)
    client = httpx.AsyncClient(timeout=30, follow_redirects=False)
    feeds = Feeds(
        FeedStore(rt.db, settings.entries_per_feed),
        rt.registry,
        settings.public_url.rstrip("/"),
        render_delay=settings.render_delay_ms / 1000,
        links_delay=settings.links_delay_ms / 1000,
    )
    hub = _websub(settings, rt, feeds, client)
    consumer.register(rt, feeds, settings)
    fedi = None
    if settings.activitypub:
        counter = metrics.activitypub_deliveries(rt.metrics.registry) if rt.metrics else None
        fedi = activitypub.build(settings, rt.db, feeds, counter)
    collections: tuple[Collection, ...] = (*COLLECTIONS, *websub.COLLECTIONS, *admin.COLLECTIONS)
    if fedi is not None:
        collections += activitypub.COLLECTIONS
    stream = build_app(rt, collections)
    _in_background(stream, rt, settings, feeds, hub, client)
    if fedi is not None:
        _fediverse_in_background(stream, fedi, settings.activitypub_retry_seconds)

    api = asgi_app(rt, stream, title="City syndication: feeds", version="1")
    server = http.install(api, feeds)  # the feeds, their directory and entries
    api.state.asgi_front = partial(FeedFastPath, server=server)  # shared.service.serve
    portal.install(api, server)  # the partner portal's feed previews
    if hub is not None:
        websub.install(api, hub, prepare=http.private_topics(feeds))
    admin.install(api, rt.registry, rt.db, settings.admin_secret())
    if fedi is not None:
        activitypub.install(api, fedi)
    return api


def _websub(
    settings: FeedsSettings, rt: Runtime, feeds: Feeds, client: httpx.AsyncClient
) -> websub.Hub | None:
    """Where the feeds announce their updates: the external hub configured, or our own hub
    (returned: the app serves and runs it)."""
    if settings.websub_hub_url:
        feeds.hub_url = settings.websub_hub_url
        feeds.notify = websub.ExternalHub(client, settings.websub_hub_url).publish
        return None
    feeds.hub_url = f"{settings.public_url.rstrip('/')}/websub"
    policy = netguard.Policy(netguard.parse_networks(settings.websub_allow_networks))
    hub_client = netguard.guarded_client(  # callbacks are anyone's: never our own network
        policy,
        httpx.Timeout(settings.websub_timeout, connect=settings.websub_connect_timeout),
        httpx.Limits(max_connections=settings.websub_connections + settings.websub_pending_max),
    )
    hub = websub.Hub(
        rt.db,
        hub_client,
        feeds.hub_url,
        partial(_is_topic, feeds),
        partial(_content, feeds),
        authorised=http.subscription_allowed(feeds),
        policy=policy,
        resolver=netguard.resolve,
        delivery_timeout=settings.websub_timeout,
        concurrency=settings.websub_connections,
        per_host=settings.websub_per_host,
        pending_per_host=settings.websub_pending_per_host,
        pending_max=settings.websub_pending_max,
        deliveries=metrics.websub_deliveries(rt.metrics.registry) if rt.metrics else None,
    )
    feeds.notify = hub.notify  # returns at once: subscribers never hold up rendering
    return hub


async def _is_topic(feeds: Feeds, url: str) -> bool:
    parsed = feeds.parse_topic(url)
    if parsed is None:
        return False
    feed, _ = parsed
    return feed.language in (await feeds.feed_languages(feed.kind, feed.key) or [])


async def _content(feeds: Feeds, url: str) -> tuple[bytes, str] | None:
    parsed = feeds.parse_topic(url)
    if parsed is None:
        return None
    rendered = await feeds.rendered(*parsed)
    return (rendered.body, rendered.media_type) if rendered else None


def _in_background(
    stream: FastStream,
    rt: Runtime,
    settings: FeedsSettings,
    feeds: Feeds,
    hub: websub.Hub | None,
    client: httpx.AsyncClient,
) -> None:
    """The hub's retries and the feeds' catch-up, from start-up; at shutdown, what was consumed
    is rendered and delivered (briefly) before the clients close."""
    retries: list[asyncio.Task[None]] = []

    @stream.after_startup
    async def _start_background() -> None:
        if hub is not None:
            retries.append(asyncio.create_task(hub.retry_loop(settings.websub_retry_seconds)))
        retries.append(asyncio.create_task(_catch_up_loop(rt, feeds)))

    @stream.on_shutdown
    async def _stop_background() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await feeds.flush()  # what was consumed is rendered before we go
        await feeds.stop()
        for task in retries:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hub is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await hub.drain()  # the last renders' deliveries, briefly
            await hub.aclose()
            await hub.client.aclose()
        await client.aclose()


def _fediverse_in_background(stream: FastStream, fedi: activitypub.Fediverse, every: float) -> None:
    """Deliveries' retries from start-up; at shutdown, the ones under way briefly."""
    tasks: list[asyncio.Task[None]] = []

    @stream.after_startup
    async def _start() -> None:
        tasks.append(asyncio.create_task(fedi.run(every)))

    @stream.on_shutdown
    async def _stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await fedi.close()


async def _catch_up_loop(rt: Runtime, feeds: Feeds) -> None:
    """Render feeds left behind by a crash between appending and rendering (here at start,
    or on another replica): at start-up, then every 30 s."""
    while True:
        try:
            behind = await feeds.catch_up()
            if behind:
                rt.log.info("rendering feeds behind their logs", extra={"feeds": behind})
        except Exception:
            rt.log.exception("feed catch-up failed")
        await asyncio.sleep(30)
