"""Feeds over HTTP: stored bytes with ETag / Last-Modified, 304s, gzip, and WebSub links.

URL scheme (``{fmt}`` is ``atom``, ``rss`` or ``json``):

* ``/feeds/{publisher}/{lang}.{fmt}``: a publisher's feed in one language;
* ``/networks/{network}/{lang}.{fmt}``: a network's feed, all its members;
* ``/partners/{partner}/{lang}.{fmt}``: a partner city's private feed (token in
  ``Authorization: Bearer``, ``X-Feed-Token`` or ``?token=``);
* ``{feed}/archive/{n}.{fmt}``: RFC 5005 archive pages of any of the above, oldest is 0;
* ``/feeds`` (HTML) and ``/feeds.opml``: the directory of public feeds;
* ``/entries/{article}/{lang}``: one entry as a page (the entries' permalinks).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.middleware.gzip import GZipMiddleware

from services.feeds.directory import Listing, render_directory, render_opml
from services.feeds.publishing import LANGUAGE_NAMES, FeedPublisher, FeedRef, Kind
from services.feeds.render import FORMATS, Format, is_rtl
from services.feeds.store import Rendered

FEED_NAME = re.compile(r"^(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.(?P<fmt>[a-z]+)$")
PAGE_NAME = re.compile(r"^(?P<page>[0-9]{1,9})\.(?P<fmt>[a-z]+)$")
LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    titles = {401: "unauthorized", 404: "not found", 410: "gone"}
    return JSONResponse(
        {"error": titles.get(status, "error"), "reason": reason},
        status_code=status,
        headers=headers,
    )


def not_modified(request: Request, etag: str, last_modified_http: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return etag in tags or inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified_http)
        except (TypeError, ValueError):
            return False
    return False


def partner_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-feed-token") or request.query_params.get("token") or None


def install(api: FastAPI, feeds: FeedPublisher) -> None:
    api.add_middleware(GZipMiddleware, minimum_size=1024)
    registry = feeds.registry

    def respond(request: Request, rendered: Rendered, self_url: str, cache: str) -> Response:
        last_modified = format_datetime(rendered.last_modified, usegmt=True)
        links = [f'<{self_url}>; rel="self"']
        if feeds.hub_url:
            links.insert(0, f'<{feeds.hub_url}>; rel="hub"')
        headers = {
            "ETag": rendered.etag,
            "Last-Modified": last_modified,
            "Cache-Control": cache,
            "Link": ", ".join(links),
            "Vary": "Accept-Encoding, Authorization, X-Feed-Token",
        }
        if not_modified(request, rendered.etag, last_modified):
            return Response(status_code=304, headers=headers)
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)

    languages = feeds.feed_languages

    async def resolve(
        request: Request, kind: Kind, key: str, lang: str, fmt: str
    ) -> FeedRef | Response:
        if fmt not in FORMATS:
            return error(404, f"no format {fmt!r}: use {', '.join(FORMATS)}")
        if kind == "partner":
            token = partner_token(request)
            challenge = {"WWW-Authenticate": 'Bearer realm="partner feeds"'}
            if token is None:
                return error(
                    401,
                    "partner feeds are private: send the partner's feed token as "
                    "'Authorization: Bearer <token>', 'X-Feed-Token' or '?token='",
                    challenge,
                )
            partner = await registry.partner_for_token(token)
            if partner is None or partner.id != key:
                return error(401, "this feed token is unknown, revoked or expired", challenge)
        langs = await languages(kind, key)
        if langs is None:
            return error(404, f"unknown {kind} {key!r}")
        if lang not in langs:
            return error(404, f"{kind} {key} has no {lang!r} feed; languages: {', '.join(langs)}")
        return FeedRef(kind, key, lang)

    async def current(request: Request, kind: Kind, key: str, name: str) -> Response:
        match = FEED_NAME.match(name)
        if not match:
            return error(404, f"no feed {name!r}: use {{language}}.atom, .rss or .json")
        feed = await resolve(request, kind, key, match["lang"], match["fmt"])
        if isinstance(feed, Response):
            return feed
        fmt = cast(Format, match["fmt"])
        rendered = await feeds.rendered(feed, fmt)
        cache = "private, max-age=60" if kind == "partner" else "public, max-age=60"
        return respond(request, rendered, feeds.url(feed, fmt), cache)

    async def archived(request: Request, kind: Kind, key: str, lang: str, name: str) -> Response:
        match = PAGE_NAME.match(name)
        if not match:
            return error(404, f"no archive page {name!r}: use {{number}}.atom, .rss or .json")
        feed = await resolve(request, kind, key, lang, match["fmt"])
        if isinstance(feed, Response):
            return feed
        fmt = cast(Format, match["fmt"])
        page = int(match["page"])
        rendered = await feeds.archive(feed, page, fmt)
        if rendered is None:
            return error(404, f"archive page {page} of {feed.id} does not exist (yet)")
        scope = "private" if kind == "partner" else "public"
        url = f"{feeds.archive_base(feed, page)}.{fmt}"
        return respond(request, rendered, url, f"{scope}, max-age=86400")

    doc = "Formats: .atom, .rss, .json. Archives (RFC 5005) under {lang}/archive/{n}.{fmt}."

    @api.get("/feeds/{publisher}/{name}", summary="A publisher's feed", description=doc)
    async def publisher_feed(publisher: str, name: str, request: Request) -> Response:
        return await current(request, "publisher", publisher, name)

    @api.get("/feeds/{publisher}/{lang}/archive/{name}", summary="A publisher feed's archive")
    async def publisher_archive(publisher: str, lang: str, name: str, request: Request) -> Response:
        return await archived(request, "publisher", publisher, lang, name)

    @api.get("/networks/{network}/{name}", summary="A network's feed", description=doc)
    async def network_feed(network: str, name: str, request: Request) -> Response:
        return await current(request, "network", network, name)

    @api.get("/networks/{network}/{lang}/archive/{name}", summary="A network feed's archive")
    async def network_archive(network: str, lang: str, name: str, request: Request) -> Response:
        return await archived(request, "network", network, lang, name)

    @api.get("/partners/{partner}/{name}", summary="A partner's private feed", description=doc)
    async def partner_feed(partner: str, name: str, request: Request) -> Response:
        return await current(request, "partner", partner, name)

    @api.get("/partners/{partner}/{lang}/archive/{name}", summary="A partner feed's archive")
    async def partner_archive(partner: str, lang: str, name: str, request: Request) -> Response:
        return await archived(request, "partner", partner, lang, name)

    async def listings() -> list[Listing]:
        out: list[Listing] = []
        for pub in await registry.publishers():
            for lang in await languages("publisher", pub.id) or []:
                feed = FeedRef("publisher", pub.id, lang)
                out.append(
                    Listing("publisher", pub.id, pub.name, lang, _base(feeds, feed), pub.site)
                )
        for net in await registry.networks():
            for lang in await languages("network", net.id) or []:
                feed = FeedRef("network", net.id, lang)
                out.append(Listing("network", net.id, net.name, lang, _base(feeds, feed)))
        return out

    @api.get("/feeds", summary="Directory of public feeds (HTML)", response_class=HTMLResponse)
    async def directory() -> HTMLResponse:
        page = render_directory(
            "City news feeds", await listings(), f"{feeds.public_url}/feeds.opml"
        )
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=60"})

    @api.get("/feeds.opml", summary="Every public feed as OPML")
    async def opml() -> Response:
        body = render_opml("City news feeds", await listings())
        return Response(
            body,
            media_type="text/x-opml; charset=utf-8",
            headers={"Cache-Control": "public, max-age=60"},
        )

    @api.get("/entries/{article_id}/{lang}", summary="One entry as a page (its permalink)")
    async def entry_page(article_id: str, lang: str) -> Response:
        if not LANG.match(lang):
            return error(404, f"no language {lang!r}")
        entry = await feeds.store.entry(article_id, lang)
        if entry is None:
            return error(404, f"no entry {article_id} in {lang!r}")
        if entry["status"] == "withdrawn":
            return error(410, f"{article_id} was withdrawn by its publisher")
        others = (await feeds.store.languages([article_id])).get(article_id, {})
        return HTMLResponse(_entry_html(feeds, entry, others))


def _base(feeds: FeedPublisher, feed: FeedRef) -> str:
    return f"{feeds.public_url}{feed.path}"


def _entry_html(feeds: FeedPublisher, entry: dict[str, Any], others: dict[str, str]) -> str:
    lang = entry["language"]
    direction = "rtl" if is_rtl(lang) else "ltr"
    esc = html.escape
    links = "".join(
        f'<li><a href="{esc(feeds.permalink(entry["article_id"], o))}" hreflang="{esc(o)}" '
        f'lang="{esc(o)}">{esc(LANGUAGE_NAMES.get(o, o))}</a></li>'
        for o, status in sorted(others.items())
        if o != lang and status == "active"
    )
    prov = entry.get("provenance") or {}
    note = ""
    if prov:
        method = "Human translation" if prov.get("method") == "human" else "Machine translation"
        engine = " ".join(str(prov[k]) for k in ("engine", "model") if prov.get(k))
        detail = f"{method}: {engine}" if engine else method
        note = f'<p class="provenance" lang="en" dir="ltr">{esc(detail)}</p>'
    source = (
        f'<p lang="en" dir="ltr"><a href="{esc(entry["url"])}">Original</a></p>'
        if entry.get("url")
        else ""
    )
    return (
        f'<!doctype html><html lang="{esc(lang)}" dir="{direction}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(entry['headline'])}</title>"
        f'<link rel="canonical" href="{esc(feeds.permalink(entry["article_id"], lang))}">'
        "<style>body{font:1.05rem/1.6 system-ui,sans-serif;max-width:42rem;margin:auto;"
        "padding:1rem;color:#111}a{color:#0645ad}.provenance{color:#444;font-size:.9rem}</style>"
        f"</head><body><main><article><h1>{esc(entry['headline'])}</h1>"
        f"<div>{entry['body_html']}</div></article>{note}{source}"
        f'<nav aria-label="Other languages"><ul>{links}</ul></nav></main></body></html>'
    )


def private_topics(
    feeds: FeedPublisher,
) -> Callable[[dict[str, str]], Awaitable[tuple[int, str] | None]]:
    """WebSub for private feeds: the subscriber names the partner feed with its token
    (``…/partners/kazan/en.atom?token=…``); the hub then knows it by its canonical URL, which
    is what the feeds service announces updates under. Without a valid token: refused."""

    async def prepare(form: dict[str, str]) -> tuple[int, str] | None:
        topic = form.get("hub.topic") or ""
        parsed = feeds.parse_topic(topic)
        if parsed is None or parsed[0].kind != "partner":
            return None
        feed = parsed[0]
        token = dict(parse_qsl(urlsplit(topic).query)).get("token")
        partner = await feeds.registry.partner_for_token(token) if token else None
        if partner is None or partner.id != feed.key:
            return 403, "a partner feed's topic must carry that partner's valid ?token="
        if not partner.websub:
            return 403, f"WebSub is not enabled for partner {partner.id}"
        form["hub.topic"] = topic.split("?", 1)[0]
        return None

    return prepare
