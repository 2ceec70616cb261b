"""The registry's admin API, under ``/admin``: publishers and their editor keys, networks,
partners and their feed tokens.

Every route needs ``Authorization: Bearer <admin token>`` (``FEEDS_ADMIN_TOKEN`` or the file named
by ``FEEDS_ADMIN_TOKEN_FILE``); without a configured token every route answers 503. Bodies are a
registry file entry's fields as JSON (``PUT /admin/partners/kazan`` with ``{"name": ...,
"languages": ["ru"], "networks": ["metropolis"]}``). Any problem is a 4xx with a JSON body
``{"error": ..., "code": ..., "reason": ...}``: a stable code and an English reason that says
what to change.

A change is written to the database and applied to this replica at once; every other replica of
every service sees it within ``Registry.ttl`` seconds (a revoked editor key: ingest stops
accepting it within that time). Secrets never leave except once: an editor key or a partner
token in the answer that creates it.

Every route declares what it needs: the admin token (:func:`.auth.authorised`, for all of them),
the registry and database (:mod:`.context`), the publisher or partner its path names, and its
body as JSON. The routes are :mod:`.overview`, :mod:`.publishers` (with their editor keys),
:mod:`.networks` and :mod:`.partners` (with their feed tokens); :mod:`.views` is what they show.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from services.feeds.admin import networks, overview, partners, publishers
from services.feeds.admin.auth import REALM, WeakAdminToken, admin_digests, authorised, weakness
from services.feeds.admin.context import NO_STORE, Admin
from services.feeds.admin.views import ERRORS
from shared.bodylimit import limits_of
from shared.registry import EDITOR_KEYS, PARTNER_TOKENS, PARTNERS, Registry
from shared.storage import Database
from shared.web import install_refusals

__all__ = [
    "COLLECTIONS",
    "MAX_BODY_BYTES",
    "WeakAdminToken",
    "admin_digests",
    "install",
    "weakness",
]

#: Collections the admin API writes besides those every service already declares.
COLLECTIONS = (PARTNERS, PARTNER_TOKENS, EDITOR_KEYS)
MAX_BODY_BYTES = 100_000  # a registry entry; far more than any needs


def install(api: FastAPI, registry: Registry, db: Database, admin_token: str | None) -> None:
    """The admin routes; :class:`WeakAdminToken` (the service does not start) for a placeholder
    or guessable token."""
    # Compared as SHA-256 digests: equal lengths, so not even the token's length leaks.
    api.state.feeds_admin = Admin(registry, db, admin_digests(admin_token))
    # Every body cut at MAX_BODY_BYTES as it streams in, before it is read or parsed.
    limits_of(api).allow("PUT,POST", "/admin/{rest:path}", MAX_BODY_BYTES)
    # The only refusals raised in the feeds service (its public routes return theirs), so the
    # admin API's realm and no-store are every Refused's.
    install_refusals(api, realm=REALM, headers=NO_STORE)
    for routes in (overview, publishers, networks, partners):  # in the document's order
        api.include_router(
            routes.router,
            prefix="/admin",
            tags=["admin"],
            dependencies=[Depends(authorised)],
            responses=ERRORS,
        )
