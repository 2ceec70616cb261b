"""The editors' API routes: each declares who may call it (:mod:`.auth`) and calls one
:class:`~services.ingest.api.editors.Editors` operation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from services.ingest.api.auth import (
    ArticleTranslator,
    Editor,
    EditorsOf,
    GlossaryEditor,
)
from services.ingest.api.bodies import ERRORS, Accepted, GlossaryEdit, TranslationSubmission
from services.ingest.api.openapi import submission_body
from services.ingest.article import PreparedVersion, WithdrawalRequest
from services.ingest.store import QueuedTranslation
from shared.contracts import AnySubmission, LanguageTag
from shared.glossary import Glossary, GlossaryConflict
from shared.messaging import InvalidMessage, decode_json, describe_validation_error
from shared.registry import EditorKey
from shared.web import Refused

#: The routes that take a whole submission (up to INGEST_MAX_SUBMISSION_BYTES); every other route
#: takes shared.bodylimit's small default.
UPLOADS = (
    ("POST", "/articles"),
    ("POST", "/articles/preview"),
    ("PUT", "/articles/{article_id}/translations/{language}"),
    ("PUT", "/glossary/{language}"),
)


class ParametersFirst(APIRoute):
    """A route that checks its own path and query parameters before its dependencies run: a
    malformed request (a limit out of range, a language that is no language tag) is the 422 it
    always was, before the key is looked up, whoever sends it. FastAPI alone runs dependencies
    first, and the key is one here (:mod:`.auth`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        path_params, query_params = self.dependant.path_params, self.dependant.query_params

        async def checked(request: Request) -> Response:
            _, path_errors = request_params_to_args(path_params, request.path_params)
            _, query_errors = request_params_to_args(query_params, request.query_params)
            if path_errors or query_errors:
                raise RequestValidationError(path_errors + query_errors)
            return await handler(request)

        return checked


router = APIRouter(route_class=ParametersFirst)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, stopping as soon as it passes the limit (belt and braces: shared.bodylimit has
    already cut the stream at the route's limit, UPLOADS)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            reason = f"the body is over the limit of {limit} bytes"
            raise Refused(413, "payload too large", reason, code="payload_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


#: The refusal code of a body that is not the model: ``translation_invalid``, ``glossary_invalid``.
INVALID_BODY = {TranslationSubmission: "translation_invalid", GlossaryEdit: "glossary_invalid"}


async def json_body(request: Request, limit: int, model: type[BaseModel], what: str) -> Any:
    code = INVALID_BODY.get(model, "request_invalid")
    try:
        return model.model_validate(decode_json(await read_body(request, limit)))
    except ValidationError as exc:
        raise Refused(422, f"invalid {what}", describe_validation_error(exc), code=code) from None
    except InvalidMessage as exc:
        raise Refused(422, f"invalid {what}", str(exc), code=code) from None


class Judged(NamedTuple):
    """A submission as the editor sent it, and what ingest would make of it."""

    key: EditorKey
    sub: AnySubmission
    change: PreparedVersion | WithdrawalRequest


async def judged(request: Request, key: Editor, editors: EditorsOf) -> Judged:
    """The request's submission, in any content type (a page's fields in the query), judged."""
    body = await read_body(request, editors.limit)
    ctype = request.headers.get("content-type", "application/json")
    sub, change = await editors.judge(key, body, ctype, dict(request.query_params))
    return Judged(key, sub, change)


Judge = Annotated[Judged, Depends(judged)]


@router.post(
    "/articles",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Submit an article, a correction or a withdrawal, in any input form",
    openapi_extra={"requestBody": submission_body()},
)
async def submit(judged: Judge, editors: EditorsOf) -> Accepted:
    return await editors.submit(judged.key, judged.sub, judged.change)


@router.post(
    "/articles/preview",
    responses=ERRORS,
    summary="What ingest would make of a submission, without publishing it",
    openapi_extra={"requestBody": submission_body()},
)
async def preview(judged: Judge, editors: EditorsOf) -> dict[str, Any]:
    return editors.preview(judged.sub, judged.change)


@router.delete(
    "/articles/{article_id}",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Withdraw an article from every feed, in every language",
)
async def withdraw(
    article_id: str, key: Editor, editors: EditorsOf, reason: str | None = None
) -> Accepted:
    return await editors.withdraw(key, article_id, reason)


@router.get(
    "/articles",
    responses=ERRORS,
    summary="Your publisher's articles, the most recently changed first",
)
async def recent(
    key: Editor, editors: EditorsOf, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    return await editors.recent(key, limit)


@router.get(
    "/articles/{article_id}",
    responses=ERRORS,
    summary="An article: its latest version, every version, and its status per language",
)
async def show(article_id: str, key: Editor, editors: EditorsOf) -> dict[str, Any]:
    return await editors.show(key, article_id)


@router.put(
    "/articles/{article_id}/translations/{language}",
    status_code=202,
    responses=ERRORS,
    summary="Publish your own translation of an article (it replaces the machine one)",
)
async def translate_by_hand(
    article_id: str,
    language: LanguageTag,
    request: Request,
    key: ArticleTranslator,
    editors: EditorsOf,
) -> dict[str, Any]:
    limit = editors.limit
    body: TranslationSubmission = await json_body(
        request, limit, TranslationSubmission, "translation"
    )
    return await editors.translate(key, article_id, language, body)


@router.get(
    "/review",
    responses=ERRORS,
    summary="Machine translations waiting for an editor: held, or published with failed "
    "checks (the newest first)",
)
async def review_queue(
    key: Editor, editors: EditorsOf, language: LanguageTag | None = None
) -> list[QueuedTranslation]:
    return await editors.review_queue(key, language)


@router.get("/glossary/{language}", responses=ERRORS, summary="Your glossary for a language")
async def glossary(language: LanguageTag, key: Editor, editors: EditorsOf) -> Glossary:
    found = await editors.glossaries.get(key.publisher, language, fresh=True)
    return found or Glossary(publisher=key.publisher, language=language)


@router.put(
    "/glossary/{language}",
    responses=ERRORS,
    summary="Replace your glossary for a language (a new version; applies within seconds)",
)
async def edit_glossary(
    language: LanguageTag, request: Request, key: GlossaryEditor, editors: EditorsOf
) -> Glossary:
    body: GlossaryEdit = await json_body(request, editors.limit, GlossaryEdit, "glossary")
    await editors.target_language(key.publisher, language)
    publisher = await editors.rt.registry.publisher(key.publisher)
    try:
        return await editors.glossaries.put(
            key.publisher,
            language,
            body.terms,
            source_language=publisher.language if publisher else "fa",
            by=f"{key.name} ({key.id})",
            expected_version=body.version,
        )
    except GlossaryConflict as exc:
        reason = f"{exc}; reload it and edit again"
        raise Refused(409, "glossary changed", reason, code="glossary_changed") from None
