"""The fediverse's HTTP face: WebFinger, actors, outboxes, followers, articles, inboxes.

* ``GET /.well-known/webfinger?resource=acct:mashhad.en@host``: the actor behind a handle;
* ``GET /ap/feeds/{publisher}/{lang}`` and ``/ap/networks/{network}/{lang}``: the actor;
  ``…/outbox`` (``?page=N``), ``…/followers`` (a count only), ``…/articles/{id}``;
* ``POST …/inbox`` and the shared ``POST /ap/inbox``: signed activities (:mod:`.inbox`).

Documents are ``application/activity+json``; every answer a person might read when something is
wrong (a 4xx) says why in the project's ``{"error", "code", "reason"}`` form.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.feeds.activitypub import actors
from services.feeds.activitypub.actors import MEDIA_TYPE
from services.feeds.activitypub.keys import INSTANCE
from services.feeds.activitypub.service import Fediverse
from services.feeds.activitypub.signatures import SignedRequest
from services.feeds.routing import FeedRef
from services.feeds.web import app_state, error

router = APIRouter()
ROOT = "/ap/{root}/{key}/{lang}"
JRD = "application/jrd+json"


def fediverse(request: Request) -> Fediverse:
    return app_state(request, "fediverse", Fediverse)


Fedi = Annotated[Fediverse, Depends(fediverse)]


def document(doc: dict[str, Any], status: int = 200, media_type: str = MEDIA_TYPE) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        body,
        status_code=status,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Cache-Control": "public, max-age=60", "Vary": "Accept"},
    )


async def _feed(fedi: Fediverse, root: str, key: str, lang: str) -> FeedRef | Response:
    kind = actors.KINDS.get(root)
    feed = FeedRef(kind, key, lang) if kind else None  # type: ignore[arg-type]
    if feed is None or not await fedi.directory.exists(feed):
        return error(404, f"no fediverse account for /{root}/{key}/{lang}")
    return feed


@router.get("/.well-known/webfinger", summary="WebFinger: the fediverse account of a handle")
async def webfinger(fedi: Fedi, resource: Annotated[str, Query(max_length=512)] = "") -> Response:
    if not resource:
        return error(400, "resource is required: acct:mashhad.en@host, or an actor's URL")
    directory = fedi.directory
    host = actors.host_of(directory.feeds.public_url)
    feed = None
    if resource.lower().startswith("acct:"):
        user, _, at = resource[5:].lstrip("@").rpartition("@")
        named = actors.feed_of_handle(user) if at.lower() == host else None
        feed = await directory.named(named) if named else None
    else:
        feed = await directory.actor_of(resource)
    if feed is None:
        return error(404, f"no account {resource[:200]!r} here")
    doc = actors.webfinger(directory.actor(feed), directory.profile_page(feed))
    return document(doc, media_type=JRD)


def wants_page(request: Request) -> bool:
    """A browser following the actor's or an article's link: it gets the page, not JSON."""
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and not any(media in accept for media in actors.ACCEPTED)


@router.get("/ap/actor", summary="The service's own actor (it signs our fetches)")
async def instance(fedi: Fedi) -> Response:
    _, public = await fedi.keys.pair(INSTANCE)
    return document(actors.instance_document(fedi.directory.feeds.public_url, public))


@router.get(ROOT, summary="A feed as a fediverse actor")
async def actor(root: str, key: str, lang: str, fedi: Fedi, request: Request) -> Response:
    feed = await _feed(fedi, root, key, lang)
    if isinstance(feed, Response):
        return feed
    if wants_page(request):
        return RedirectResponse(fedi.directory.profile_page(feed), 303, headers={"Vary": "Accept"})
    _, public = await fedi.keys.pair(feed.id)
    profile = await fedi.directory.profile(feed)
    return document(actors.actor_document(fedi.directory.actor(feed), profile, public))


@router.get(ROOT + "/outbox", summary="A feed's fediverse posts, newest first")
async def outbox(
    root: str, key: str, lang: str, fedi: Fedi, page: Annotated[int | None, Query(ge=0)] = None
) -> Response:
    feed = await _feed(fedi, root, key, lang)
    if isinstance(feed, Response):
        return feed
    actor = fedi.directory.actor(feed)
    last = await fedi.outbox.last_page(feed)
    if page is None:
        first = f"{actor.outbox}?page={last}" if last is not None else None
        return document(actors.collection(actor.outbox, await fedi.outbox.total(feed), first))
    if last is None or page > last:
        return error(404, f"the outbox has no page {page}")
    items, following = await fedi.outbox.page(feed, page)
    nxt = f"{actor.outbox}?page={following}" if following is not None else None
    return document(actors.collection_page(f"{actor.outbox}?page={page}", actor.outbox, items, nxt))


@router.get(ROOT + "/followers", summary="How many follow a feed (the list is not shown)")
async def followers(root: str, key: str, lang: str, fedi: Fedi) -> Response:
    feed = await _feed(fedi, root, key, lang)
    if isinstance(feed, Response):
        return feed
    actor = fedi.directory.actor(feed)
    count = await fedi.followers.count(feed.id)
    return document(actors.collection(actor.followers, count, None))


@router.get(ROOT + "/articles/{article_id}", summary="One entry as an ActivityStreams Article")
async def article(
    root: str, key: str, lang: str, article_id: str, fedi: Fedi, request: Request
) -> Response:
    feed = await _feed(fedi, root, key, lang)
    if isinstance(feed, Response):
        return feed
    feeds = fedi.directory.feeds
    if wants_page(request):
        link = feeds.permalink(article_id, lang)
        return RedirectResponse(link, 303, headers={"Vary": "Accept"})
    stored = await feeds.store.stored(article_id, lang)
    if stored is None or feed not in await feeds.feeds_for(stored.entry):
        return error(404, f"no article {article_id[:80]} in this account")
    actor = fedi.directory.actor(feed)
    if stored.entry.withdrawn:
        return document({"@context": actors.CONTEXT, **actors.tombstone(actor, article_id)}, 410)
    link = feeds.permalink(article_id, lang)
    return document({"@context": actors.CONTEXT, **actors.article(actor, stored.entry, link)})


@router.post(ROOT + "/inbox", summary="An actor's inbox (signed activities only)")
async def inbox(root: str, key: str, lang: str, request: Request, fedi: Fedi) -> Response:
    feed = await _feed(fedi, root, key, lang)
    if isinstance(feed, Response):
        return feed
    return await _receive(request, fedi, feed)


@router.post("/ap/inbox", summary="The shared inbox of every actor (signed activities only)")
async def shared_inbox(request: Request, fedi: Fedi) -> Response:
    return await _receive(request, fedi, None)


async def _receive(request: Request, fedi: Fedi, feed: FeedRef | None) -> Response:
    body = await request.body()
    url = fedi.directory.feeds.public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signed = SignedRequest("POST", url, dict(request.headers), body)
    answer = await fedi.inbox.receive(signed, feed)
    if answer.status >= 400:
        wait = {"Retry-After": str(answer.retry_after)} if answer.retry_after else None
        return error(answer.status, answer.reason, wait, code=answer.code)
    return document({"status": answer.reason}, answer.status, "application/json")


def install(api: FastAPI, fedi: Fediverse) -> None:
    api.state.fediverse = fedi
    api.include_router(router)
