"""The registry's admin API, under ``/admin``: publishers and their editor keys, networks,
partners and their feed tokens.

Every route needs ``Authorization: Bearer <admin token>`` (``FEEDS_ADMIN_TOKEN`` or the file named
by ``FEEDS_ADMIN_TOKEN_FILE``); without a configured token every route answers 503. Bodies are a
registry file entry's fields as JSON (``PUT /admin/partners/kazan`` with ``{"name": ...,
"languages": ["ru"], "networks": ["metropolis"]}``). Any problem is a 4xx with a JSON body
``{"error": ..., "reason": ...}`` that says what to change.

A change is written to the database and applied to this replica at once; every other replica of
every service sees it within ``Registry.ttl`` seconds (a revoked editor key: ingest stops
accepting it within that time). Secrets never leave except once: an editor key or a partner
token in the answer that creates it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from shared.bodylimit import limits_of
from shared.messaging import describe_validation_error
from shared.registry import (
    DEFAULT_GRACE,
    EDITOR_KEYS,
    NETWORKS,
    PARTNER_TOKENS,
    PARTNERS,
    PUBLISHERS,
    EditorKey,
    Network,
    Partner,
    PartnerToken,
    Publisher,
    Registry,
    Scope,
    TokenState,
    check_network,
    check_partner,
    create_editor_key,
    create_partner_token,
    editor_keys,
    partner_tokens,
    revoke_all_partner_tokens,
    revoke_editor_keys,
    revoke_partner_token,
    rotate_partner_tokens,
)
from shared.storage import Collection, Database

#: Collections the admin API writes besides those every service already declares.
COLLECTIONS = (PARTNERS, PARTNER_TOKENS, EDITOR_KEYS)
MAX_BODY_BYTES = 100_000  # a registry entry; far more than any needs
MAX_GRACE_DAYS = 365
NO_STORE = {"Cache-Control": "no-store"}

Entry = TypeVar("Entry", Publisher, Network, Partner)


class ErrorBody(BaseModel):
    error: str
    reason: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422, 503)
}
#: Documents the admin token in the OpenAPI document; :func:`install` checks it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="FEEDS_ADMIN_TOKEN (or the contents of FEEDS_ADMIN_TOKEN_FILE)",
)


def _view(model: type[BaseModel], name: str, doc: str, **more: Any) -> type[BaseModel]:
    """An answer's model: ``model``'s fields and ``more`` (fields named like a method of
    ``model``, so not a subclass). Only its fields ever leave: a response model filters."""
    fields: dict[str, Any] = {k: (f.annotation, f) for k, f in model.model_fields.items()}
    view: type[BaseModel] = create_model(name, __doc__=doc, **fields, **more)
    return view


TokenView = _view(
    PartnerToken,
    "TokenView",
    "What is ever shown of a partner token: its id and dates, never the token or its digest.",
    state=(TokenState, ...),
)
IssuedToken = create_model(
    "IssuedToken",
    __base__=TokenView,
    token=(str, Field(description="The token itself, shown in this answer only.")),
    detail=(str, ...),
)
RotatedTokens = create_model(
    "RotatedTokens",
    __base__=IssuedToken,
    previous=(list[TokenView], Field(description="The older tokens, as they now stand.")),  # type: ignore[valid-type]
)
KeyView = _view(
    EditorKey,
    "KeyView",
    "What is ever shown of an editor key: its id, name, scopes and dates, never the key.",
    state=(Literal["live", "revoked"], ...),
)
IssuedKey = create_model(
    "IssuedKey",
    __base__=KeyView,
    key=(str, Field(description="The key itself, shown in this answer only.")),
    detail=(str, ...),
)


class KeyRequest(BaseModel):
    """A new editor key: who holds it, and what it may do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, description="Who or what holds it ('desk laptop')."
    )
    scopes: list[Scope] | None = Field(
        default=None, min_length=1, description="Default: every scope."
    )


PartnerView = _view(
    Partner,
    "PartnerView",
    "A partner, and every publisher it receives (its networks' members included).",
    receives=(list[str], ...),
)


class PublisherView(Publisher):
    target_languages: list[str]


