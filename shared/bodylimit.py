"""Request body limits on every route of every service, counted on the bytes actually received.

A limit that only reads a declared ``Content-Length`` lets a chunked body of any size through:
Starlette spools a multipart form past 1 MB to the temporary folder (a small ``emptyDir`` on
Kubernetes), and ``request.body()`` holds it all in memory, before any handler can say no. So
this middleware sits in front of every route (``shared.service.asgi_app`` installs it) and

* answers 413 at once, without reading a byte, when ``Content-Length`` declares too much;
* counts what the server receives, and answers 413 the moment it passes the limit, whatever
  the handler was doing with it (the handler's own answer, if it makes one, is dropped);

both with the project's ``{"error": ..., "code": "payload_too_large", "reason": ...}`` body.
The server drops the rest of the body as it comes (uvicorn discards what arrives after the
answer), holding none of it. The connection is deliberately not closed at once: a client
still sending would get a reset instead of the 413 and its reason. Each route has its limit in
a :class:`BodyLimits` table: a small default for forms and JSON, more for the routes that take
uploads (a service adds those with :meth:`BodyLimits.allow` as it installs its routes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What a route takes unless its service allows it more: forms, JSON commands, WebSub requests.
DEFAULT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    template: str
    max_bytes: int


@dataclass
class BodyLimits:
    """The limit of each route: the first rule whose method and path match, else the default."""

    default: int = DEFAULT_MAX_BYTES
    rules: list[Rule] = field(default_factory=list)

    def allow(self, methods: str, path: str, max_bytes: int) -> None:
        """Let ``methods`` (``"POST"``, ``"PUT,POST"``) on ``path`` (a route template,
        ``/articles/{article_id}/translations/{language}``) take up to ``max_bytes``."""
        if max_bytes <= 0:
            raise ValueError(f"the body limit of {methods} {path} must be positive")
        pattern, _, _ = compile_path(path)
        wanted = frozenset(m.strip().upper() for m in methods.split(",") if m.strip())
        self.rules.append(Rule(wanted, pattern, path, max_bytes))

    def limit(self, method: str, path: str) -> tuple[int, str]:
        """The limit of a request, and the route it comes from (for the reason)."""
        for rule in self.rules:
            if method in rule.methods and rule.pattern.match(path):
                return rule.max_bytes, f"{method} {rule.template}"
        return self.default, f"{method} {path}"


def limits_of(api: FastAPI) -> BodyLimits:
    """``api``'s table; the first call installs the middleware (``shared.service.asgi_app``
    does, so every service has it; an app built by hand, as in tests, gets it here)."""
    found = getattr(api.state, "body_limits", None)
    if isinstance(found, BodyLimits):
        return found
    limits = BodyLimits()
    api.state.body_limits = limits
    api.add_middleware(BodyLimit, limits=limits)
    return limits


def _declared(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (None if none or unreadable), and whether a body comes."""
    length: int | None = None
    body = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            body = True
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            body = True
    return length, body


class BodyTooLarge(Exception):
    """Raised into the handler from ``receive`` once the body passes its limit."""


class BodyLimit:
    """ASGI middleware enforcing a :class:`BodyLimits` table (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, has_body = _declared(scope)
        if not has_body:  # HTTP/1.1: neither header, no body; the common GET costs nothing more
            await self.app(scope, receive, send)
            return
        limit, route = self.limits.limit(scope["method"], scope["path"])
        if declared is not None and declared > limit:
            await refuse(
                send, f"the body is {declared} bytes; the limit is {limit} bytes for {route}"
            )
            return
        guard = _Guard(receive, send, limit, route)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.answered:
                raise
            # The handler failed on the body it was refused; the 413 is the answer.


class _Guard:
    """One request's ``receive`` that counts, and ``send`` that goes quiet after a 413."""

    def __init__(self, receive: Receive, send: Send, limit: int, route: str) -> None:
        self._receive, self._send = receive, send
        self.limit, self.route = limit, route
        self.received = 0
        self.started = False
        self.answered = False

    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                if not self.started:
                    self.answered = True
                    await refuse(
                        self._send,
                        f"the body is over {self.limit} bytes; the limit is {self.limit} bytes "
                        f"for {self.route}",
                    )
                raise BodyTooLarge(self.route)
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def refuse(send: Send, reason: str) -> None:
    """413 with the project's error body."""
    body = {"error": "payload too large", "code": "payload_too_large", "reason": reason}
    encoded = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(encoded)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})
