"""The partner portal: readable previews of the feeds, beside the directory (``/feeds``) and the
OPML (``/feeds.opml``) that :mod:`services.feeds.http` serves.

* ``/preview/feeds/{publisher}/{lang}``, ``/preview/networks/{network}/{lang}``: a public feed as
  a page: each entry's headline, date (Jalali in Persian), publisher, whether a machine or a
  person translated it, and its text, right-to-left where the language is; links to subscribe
  to it in each format and to the same feed in its other languages.
* ``/preview/partners/{partner}/{lang}``: a partner city's private feed, the same way, with the
  partner's feed token. The partner gives it once in a form (``POST /preview/partners``); it is
  then kept in a cookie that is ``HttpOnly``, ``SameSite=Strict`` and scoped to that partner's
  preview pages (``Path=/preview/partners/{partner}``), for 12 hours. An
  ``Authorization: Bearer`` header works too. The form is only taken from pages of this host
  (``Origin``); the token is never put in a URL, a page or a log line.

A preview shows the feed's JSON Feed document, found through the same :class:`FeedServer` (and
so the same access checks and cache) as a feed reader's request: what a partner previews is what
its reader receives.

The routes are :mod:`.partners` (sign in, sign out, a partner's page) and :mod:`.previews`; what
they declare (the partner signed in, forms from this host only) is :mod:`.context`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from services.feeds import pages
from services.feeds.http import FeedServer
from services.feeds.portal import partners, previews
from services.feeds.portal.context import PageRefused
from shared.web import language_router

__all__ = ["install"]


def install(api: FastAPI, server: FeedServer) -> None:
    """The portal's pages, over ``server`` (:func:`services.feeds.http.install` made it)."""
    api.state.feed_server = server

    async def refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefused)
        return exc.page

    api.add_exception_handler(PageRefused, refused)
    for routes in (partners, previews):
        api.include_router(routes.router)
    api.include_router(language_router(pages.SWITCH, pages.HOME))  # every page's language switch
