"""``HEAD`` on every ``GET`` route: the answer ``GET`` would give, without its body.

Link checkers, feed validators and some readers probe a feed with ``HEAD`` before they fetch it;
FastAPI routes answer only the methods they declare, so without this every one of them answered
405. Rather than declare ``HEAD`` route by route (and miss one), the whole app answers it here,
in front of everything else: the request goes on as a ``GET``, so the fast path
(:class:`~services.feeds.http.server.FeedDocuments`), the routes and the gzip middleware give
exactly the status and headers of a ``GET`` (its ``ETag``, ``Last-Modified``, ``Content-Length``
and ``Content-Encoding`` included); only the body is left out (RFC 9110 9.3.2).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware: a ``HEAD`` request is served as the ``GET`` it stands for, its body
    dropped on the way out; any other request passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body's parts: none is sent, only its end
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # The server still knows the request as HEAD (its own scope): it sends no body either.
        await self.app({**scope, "method": "GET"}, receive, headers_only)
