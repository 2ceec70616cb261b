"""The feeds service's HTTP conventions beyond :mod:`shared.web`: one refusal model in the
OpenAPI document for the admin API and the public routes alike, the public routes' refusals, and
the app state that the surfaces' declared dependencies read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.web import error_response

T = TypeVar("T")
#: The ``error`` of a public refusal, by its status.
TITLES = {401: "unauthorized", 404: "not found", 410: "gone"}


class ErrorBody(BaseModel):
    error: str
    reason: str


def error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A public route's refusal (a feed, an entry): returned, not raised, since the feed
    documents are also answered outside the routes (``http.server.FeedDocuments``)."""
    return error_response(status, TITLES.get(status, "error"), reason, headers=headers)


def app_state(request: Request, name: str, kind: type[T]) -> T:
    """What a surface's ``install`` keeps on the app under ``name`` (the feed server, the admin
    API's registry and tokens): routes declare it as a dependency instead of closing over it."""
    found = getattr(request.app.state, name, None)
    if not isinstance(found, kind):
        raise TypeError(f"no {kind.__name__} on this app: its install() has not run")
    return found
