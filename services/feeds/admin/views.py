"""What the admin API shows: its answers' models (only their fields ever leave: a response model
filters, so a token's digest never does), the request bodies it documents, and the views of
secrets (an id and dates, never the secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.feeds.web import ErrorBody
from shared.registry import EditorKey, Network, Partner, PartnerToken, Publisher, Scope, TokenState

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422, 503)
}


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


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body of ``schema`` (the routes read the
    body themselves, to refuse it readably)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def entry_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a PUT: the entry's fields, as in the registry file."""
    schema = model.model_json_schema()
    schema["required"] = [name for name in schema.get("required", []) if name != "id"]
    schema["properties"]["id"] = {
        **schema["properties"]["id"],
        "description": "Optional; when given, the same as the path's id.",
    }
    return request_body(schema)


def put_docs(model: type[BaseModel]) -> dict[str, Any]:
    """How a PUT of a registry entry is documented: the entry's fields as the body, the entry as
    stored as the answer (201 when it is new)."""
    return {
        "response_model": model,
        "responses": {201: {"model": model, "description": "Added"}},
        "openapi_extra": entry_body(model),
    }


def token_view(record: PartnerToken, now: datetime) -> dict[str, Any]:
    """What may be shown of a token: never the token, never its digest."""
    return {**record.model_dump(mode="json"), "state": record.state(now)}


def key_view(key: EditorKey) -> dict[str, Any]:
    """What may be shown of an editor key: never the key, never its digest."""
    return {**key.model_dump(mode="json"), "state": "revoked" if key.revoked_at else "live"}


def stored(response: Response, created: bool, entry: BaseModel) -> dict[str, Any]:
    """A PUT's answer: the entry as stored, 201 when it is new."""
    response.status_code = 201 if created else 200
    return entry.model_dump(mode="json")
