"""The feeds service's HTTP conventions beyond :mod:`shared.web`: one refusal model in the
OpenAPI document for the admin API and the public routes alike, the public routes' refusals, and
the app state that the surfaces' declared dependencies read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.web import error_response

T = TypeVar("T")
#: The ``error`` of a public refusal, by its status.
TITLES = {401: "unauthorized", 404: "not found", 410: "gone"}
#: The ``code`` of a public refusal that names none, by its status (docs/architecture.md,
#: "Refusal codes"): a feed or entry not found, a partner feed's token not valid, an entry
#: withdrawn by its publisher.
CODES = {401: "feed_token_invalid", 404: "not_found", 410: "article_withdrawn"}


class ErrorBody(BaseModel):
    """Every refusal's JSON body (:mod:`shared.web`)."""

    error: str = Field(description="The kind of refusal, in English words: 'not found'.")
    code: str = Field(
        description="What was refused, for programs: stable, snake_case "
        "(docs/architecture.md lists them all)."
    )
    reason: str = Field(description="What to change, in English, for a person; it may change.")


def error(
    status: int,
    reason: str,
    headers: Mapping[str, str] | None = None,
    *,
    code: str | None = None,
) -> JSONResponse:
    """A public route's refusal (a feed, an entry): returned, not raised, since the feed
    documents are also answered outside the routes (``http.server.FeedDocuments``)."""
    kind = TITLES.get(status, "error")
    return error_response(status, kind, reason, headers=headers, code=code or CODES.get(status))


def app_state(request: Request, name: str, kind: type[T]) -> T:
    """What a surface's ``install`` keeps on the app under ``name`` (the feed server, the admin
    API's registry and tokens): routes declare it as a dependency instead of closing over it."""
    found = getattr(request.app.state, name, None)
    if not isinstance(found, kind):
        raise TypeError(f"no {kind.__name__} on this app: its install() has not run")
    return found