class RegistryView(BaseModel):
    publishers: list[PublisherView]
    networks: list[Network]
    partners: list[PartnerView]  # type: ignore[valid-type]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a PUT: the entry's fields, as in the registry file."""
    schema = model.model_json_schema()
    schema["required"] = [name for name in schema.get("required", []) if name != "id"]
    schema["properties"]["id"] = {
        **schema["properties"]["id"],
        "description": "Optional; when given, the same as the path's id.",
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class AdminRefused(Exception):
    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason


def error(status: int, kind: str, reason: str) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="feeds-admin"'
    return JSONResponse({"error": kind, "reason": reason}, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _slug(entry_id: str) -> str:
    return entry_id.strip().lower()


async def _read(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, refusals readable (its size was limited as it
    streamed in: :func:`install`)."""
    raw = await request.body()
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except UnicodeDecodeError:
        raise AdminRefused(422, "invalid entry", "the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise AdminRefused(
            422, "invalid entry", f"the body is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(data, dict):
        raise AdminRefused(
            422,
            "invalid entry",
            "the body must be a JSON object: the entry's fields, as in the registry file",
        )
    return data


def _entry(model: type[Entry], entry_id: str, data: dict[str, Any]) -> Entry:
    kind = model.__name__.lower()
    named = data.pop("id", None)
    if named is not None and (not isinstance(named, str) or _slug(named) != _slug(entry_id)):
        raise AdminRefused(
            422, f"invalid {kind}", f"the body names id {named!r}, the path {entry_id!r}"
        )
    try:
        return model(id=entry_id, **data)
    except ValidationError as exc:
        raise AdminRefused(
            422, f"invalid {kind}", f"{kind} {entry_id!r}: {describe_validation_error(exc)}"
        ) from None


def _token_view(record: PartnerToken, now: datetime) -> dict[str, Any]:
    """What may be shown of a token: never the token, never its digest."""
    return {**record.model_dump(mode="json"), "state": record.state(now)}


def _key_view(key: EditorKey) -> dict[str, Any]:
    """What may be shown of an editor key: never the key, never its digest."""
    return {**key.model_dump(mode="json"), "state": "revoked" if key.revoked_at else "live"}


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


def install(api: FastAPI, registry: Registry, db: Database, admin_token: str | None) -> None:
    """The admin routes; :class:`WeakAdminToken` (the service does not start) for a placeholder
    or guessable token."""
    # Compared as SHA-256 digests: equal lengths, so not even the token's length leaks.
    expected = admin_digests(admin_token)
    # Every body cut at MAX_BODY_BYTES as it streams in, before it is read or parsed.
    limits_of(api).allow("PUT,POST", "/admin/{rest:path}", MAX_BODY_BYTES)

    @api.exception_handler(AdminRefused)
    async def refused(_: Request, exc: AdminRefused) -> JSONResponse:
        return error(exc.status, exc.kind, exc.reason)

    async def authorised(
        request: Request,
        response: Response,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],  # documents it
    ) -> None:
        response.headers.update(NO_STORE)
        if not expected:
            raise AdminRefused(
                503,
                "admin API disabled",
                "the admin API is disabled until FEEDS_ADMIN_TOKEN or FEEDS_ADMIN_TOKEN_FILE is "
                "set for the feeds service",
            )
        given = _bearer(request)
        if given is None:
            raise AdminRefused(
                401, "unauthorized", "no admin token: send 'Authorization: Bearer <admin token>'"
            )
        # Constant-time, and every token compared: how long this takes says nothing about how
        # much of a token was right, nor which one matched.
        digest = hashlib.sha256(given.encode()).digest()
        matches = [hmac.compare_digest(digest, token) for token in expected]
        if not any(matches):
            raise AdminRefused(401, "unauthorized", "this admin token is not valid")

    router = APIRouter(
        prefix="/admin", tags=["admin"], dependencies=[Depends(authorised)], responses=ERRORS
    )

    async def fresh() -> None:
        """Apply a change on this replica now (others within ``registry.ttl``)."""
        registry.forget_tokens()
        await registry.refresh(force=True)

    async def put(coll: Collection, entry: Publisher | Network | Partner) -> bool:
        """Store the entry; True if it is new."""
        result = await db[coll.name].replace_one(
            {"_id": entry.id}, entry.model_dump(exclude={"id"}), upsert=True
        )
        await fresh()
        return result.upserted_id is not None

    async def delete(coll: Collection, kind: str, entry_id: str) -> None:
        result = await db[coll.name].delete_one({"_id": entry_id})
        await fresh()
        if not result.deleted_count:
            raise AdminRefused(404, "not found", f"no {kind} {entry_id!r}")

    async def known_partner(partner_id: str) -> Partner:
        partner = await registry.partner(_slug(partner_id))
        if partner is None:
            known = ", ".join(p.id for p in await registry.partners()) or "none"
            raise AdminRefused(
                404, "not found", f"no partner {partner_id!r}; registered partners: {known}"
            )
        return partner

    def stored(response: Response, created: bool, entry: BaseModel) -> dict[str, Any]:
        response.status_code = 201 if created else 200
        return entry.model_dump(mode="json")

    @router.get(
        "/registry",
        summary="Every publisher, network and partner (no secrets)",
        response_model=RegistryView,
    )
    async def everything() -> dict[str, Any]:
        await registry.refresh(force=True)
        return {
            "publishers": [
                {
                    **p.model_dump(mode="json"),
                    "target_languages": await registry.target_languages(p.id),
                }
                for p in await registry.publishers()
            ],
            "networks": [n.model_dump(mode="json") for n in await registry.networks()],
            "partners": [
                {**p.model_dump(mode="json"), "receives": await registry.partner_publishers(p)}
                for p in await registry.partners()
            ],
        }

    @router.put(
        "/publishers/{publisher_id}",
        summary="Add or replace a publisher",
        response_model=Publisher,
        responses={201: {"model": Publisher, "description": "Added"}},
        openapi_extra=_body(Publisher),
    )
    async def put_publisher(
        publisher_id: str, request: Request, response: Response
    ) -> dict[str, Any]:
        pub = _entry(Publisher, publisher_id, await _read(request))
        return stored(response, await put(PUBLISHERS, pub), pub)

    @router.delete("/publishers/{publisher_id}", summary="Remove a publisher no one lists")
    async def delete_publisher(publisher_id: str) -> dict[str, Any]:
        pub_id = _slug(publisher_id)
        await registry.refresh(force=True)
        nets = [n.id for n in await registry.networks() if pub_id in n.members]
        partners = [p.id for p in await registry.partners() if pub_id in p.publishers]
        if nets or partners:
            where = [f"networks {nets}"] * bool(nets) + [f"partners {partners}"] * bool(partners)
            raise AdminRefused(
                409,
                "still listed",
                f"publisher {pub_id!r} is listed by {' and '.join(where)}: remove it there first",
            )
        # Keys first: a publisher registered again under this id must not inherit them.
        revoked = await revoke_editor_keys(db, publisher=pub_id, now=registry.clock())
        await delete(PUBLISHERS, "publisher", pub_id)
        return {"deleted": pub_id, "keys_revoked": revoked}

    async def known_publisher(publisher_id: str) -> str:
        pub = await registry.publisher(_slug(publisher_id))
        if pub is None:
            raise AdminRefused(
                404, "not found", await registry.unknown_publisher_reason(publisher_id)
            )
        return pub.id

    @router.get(
        "/publishers/{publisher_id}/keys",
        summary="A publisher's editor keys: ids, names, scopes and dates",
        response_model=list[KeyView],  # type: ignore[valid-type]
    )
    async def list_keys(publisher_id: str) -> list[dict[str, Any]]:
        pub_id = await known_publisher(publisher_id)
        return [_key_view(k) for k in await editor_keys(db, pub_id)]

    @router.post(
        "/publishers/{publisher_id}/keys",
        status_code=201,
        summary="Issue an editor key for a publisher (the key is in this answer only)",
        response_model=IssuedKey,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": KeyRequest.model_json_schema()}},
            }
        },
    )
    async def create_key(publisher_id: str, request: Request) -> dict[str, Any]:
        pub_id = await known_publisher(publisher_id)
        try:
            wanted = KeyRequest.model_validate(await _read(request))
        except ValidationError as exc:
            raise AdminRefused(
                422, "invalid key", f"editor key: {describe_validation_error(exc)}"
            ) from None
        key, record = await create_editor_key(db, pub_id, wanted.name, wanted.scopes)
        return {
            "key": key,
            **_key_view(record),
            "detail": "Shown once: only its SHA-256 is kept. Give it to the editor now; "
            "to rotate, issue a new key, hand it over, then revoke the old one.",
        }

    @router.delete(
        "/publishers/{publisher_id}/keys/{key_id}",
        summary="Revoke an editor key (every replica refuses it within seconds)",
    )
    async def revoke_key(publisher_id: str, key_id: str) -> dict[str, Any]:
        pub_id = await known_publisher(publisher_id)
        if not await revoke_editor_keys(db, key_id=key_id, publisher=pub_id, now=registry.clock()):
            raise AdminRefused(
                404, "not found", f"no live editor key {key_id!r} of publisher {pub_id!r}"
            )
        await fresh()
        return {"revoked": key_id, "publisher": pub_id}

    @router.put(
        "/networks/{network_id}",
        summary="Add or replace a network",
        response_model=Network,
        responses={201: {"model": Network, "description": "Added"}},
        openapi_extra=_body(Network),
    )
    async def put_network(network_id: str, request: Request, response: Response) -> dict[str, Any]:
        net = _entry(Network, network_id, await _read(request))
        await registry.refresh(force=True)
        try:
            check_network(net, [p.id for p in await registry.publishers()])
        except ValueError as exc:
            raise AdminRefused(422, "invalid network", str(exc)) from None
        return stored(response, await put(NETWORKS, net), net)

    @router.delete("/networks/{network_id}", summary="Remove a network no partner lists")
    async def delete_network(network_id: str) -> dict[str, Any]:
        net_id = _slug(network_id)
        await registry.refresh(force=True)
        partners = [p.id for p in await registry.partners() if net_id in p.networks]
        if partners:
            raise AdminRefused(
                409,
                "still listed",
                f"network {net_id!r} is listed by partners {partners}: remove it there first",
            )
        await delete(NETWORKS, "network", net_id)
        return {"deleted": net_id}

    @router.put(
        "/partners/{partner_id}",
        summary="Add or replace a partner",
        response_model=Partner,
        responses={201: {"model": Partner, "description": "Added"}},
        openapi_extra=_body(Partner),
    )
    async def put_partner(partner_id: str, request: Request, response: Response) -> dict[str, Any]:
        partner = _entry(Partner, partner_id, await _read(request))
        await registry.refresh(force=True)
        try:
            check_partner(
                partner,
                [p.id for p in await registry.publishers()],
                [n.id for n in await registry.networks()],
            )
        except ValueError as exc:
            raise AdminRefused(422, "invalid partner", str(exc)) from None
        return stored(response, await put(PARTNERS, partner), partner)

    @router.delete("/partners/{partner_id}", summary="Remove a partner and revoke its tokens")
    async def delete_partner(partner_id: str) -> dict[str, Any]:
        partner = await known_partner(partner_id)
        # Tokens first: a partner registered again under this id must not inherit them.
        revoked = await revoke_all_partner_tokens(db, partner.id, registry.clock())
        await delete(PARTNERS, "partner", partner.id)
        return {"deleted": partner.id, "tokens_revoked": revoked}

    @router.get(
        "/partners/{partner_id}/tokens",
        summary="A partner's tokens: ids and dates",
        response_model=list[TokenView],  # type: ignore[valid-type]
    )
    async def list_tokens(partner_id: str) -> list[dict[str, Any]]:
        partner = await known_partner(partner_id)
        now = registry.clock()
        return [_token_view(t, now) for t in await partner_tokens(db, partner.id)]

    @router.post(
        "/partners/{partner_id}/tokens",
        status_code=201,
        summary="Issue a feed token for a partner (the token is in this answer only)",
        response_model=IssuedToken,
    )
    async def create_token(partner_id: str) -> dict[str, Any]:
        partner = await known_partner(partner_id)
        now = registry.clock()
        token, record = await create_partner_token(db, partner.id, now)
        await fresh()
        return {
            "token": token,
            **_token_view(record, now),
            "detail": "Shown once: only its SHA-256 is kept. Give it to the partner now.",
        }

    @router.post(
        "/partners/{partner_id}/tokens/rotate",
        status_code=201,
        summary="Issue a new token; the partner's others keep working for grace_days",
        response_model=RotatedTokens,
    )
    async def rotate_tokens(partner_id: str, grace_days: str | None = None) -> dict[str, Any]:
        partner = await known_partner(partner_id)
        grace = DEFAULT_GRACE
        if grace_days is not None:
            try:
                days = float(grace_days)
            except ValueError:
                days = -1.0
            if not 0 <= days <= MAX_GRACE_DAYS:
                raise AdminRefused(
                    422,
                    "invalid grace period",
                    f"grace_days must be a number of days from 0 to {MAX_GRACE_DAYS}, "
                    f"not {grace_days!r}",
                )
            grace = timedelta(days=days)
        now = registry.clock()
        token, record, previous = await rotate_partner_tokens(db, partner.id, grace, now)
        await fresh()
        return {
            "token": token,
            **_token_view(record, now),
            "previous": [_token_view(t, now) for t in previous],
            "detail": "Shown once: only its SHA-256 is kept. The previous tokens work until "
            "their expires_at.",
        }

    @router.delete("/partners/{partner_id}/tokens/{token_id}", summary="Revoke a token at once")
    async def revoke_token(partner_id: str, token_id: str) -> dict[str, Any]:
        partner = await known_partner(partner_id)
        if not await revoke_partner_token(db, token_id, partner.id, registry.clock()):
            raise AdminRefused(
                404, "not found", f"no unrevoked token {token_id!r} of partner {partner.id!r}"
            )
        await fresh()
        return {"revoked": token_id, "partner": partner.id}

    api.include_router(router)
