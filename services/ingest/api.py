"""The editors' HTTP API: ``POST /articles`` publishes to the same topic as everyone else."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.article import prepare
from services.ingest.store import ArticleStore
from shared.contracts import SubmittedArticle, Topics, utcnow
from shared.messaging import describe_errors
from shared.service import Runtime


class Accepted(BaseModel):
    article_id: str
    status: str = "accepted"
    detail: str = "Queued for ingest; GET /articles/{article_id} shows its versions."


class ErrorBody(BaseModel):
    error: str
    reason: str


def error(status: int, kind: str, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": kind, "reason": reason, **extra}, status_code=status)


class BodyLimit:
    """Refuse oversized bodies before reading them (413 with a JSON reason)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                response = error(
                    413,
                    "payload too large",
                    f"the body is {int(length)} bytes; the limit is {self.max_bytes} bytes",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(api: FastAPI, rt: Runtime, store: ArticleStore, max_bytes: int) -> None:
    api.add_middleware(BodyLimit, max_bytes=max_bytes)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {**e, "loc": tuple(e["loc"])[1:] if e["loc"][:1] == ("body",) else e["loc"]}
            for e in exc.errors()
        ]
        reason = describe_errors(errors)
        return error(422, "invalid article", reason)

    @api.post(
        "/articles",
        status_code=202,
        response_model=Accepted,
        responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
        summary="Submit an article (or a new version of one)",
    )
    async def submit(article: SubmittedArticle) -> Accepted | JSONResponse:
        publisher = await rt.registry.publisher(article.publisher)
        if publisher is None:
            reason = await rt.registry.unknown_publisher_reason(article.publisher)
            return error(422, "invalid article", reason)
        try:
            prepared = prepare(article, publisher, utcnow())
        except ValueError as exc:
            return error(422, "invalid article", str(exc))
        await rt.broker.publish(
            article.model_dump(mode="json", exclude_none=True),
            topic=Topics.SUBMITTED,
            key=prepared.article_id.encode(),
        )
        return Accepted(article_id=prepared.article_id)

    @api.get(
        "/articles/{article_id}",
        response_model=None,
        responses={404: {"model": ErrorBody}},
        summary="An article, its versions and its status",
    )
    async def show(article_id: str) -> dict[str, Any] | JSONResponse:
        head = await store.latest(article_id)
        if head is None:
            return error(404, "not found", f"no article {article_id!r} (it may still be queued)")
        head["article_id"] = head.pop("_id")
        head["versions"] = await store.versions_of(article_id)
        return head
