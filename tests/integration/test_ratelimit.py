"""The rate limit on the real stack: a feeds replica started with a small limit refuses a
flooding client (named by X-Forwarded-For, as a proxy on a trusted address sends it) with 429
and a reason, while other clients, probes and metrics scrapes carry on."""

from __future__ import annotations

import uuid

import httpx
import pytest

from deploy.local import stack
from tests.integration.conftest import System, ready

pytestmark = pytest.mark.integration


async def test_a_flooding_client_gets_429_while_others_are_served(
    system: System, http: httpx.AsyncClient
) -> None:
    port = stack.free_port()
    env = {**system.env, "FEEDS_HTTP_PORT": str(port), "FEEDS_RATE_LIMIT": "5/minute"}
    replica = stack.service_process("feeds", system.state, env)
    replica.name = f"feeds-limited-{uuid.uuid4().hex[:6]}"  # a log file of its own
    replica.start()
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until(lambda: ready(f"{base}/readyz"), "rate-limited feeds", 60, replica)
        feed = f"{base}/feeds/mashhad/fa.atom"
        flood = {"X-Forwarded-For": "203.0.113.50"}  # uvicorn trusts it from 127.0.0.1
        codes = [(await http.get(feed, headers=flood)).status_code for _ in range(5)]
        assert 429 not in codes
        refused = await http.get(feed, headers=flood)
        assert refused.status_code == 429
        assert refused.json()["reason"].startswith(
            "more than 5 requests per minute from 203.0.113.50; retry after"
        )
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # the same limiter is in front of every route, not only the feed documents' fast path
        assert (await http.get(f"{base}/feeds.opml", headers=flood)).status_code == 429
        other = await http.get(feed, headers={"X-Forwarded-For": "198.51.100.9"})
        assert other.status_code != 429
        assert (await http.get(f"{base}/readyz", headers=flood)).status_code == 200
        metrics = (await http.get(f"{base}/metrics", headers=flood)).text
        assert 'syndication_http_requests_rate_limited_total{service="feeds"} 2.0' in metrics
    finally:
        replica.stop(timeout=30)
