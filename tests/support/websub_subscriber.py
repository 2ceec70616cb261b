"""A WebSub subscriber the integration tests run: it answers the hub's verification of intent
(echoing ``hub.challenge``) and records every content delivery with its headers, and, when it
has a secret, whether the delivery's ``X-Hub-Signature`` proves it came from the hub."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request, Response


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    authentic: bool | None = None  # None: the subscriber gave no secret


def authentic(secret: str, body: bytes, signature: str | None) -> bool:
    """A subscriber's check of a content distribution (WebSub section 8): ``X-Hub-Signature`` is
    ``sha256=`` and the HMAC-SHA256 of the body under the subscriber's secret, compared in
    constant time. A delivery that fails it is to be ignored (and still answered 2xx)."""
    method, _, given = (signature or "").partition("=")
    if method != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass
class Subscriber:
    url: str = ""
    secret: str | None = None
    verifications: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    async def wait_for(self, predicate: object, timeout: float = 30) -> Delivery:
        """The first delivery whose body satisfies ``predicate`` (polls the record, which the
        server thread appends to)."""
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while True:
                for d in list(self.deliveries):
                    if predicate(d):
                        return d
                await asyncio.sleep(0.05)

    async def wait_verified(self, mode: str, timeout: float = 30) -> dict[str, str]:
        async with asyncio.timeout(timeout):
            while True:
                for v in list(self.verifications):
                    if v.get("hub.mode") == mode:
                        return v
                await asyncio.sleep(0.05)


def _app(sub: Subscriber) -> FastAPI:
    app = FastAPI()

    @app.get("/callback")
    async def verify(request: Request) -> Response:
        params = dict(request.query_params)
        sub.verifications.append(params)
        return Response(params.get("hub.challenge", ""), media_type="text/plain")

    @app.post("/callback")
    async def deliver(request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-hub-signature")
        checked = None if sub.secret is None else authentic(sub.secret, body, signature)
        sub.deliveries.append(Delivery(body, dict(request.headers), checked))
        return Response(status_code=204)

    return app


@contextmanager
def running_subscriber(secret: str | None = None) -> Iterator[Subscriber]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sub = Subscriber(url=f"http://127.0.0.1:{port}/callback", secret=secret)
    server = uvicorn.Server(
        uvicorn.Config(_app(sub), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("WebSub test subscriber did not start")
        time.sleep(0.02)
    try:
        yield sub
    finally:
        server.should_exit = True
        thread.join(timeout=10)
