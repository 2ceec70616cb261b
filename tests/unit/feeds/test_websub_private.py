"""WebSub for partner feeds without infrastructure: a subscription needs the partner's token,
keeps its digest (never the token), and is delivered to only while that token is valid."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from services.feeds.http import private_topics, subscription_allowed
from services.feeds.routing import FeedUrls
from services.feeds.websub import CREDENTIAL
from shared.registry import (
    Registry,
    create_partner_token,
    key_digest,
    revoke_partner_token,
    rotate_partner_tokens,
    save,
)
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, Clock, FakeDb

BASE = "https://feeds.example"
KAZAN = f"{BASE}/partners/kazan/en.atom"


async def world() -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    clock = Clock()
    registry = Registry(db, clock=clock)  # type: ignore[arg-type]
    feeds = SimpleNamespace(public_url=BASE, registry=registry)
    feeds.parse_topic = FeedUrls(BASE).parse_topic
    kazan, _ = await create_partner_token(db, "kazan", clock())  # type: ignore[arg-type]
    istanbul, _ = await create_partner_token(db, "istanbul", clock())  # type: ignore[arg-type]
    return SimpleNamespace(
        db=db,
        clock=clock,
        registry=registry,
        prepare=private_topics(feeds),  # type: ignore[arg-type]
        allowed=subscription_allowed(feeds),  # type: ignore[arg-type]
        kazan=kazan,
        istanbul=istanbul,
    )


def subscribe(topic: str) -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": "https://k.example/cb"}


async def test_a_partner_feed_topic_needs_that_partners_valid_token() -> None:
    w = await world()
    for topic in [
        KAZAN,
        f"  {KAZAN}\n",  # read stripped, as the hub reads it: no way around the check
        f"{KAZAN}?token={w.istanbul}",
        f"{KAZAN}?token=cfp_kazan_guess",
        f"{KAZAN}?token=",
    ]:
        form = subscribe(topic)
        refused = await w.prepare(form)
        assert refused is not None and refused[0] == 403, topic
        assert "valid ?token=" in refused[1] and CREDENTIAL not in form

    form = subscribe(f" {KAZAN}?token={w.kazan}")
    assert await w.prepare(form) is None
    assert form["hub.topic"] == KAZAN  # canonical: what updates are announced under
    assert form[CREDENTIAL] == key_digest(w.kazan)  # the digest, never the token
    assert not any(w.kazan in value for value in form.values())  # the hub never holds it


async def test_public_topics_are_known_by_their_canonical_url() -> None:
    w = await world()
    form = subscribe(f"{BASE}/feeds/tehran/en.atom?utm_source=x&token={w.kazan}")
    assert await w.prepare(form) is None
    assert form["hub.topic"] == f"{BASE}/feeds/tehran/en.atom" and CREDENTIAL not in form
    other = subscribe("https://elsewhere.example/feed.atom?x=1")
    assert await w.prepare(other) is None and other["hub.topic"].endswith("?x=1")  # not ours


async def test_a_subscription_is_allowed_while_its_token_is() -> None:
    w = await world()
    sub: dict[str, Any] = {"topic": KAZAN, "credential": key_digest(w.kazan)}
    assert await w.allowed(sub)
    assert await w.allowed({"topic": f"{BASE}/feeds/tehran/en.atom"})  # public: always
    assert not await w.allowed({"topic": KAZAN})  # made before credentials were kept
    istanbul_sub = {"topic": KAZAN, "credential": key_digest(w.istanbul)}
    assert not await w.allowed(istanbul_sub)  # another partner's token

    # Rotation: the old token, and so its subscription, lives through the grace period.
    new, _, _ = await rotate_partner_tokens(w.db, "kazan", timedelta(days=7), w.clock())
    w.registry.forget_tokens()
    assert await w.allowed(sub)
    assert await w.allowed({"topic": KAZAN, "credential": key_digest(new)})
    w.clock.now += timedelta(days=8)
    assert not await w.allowed(sub)  # expired (judged at every call, cache or not)
    assert await w.allowed({"topic": KAZAN, "credential": key_digest(new)})

    token_id = f"t_{key_digest(new)[:12]}"
    assert await revoke_partner_token(w.db, token_id, "kazan", w.clock())
    w.registry.forget_tokens()  # what the admin API does on revoking
    assert not await w.allowed({"topic": KAZAN, "credential": key_digest(new)})
