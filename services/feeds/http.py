"""Serve rendered feeds as stored bytes, with ETag / Last-Modified and 304s."""

from __future__ import annotations

import re
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.middleware.gzip import GZipMiddleware

from services.feeds.publishing import FORMATS, FeedPublisher, feed_key

FEED_NAME = re.compile(r"^(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.(?P<fmt>[a-z]+)$")


def not_found(reason: str) -> JSONResponse:
    return JSONResponse({"error": "not found", "reason": reason}, status_code=404)


def not_modified(request: Request, etag: str, last_modified_http: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag in {t.strip() for t in inm.split(",")} or inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified_http)
        except (TypeError, ValueError):
            return False
    return False


def install(api: FastAPI, feeds: FeedPublisher) -> None:
    api.add_middleware(GZipMiddleware, minimum_size=1024)

    @api.get(
        "/feeds/{publisher}/{name}",
        summary="A publisher's feed in one language: /feeds/{publisher}/{lang}.atom or .rss",
        response_class=Response,
    )
    async def publisher_feed(publisher: str, name: str, request: Request) -> Response:
        match = FEED_NAME.match(name)
        if not match or match["fmt"] not in FORMATS:
            return not_found(f"no feed {name!r}: use {{language}}.atom or {{language}}.rss")
        lang, fmt = match["lang"], match["fmt"]
        pub = await feeds.registry.publisher(publisher)
        if pub is None:
            return not_found(f"unknown publisher {publisher!r}")
        if lang not in pub.feed_languages and lang not in await feeds.registry.target_languages(
            publisher
        ):
            return not_found(
                f"{publisher} publishes no {lang!r} feed; "
                f"languages: {', '.join(pub.feed_languages)}"
            )
        key = f"{feed_key(publisher, lang)}.{fmt}"
        rendered = await feeds.store.get_rendered(key)
        if rendered is None:  # nothing published yet: render the (empty) feed once
            await feeds.refresh(publisher, lang)
            rendered = await feeds.store.get_rendered(key)
            assert rendered is not None
        last_modified = format_datetime(rendered.last_modified, usegmt=True)
        headers = {
            "ETag": rendered.etag,
            "Last-Modified": last_modified,
            "Cache-Control": "public, max-age=60",
            "Link": f'<{feeds.url(publisher, lang, fmt)}>; rel="self"',
        }
        if not_modified(request, rendered.etag, last_modified):
            return Response(status_code=304, headers=headers)
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)
