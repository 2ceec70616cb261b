"""Rate limits per client on every service's HTTP port: 429 with ``Retry-After`` and a reason.

One clumsy script or an abusive client must not take a feeds replica (or an editor API) from
everyone else. Limits count requests per client address, as uvicorn resolved it: behind a
reverse proxy or ingress, set ``FORWARDED_ALLOW_IPS`` to the proxy's address so that
``X-Forwarded-For`` names the real client; otherwise every request seems to come from the
proxy and shares one limit. Counting is in memory, per replica, in fixed windows, so N replicas
let through up to N times the limit: the goal is to stop floods, not to meter. Health,
readiness and metrics are never limited (probes and Prometheus scrape from a few addresses,
often).

``<SERVICE>_RATE_LIMIT`` takes the ``limits`` library's notation, parsed by it, several limits
separated by ``;`` (``100/second;2000/minute``); ``off`` turns limiting off. The counting is
our own :class:`Window`: the library's in-memory storage cost a quarter of the feeds tier's 304
throughput (18,606 against 24,970 req/s, ``python -m bench.feeds --parts serve --rate-limit
off`` against the default; its expiry timer thread wakes 100 times a second), this costs about
a microsecond a request.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


def parse_limits(spec: str) -> list[RateLimitItem]:
    """``[]`` for ``off`` (or empty); a ValueError naming the notation for nonsense."""
    if spec.strip().lower() in ("", "off", "none", "0"):
        return []
    try:
        return list(parse_many(spec))
    except ValueError:
        raise ValueError(
            f"rate limit {spec!r} is not in the form '100/second' or '100/second;2000/minute'"
        ) from None


class Window:
    """One limit's counts per client in the current fixed window (older windows are dropped
    whole, so memory holds only the clients of the last window)."""

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self.amount = limit.amount
        self.seconds = float(limit.get_expiry())
        self.current = -1
        self.counts: dict[str, int] = {}

    def hit(self, client: str, now: float) -> float | None:
        """Count a request; ``None`` when allowed, else the seconds until the window ends."""
        window = int(now // self.seconds)
        if window != self.current:
            self.current = window
            self.counts = {}
        n = self.counts.get(client, 0) + 1
        self.counts[client] = n
        return None if n <= self.amount else (window + 1) * self.seconds - now


def exceeded(windows: list[Window], client: str, now: float) -> tuple[Window, float] | None:
    """Count a request of ``client`` in every window; the first window it exceeds and the
    seconds until that window ends, or None when all allow it."""
    for window in windows:
        wait = window.hit(client, now)
        if wait is not None:
            return window, wait
    return None


class RateLimit:
    """ASGI middleware in front of a service's app (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        limits: list[RateLimitItem],
        refused: Counter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.windows = [Window(limit) for limit in limits]
        self.refused = refused
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.windows or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        found = exceeded(self.windows, client, self.clock())
        if found is not None:
            window, wait = found
            await self._refuse(window.limit, client, wait, send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, limit: RateLimitItem, client: str, wait: float, send: Send) -> None:
        seconds = max(1, math.ceil(wait))
        if self.refused is not None:
            self.refused.inc()
        body = json.dumps(
            {
                "error": "too many requests",
                "code": "rate_limited",
                "reason": f"more than {limit.amount} requests per {_per(limit)} from {client}; "
                f"retry after {seconds} s",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(seconds).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _per(limit: RateLimitItem) -> str:
    unit = limit.GRANULARITY.name
    return unit if limit.multiples == 1 else f"{limit.multiples} {unit}s"
