"""WebSub access to private feeds: which topics a subscriber may name (with a partner's token) and
whether a subscription may still receive its feed. The hub (:mod:`services.feeds.websub`) asks
these; it knows nothing of partners."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from services.feeds.publishing import Feeds
from services.feeds.websub import CREDENTIAL
from shared.registry import key_digest


def private_topics(
    feeds: Feeds,
) -> Callable[[dict[str, str]], Awaitable[tuple[int, str] | None]]:
    """WebSub for private feeds: the subscriber names the partner feed with its token
    (``…/partners/kazan/en.atom?token=…``); the hub then knows it by its canonical URL, which
    is what the feeds service announces updates under, and keeps the token's SHA-256 with the
    subscription (see :func:`subscription_allowed`). Without a valid token: refused. Every
    other topic of ours is known by its canonical URL too (a query string would make it a topic
    no update is ever announced under, and could carry a secret into the hub's logs)."""

    async def prepare(form: dict[str, str]) -> tuple[int, str] | None:
        topic = (form.get("hub.topic") or "").strip()  # as the hub reads it
        parsed = feeds.parse_topic(topic)
        if parsed is None:
            return None
        feed = parsed[0]
        if feed.kind == "partner":
            token = dict(parse_qsl(urlsplit(topic).query)).get("token") or ""
            partner = await feeds.registry.partner_for_token(token) if token else None
            if partner is None or partner.id != feed.key:
                return 403, "a partner feed's topic must carry that partner's valid ?token="
            if not partner.websub:
                return 403, f"WebSub is not enabled for partner {partner.id}"
            form[CREDENTIAL] = key_digest(token)
        form["hub.topic"] = topic.split("?", 1)[0]
        return None

    return prepare


def subscription_allowed(feeds: Feeds) -> Callable[[dict[str, Any]], Awaitable[bool]]:
    """Whether a WebSub subscription may still receive its feed, asked before every delivery:
    always for a public feed; for a partner feed, while the token it was made with is valid
    (not revoked, not expired), belongs to that partner, and the partner has WebSub on."""

    async def allowed(sub: dict[str, Any]) -> bool:
        parsed = feeds.parse_topic(sub["topic"])
        if parsed is None or parsed[0].kind != "partner":
            return True
        digest = sub.get("credential")
        if not isinstance(digest, str):
            return False  # made before subscriptions kept their token: renew to go on
        partner = await feeds.registry.partner_for_digest(digest)
        return partner is not None and partner.id == parsed[0].key and partner.websub

    return allowed
