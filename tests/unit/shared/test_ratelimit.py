"""Per-client rate limits: what a client over its limit gets, and who is never limited."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from services.feeds.settings import FeedsSettings
from shared.ratelimit import RateLimit, parse_limits


def limited(
    spec: str, refused: Counter | None = None, clock: Callable[[], float] | None = None
) -> RateLimit:
    app = FastAPI()

    @app.get("/feeds/tehran/en.atom")
    async def feed() -> dict[str, str]:
        return {"feed": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    if clock is None:
        return RateLimit(app, parse_limits(spec), refused)
    return RateLimit(app, parse_limits(spec), refused, clock)


def client(app: RateLimit, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://feeds")


async def test_a_client_over_its_limit_is_told_why_and_when_to_come_back() -> None:
    registry = CollectorRegistry()
    refused = Counter("refused", "", registry=registry)
    app = limited("3/minute", refused)
    async with client(app, "203.0.113.7") as c:
        for _ in range(3):
            assert (await c.get("/feeds/tehran/en.atom")).status_code == 200
        resp = await c.get("/feeds/tehran/en.atom")
    assert resp.status_code == 429
    assert resp.json() == {
        "error": "too many requests",
        "code": "rate_limited",
        "reason": "more than 3 requests per minute from 203.0.113.7; "
        f"retry after {resp.headers['retry-after']} s",
    }
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert registry.get_sample_value("refused_total") == 1


async def test_the_count_starts_again_when_the_window_ends() -> None:
    now = [120.0]
    app = limited("2/minute", clock=lambda: now[0])
    async with client(app, "203.0.113.7") as c:
        codes = [(await c.get("/feeds/tehran/en.atom")).status_code for _ in range(3)]
        now[0] = 150.0
        refused = await c.get("/feeds/tehran/en.atom")
        now[0] = 180.0  # the next minute
        again = await c.get("/feeds/tehran/en.atom")
    assert codes == [200, 200, 429]
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert again.status_code == 200


async def test_each_client_has_its_own_limit() -> None:
    app = limited("2/minute")
    async with client(app, "203.0.113.7") as noisy, client(app, "198.51.100.2") as quiet:
        for _ in range(5):
            await noisy.get("/feeds/tehran/en.atom")
        assert (await noisy.get("/feeds/tehran/en.atom")).status_code == 429
        assert (await quiet.get("/feeds/tehran/en.atom")).status_code == 200


async def test_every_limit_of_several_applies() -> None:
    app = limited("100/second;2/minute")
    async with client(app, "203.0.113.7") as c:
        codes = [(await c.get("/feeds/tehran/en.atom")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


async def test_probes_are_never_limited() -> None:
    app = limited("1/minute")
    async with client(app, "10.0.0.1") as kubelet:
        codes = {(await kubelet.get("/readyz")).status_code for _ in range(10)}
        assert codes == {200}
        assert (await kubelet.get("/feeds/tehran/en.atom")).status_code == 200


async def test_off_means_no_limit() -> None:
    app = limited("off")
    async with client(app, "203.0.113.7") as c:
        codes = {(await c.get("/feeds/tehran/en.atom")).status_code for _ in range(50)}
    assert codes == {200}


def test_a_mistyped_limit_stops_the_service_at_start_with_the_form_to_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FEEDS_RATE_LIMIT", "100 per sec")
    with pytest.raises(ValidationError, match="is not in the form '100/second'"):
        FeedsSettings()
    monkeypatch.setenv("FEEDS_RATE_LIMIT", "20/second;600/minute")
    assert FeedsSettings().rate_limit == "20/second;600/minute"
