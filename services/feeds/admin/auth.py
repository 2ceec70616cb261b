"""The admin token: which tokens may be configured at all, and the declared dependency every
admin route runs first (:func:`authorised`)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.feeds.admin.context import NO_STORE, Admin, AdminOf
from shared.web import Refused

#: The realm a 401 of the admin API names.
REALM = "feeds-admin"
#: Documents the admin token in the OpenAPI document; :func:`authorised` checks it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="FEEDS_ADMIN_TOKEN (or the contents of FEEDS_ADMIN_TOKEN_FILE)",
)

#: Placeholders that ship in this repository (deploy/k8s/secret.yaml, the compose default of
#: earlier releases) or that people type for one: anyone can read or guess them.
PLACEHOLDERS = frozenset({"change-me", "changeme", "local-only-admin-token-change-me"})
PLACEHOLDER_WORDS = ("changeme", "replaceme", "placeholder", "example")
MIN_TOKEN_CHARS = 32
MIN_DISTINCT_CHARS = 8


class WeakAdminToken(ValueError):
    """A configured admin token anyone could know or guess: the feeds service will not start."""


def weakness(token: str) -> str | None:
    """Why ``token`` must not open the admin API, or None. Never quotes the token itself."""
    folded = "".join(c for c in token.lower() if c.isalnum())
    if token.lower() in PLACEHOLDERS or any(word in folded for word in PLACEHOLDER_WORDS):
        return "is a known placeholder"
    if len(token) < MIN_TOKEN_CHARS:
        return f"is {len(token)} characters; at least {MIN_TOKEN_CHARS} are needed"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return f"repeats too few characters ({len(set(token))} distinct)"
    return None


def admin_digests(admin_token: str | None) -> list[bytes]:
    """Every admin token accepted, as SHA-256 digests. Several, separated by commas or white
    space, rotate the token without a gap: add the new one, roll out, move the clients over,
    then remove the old one. :class:`WeakAdminToken` if any is a placeholder or too weak."""
    tokens = list(dict.fromkeys((admin_token or "").replace(",", " ").split()))
    for n, token in enumerate(tokens, 1):
        if (why := weakness(token)) is not None:
            which = f" (token {n} of {len(tokens)})" if len(tokens) > 1 else ""
            raise WeakAdminToken(
                f"refusing to start: the admin token in FEEDS_ADMIN_TOKEN or "
                f"FEEDS_ADMIN_TOKEN_FILE{which} {why}; put a random one there "
                "(openssl rand -hex 32), or set neither to disable the admin API"
            )
    return [hashlib.sha256(t.encode()).digest() for t in tokens]


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authorised(
    request: Request,
    response: Response,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],  # documents it
    admin: AdminOf,
) -> None:
    """Every admin route's first check: a configured admin token, sent as a bearer token.
    Answers are never cached, refusals included (:func:`services.feeds.admin.install`)."""
    response.headers.update(NO_STORE)
    check(admin, _bearer(request))


def check(admin: Admin, given: str | None) -> None:
    """:class:`Refused` (503, 401) unless ``given`` is one of ``admin``'s tokens."""
    if not admin.digests:
        raise Refused(
            503,
            "admin API disabled",
            "the admin API is disabled until FEEDS_ADMIN_TOKEN or FEEDS_ADMIN_TOKEN_FILE is "
            "set for the feeds service",
            code="admin_disabled",
        )
    if given is None:
        reason = "no admin token: send 'Authorization: Bearer <admin token>'"
        raise Refused(401, "unauthorized", reason, code="admin_token_missing")
    # Constant-time, and every token compared: how long this takes says nothing about how
    # much of a token was right, nor which one matched.
    digest = hashlib.sha256(given.encode()).digest()
    matches = [hmac.compare_digest(digest, token) for token in admin.digests]
    if not any(matches):
        raise Refused(
            401, "unauthorized", "this admin token is not valid", code="admin_token_invalid"
        )
