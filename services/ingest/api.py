"""The editors' HTTP API. ``POST /articles`` publishes to the same topic as every other client.

Every request carries a publisher's editor key (``Authorization: Bearer <key>`` or ``X-API-Key``);
the key decides which publisher the editor writes as. Any problem is a 4xx with a JSON body
``{"error": ..., "reason": ...}`` that tells a person what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.ingest.article import Prepared, Rejected, WithdrawalRequest
from services.ingest.preparing import preparer
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore, QueuedTranslation, ReviewStep
from services.ingest.text import paragraphs, paragraphs_to_html, sanitise_html
from services.ingest.versions import SCOPES_HEADER, conflict, needed_scope
from shared.bodylimit import limits_of
from shared.contracts import (
    SUBMISSION,
    AnySubmission,
    ArticleStatus,
    HumanTranslation,
    IngestedArticle,
    LanguageTag,
    RetranslationRequest,
    ReviewAction,
    SubmissionMessage,
    Topics,
    Withdrawal,
    utcnow,
)
from shared.glossary import Glossary, GlossaryConflict, GlossaryStore, Term
from shared.messaging import (
    InvalidMessage,
    TransientError,
    decode_json,
    describe_errors,
    describe_validation_error,
    is_transient,
)
from shared.registry import EditorKey
from shared.registry import Scope as KeyScope
from shared.service import Runtime
from shared.storage import TRANSIENT_DB_ERRORS

DESCRIPTION = """\
Submit Persian news articles for translation and syndication.

`POST /articles` takes any of the input forms as JSON: a clean article, an IPTC ninjs document
(`{"ninjs": {...}}`), a raw page (`{"raw_html": "..."}` or `{"raw_text": "..."}`) or a withdrawal
(`{"withdraw": true, "article_id": "..."}`). A raw page can also be sent as it is, with
`Content-Type: text/html` or `text/plain`. The publisher comes from your editor key.
"""


class Accepted(BaseModel):
    article_id: str
    status: str = "accepted"
    form: str
    headline: str | None = None
    published: str | None = None
    published_source: str | None = None
    external_id: str | None = None
    detail: str = "Queued for ingest; GET /articles/{article_id} shows its versions."


class TranslationSubmission(BaseModel):
    """An editor's translation of an article into one of its target languages."""

    model_config = ConfigDict(extra="forbid")

    headline: str = Field(min_length=1, max_length=1000)
    body_html: str | None = Field(default=None, max_length=1_000_000)
    body_text: str | None = Field(default=None, max_length=500_000)
    version: int | None = Field(
        default=None, ge=1, description="The version translated; default: the latest."
    )


class GlossaryEdit(BaseModel):
    """The whole term list of one target language; it becomes the next version."""

    model_config = ConfigDict(extra="forbid")

    terms: list[Term] = Field(max_length=5000)
    version: int | None = Field(
        default=None,
        ge=0,
        description="The version this edit starts from; refused (409) if someone saved since.",
    )


class ErrorBody(BaseModel):
    error: str
    reason: str


#: The routes that take a whole submission (up to INGEST_MAX_SUBMISSION_BYTES); every other route
#: takes shared.bodylimit's small default.
UPLOADS = (
    ("POST", "/articles"),
    ("POST", "/articles/preview"),
    ("PUT", "/articles/{article_id}/translations/{language}"),
    ("PUT", "/glossary/{language}"),
)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422)
}


#: Errors that mean the broker or the database is unreachable: a 503, never the editor's fault.
OUTAGES: tuple[type[Exception], ...] = (
    KafkaError,
    TimeoutError,
    TransientError,
    *TRANSIENT_DB_ERRORS,
)


class Refused(Exception):
    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason


def error(status: int, kind: str, reason: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="ingest"'} if status == 401 else None
    return JSONResponse({"error": kind, "reason": reason}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, stopping as soon as it passes the limit (belt and braces: shared.bodylimit has
    already cut the stream at the route's limit, UPLOADS)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "payload too large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def request_token(request: Request) -> str | None:
    """The editor key a request carries (``Authorization: Bearer`` or ``X-API-Key``)."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")


async def editor_for(rt: Runtime, token: str | None) -> EditorKey:
    """The editor whose key this is; :class:`Refused` (401) with a reason otherwise."""
    if not token:
        raise Refused(
            401,
            "unauthorized",
            "no editor key: send 'Authorization: Bearer <key>' (keys come from "
            "'python -m shared.registry keys create <publisher>')",
        )
    key = await rt.registry.editor_key(token)
    if key is None:
        raise Refused(401, "unauthorized", "this editor key is not valid (unknown or revoked)")
    return key


async def editor(rt: Runtime, request: Request) -> EditorKey:
    return await editor_for(rt, request_token(request))


#: What each scope lets an editor do, as a refusal names it.
SCOPE_ACTIONS: dict[KeyScope, str] = {
    "submit": "submit articles",
    "correct": "correct published articles",
    "withdraw": "withdraw articles",
    "translate": "submit translations",
}


def require(key: EditorKey, scope: KeyScope, what: str) -> None:
    if scope not in key.scopes:
        raise Refused(
            403,
            "forbidden",
            f"key {key.id} may not {what}: it lacks the {scope!r} scope "
            f"(its scopes: {', '.join(key.scopes) or 'none'})",
        )


def submission_from(
    body: bytes, content_type: str, fields: Mapping[str, Any], key: EditorKey
) -> AnySubmission:
    """The submission in any accepted content type, written as the key's publisher. A page
    (``text/html``, ``text/plain``) takes ``fields`` (url, published, …) beside it."""
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml", "text/plain"):
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                f"the page is not valid UTF-8 (byte 0x{body[exc.start]:02x} at {exc.start})"
            ) from None
        field = "raw_text" if ctype == "text/plain" else "raw_html"
        data: Any = {field: raw, **fields}
    elif ctype == "application/json" or ctype.endswith("+json"):
        data = decode_json(body)
    else:
        raise Refused(
            415,
            "unsupported media type",
            f"cannot read {ctype!r}: send application/json, text/html or text/plain",
        )
    if isinstance(data, dict):
        named = data.setdefault("publisher", key.publisher)
        if isinstance(named, str) and named.strip().lower() != key.publisher:
            raise Refused(
                403,
                "forbidden",
                f"this key publishes as {key.publisher!r}; it cannot publish as {named!r}",
            )
    return SUBMISSION.validate_python(data)


class Editors:
    """What an editor can do, whatever the way in: the JSON API below and the editor desk's pages
    (:mod:`services.ingest.desk`) both call these, so both judge, refuse and publish alike."""

    def __init__(
        self,
        rt: Runtime,
        store: ArticleStore,
        settings: IngestSettings,
        glossaries: GlossaryStore,
    ) -> None:
        self.rt = rt
        self.store = store
        self.settings = settings
        self.glossaries = glossaries
        self.limit = settings.max_submission_bytes
        self.preparer = preparer(settings)  # off the event loop, within a time budget

    async def editor(self, token: str | None) -> EditorKey:
        return await editor_for(self.rt, token)

    async def judge(
        self, key: EditorKey, body: bytes, content_type: str, fields: Mapping[str, Any]
    ) -> tuple[AnySubmission, Prepared | WithdrawalRequest]:
        """The submission and what ingest would make of it; :class:`Refused` with the reason."""
        try:
            sub = submission_from(body, content_type, fields, key)
            publisher = await self.rt.registry.publisher(key.publisher)
            if publisher is None:
                raise InvalidMessage(await self.rt.registry.unknown_publisher_reason(key.publisher))
            return sub, await self.preparer.prepare(sub, publisher, utcnow())
        except ValidationError as exc:
            raise Refused(422, "invalid article", describe_validation_error(exc)) from None
        except (InvalidMessage, Rejected) as exc:
            raise Refused(422, "invalid article", str(exc)) from None

    async def accept(
        self, change: Prepared | WithdrawalRequest, sub: AnySubmission, key: EditorKey
    ) -> Accepted:
        await self.rt.broker.publish(
            sub.model_dump(mode="json", exclude_none=True),
            topic=Topics.SUBMITTED,
            key=change.article_id.encode(),
            headers={SCOPES_HEADER: ",".join(key.scopes)},  # the consumer checks them again
        )
        if isinstance(change, WithdrawalRequest):
            return Accepted(article_id=change.article_id, form=sub.form, status="withdrawing")
        c = change.content
        return Accepted(
            article_id=change.article_id,
            form=sub.form,
            headline=c["headline"],
            published=c["published"].isoformat(),
            published_source=c["published_source"],
            external_id=c["external_id"],
        )

    async def submit(
        self, key: EditorKey, sub: AnySubmission, change: Prepared | WithdrawalRequest
    ) -> Accepted:
        """Publish a judged submission if the key may do what it does to the stored article:
        judged on the prepared change, whatever form it came in (a ninjs ``canceled`` is a
        withdrawal). The consumer judges it again, on the article as it is by then."""
        latest = await self.store.latest(change.article_id)
        if latest and (problem := conflict(latest.publisher, latest.external_id, change)):
            if latest.publisher != key.publisher:
                raise Refused(422, "invalid article", str(problem))
            raise Refused(409, "external id conflict", str(problem))
        need = needed_scope(change, latest.content_hash if latest else None)
        require(key, need, SCOPE_ACTIONS[need])
        return await self.accept(change, sub, key)

    @staticmethod
    def preview(sub: AnySubmission, change: Prepared | WithdrawalRequest) -> dict[str, Any]:
        if isinstance(change, WithdrawalRequest):
            return {"article_id": change.article_id, "form": sub.form, "withdraw": True}
        return {"article_id": change.article_id, "form": sub.form, **change.content}

    async def withdraw(self, key: EditorKey, article_id: str, reason: str | None) -> Accepted:
        require(key, "withdraw", "withdraw articles")
        await self.owned(article_id, key)
        sub = Withdrawal(
            publisher=key.publisher, withdraw=True, article_id=article_id, reason=reason
        )
        return await self.accept(
            WithdrawalRequest(article_id, reason, publisher=key.publisher), sub, key
        )

    async def recent(self, key: EditorKey, limit: int) -> list[dict[str, Any]]:
        """The key's publisher's articles, the most recently changed first, each with its
        state per target language."""
        return [
            {
                "article_id": h["_id"],
                "headline": h.get("headline"),
                "version": h["version"],
                "status": h["status"],
                "announced_version": h.get("announced_version", 0),
                "embargo_until": h.get("embargo_until"),
                "updated_at": h["updated_at"],
                "languages": await self.languages(key.publisher, h["version"], h),
            }
            for h in await self.store.recent(key.publisher, limit)
        ]

    async def show(self, key: EditorKey, article_id: str) -> dict[str, Any]:
        head, versions = await self.owned(article_id, key)
        latest = versions[-1]["event"]
        return {
            "article_id": article_id,
            "version": len(versions),
            "status": latest["status"],
            "announced_version": head.get("announced_version", 0) if head else 0,
            "embargo_until": versions[-1].get("embargo_until"),
            "article": latest,
            "versions": [
                {
                    "version": v["version"],
                    "status": v["event"]["status"],
                    "headline": v["event"]["headline"],
                    "content_hash": v["content_hash"],
                    "ingested_at": v["event"]["ingested_at"],
                }
                for v in versions
            ],
            "languages": await self.languages(latest["publisher"], len(versions), head),
        }

    async def owned(
        self, article_id: str, key: EditorKey
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The article if it is the key's publisher's (404 otherwise, without saying whose)."""
        head, versions = await self.store.article(article_id)
        if not versions or versions[-1]["event"]["publisher"] != key.publisher:
            raise Refused(
                404, "not found", f"no article {article_id!r} of {key.publisher!r} (yet?)"
            )
        return head, versions

    async def languages(
        self, publisher: str, version: int, head: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Each target language's state: published (which version, how) or pending."""
        reported = (head or {}).get("languages") or {}
        targets = await self.rt.registry.target_languages(publisher)
        out: dict[str, Any] = {}
        for lang in dict.fromkeys([*targets, *reported]):
            done = reported.get(lang)
            if done is None:
                out[lang] = {"status": "pending"}
            else:
                current = done["version"] >= version
                out[lang] = {**done, "status": done["status"] if current else "updating"}
                if out[lang]["status"] == "held":  # what the editor is to look at
                    out[lang]["reasons"] = done.get("check_failures") or []
        return out

    async def target_language(self, publisher: str, language: str) -> None:
        targets = await self.rt.registry.target_languages(publisher)
        if language not in targets:
            raise Refused(
                422,
                "not a target language",
                f"{publisher} is not translated into {language!r} "
                f"(target languages: {', '.join(targets) or 'none'})",
            )

    async def translate(
        self,
        key: EditorKey,
        article_id: str,
        language: str,
        body: TranslationSubmission,
        review: ReviewAction = ReviewAction.EDITED,
    ) -> dict[str, Any]:
        """Publish an editor's translation: the human, reviewed version for that language
        (``review``: ``approved`` when it is a held machine translation approved as it is)."""
        require(key, "translate", "submit translations")
        _, versions = await self.owned(article_id, key)
        latest = IngestedArticle.model_validate(versions[-1]["event"])
        await self.target_language(latest.publisher, language)
        if body.version is not None and body.version != latest.version:
            raise Refused(
                409,
                "outdated version",
                f"version {body.version} was replaced by version {latest.version}; "
                "translate the latest version",
            )
        if latest.status is ArticleStatus.WITHDRAWN:
            raise Refused(409, "withdrawn", f"{article_id} is withdrawn; nothing to translate")
        html = sanitise_html(body.body_html) if body.body_html else ""
        if not html and body.body_text:
            html = paragraphs_to_html(paragraphs(body.body_text))
        if not html:
            raise Refused(422, "invalid translation", "body_html or body_text must have text")
        human = HumanTranslation(
            **latest.model_dump(
                include={"article_id", "version", "publisher", "url", "subjects", "byline",
                         "images", "published"}
            ),
            language=language,
            headline=body.headline.strip(),
            body_html=html,
            source_language=latest.language,
            translated_by=f"{key.name} ({key.id})",
            submitted_at=utcnow(),
            review=review,
        )  # fmt: skip
        await self.rt.broker.publish(
            human.model_dump(mode="json"),
            topic=Topics.HUMAN_TRANSLATIONS,
            key=article_id.encode(),
        )
        return {
            "article_id": article_id,
            "version": latest.version,
            "language": language,
            "status": "accepted",
            "review": review.value,
            "detail": "Published as a human, reviewed translation within seconds.",
        }

    # ------------------------------------------------------------------ the review queue

    async def review_count(self, key: EditorKey) -> int:
        return await self.store.review_count(key.publisher)

    async def review_queue(
        self, key: EditorKey, language: str | None = None
    ) -> list[QueuedTranslation]:
        """The translations of the key's publisher that wait for an editor, newest first."""
        return await self.store.review_queue(key.publisher, language)

    async def queued(self, key: EditorKey, article_id: str, language: str) -> QueuedTranslation:
        """One entry of the key's publisher's queue (404 otherwise, without saying whose)."""
        await self.owned(article_id, key)
        entry = await self.store.queued(article_id, language)
        if entry is None or entry.publisher != key.publisher:
            raise Refused(
                404, "not found", f"no {language!r} translation of {article_id!r} waits for review"
            )
        return entry

    def unsettled(self, entry: QueuedTranslation) -> None:
        if entry.step is not None:
            raise Refused(
                409,
                "already settled",
                f"{entry.step_by} has {entry.step} this translation already; it leaves the "
                "queue within seconds",
            )

    async def approve_held(
        self, key: EditorKey, entry: QueuedTranslation, edited: TranslationSubmission | None
    ) -> QueuedTranslation:
        """Approve a queued machine translation as it is (``edited`` None), or the editor's
        edit of it: either way it becomes the human, reviewed version of that language."""
        require(key, "translate", "review translations")
        self.unsettled(entry)
        t = entry.translation
        body = edited or TranslationSubmission(headline=t.headline, body_html=t.body_html)
        body = body.model_copy(update={"version": entry.version})  # what the editor saw
        review = ReviewAction.EDITED if edited else ReviewAction.APPROVED
        await self.translate(key, entry.article_id, entry.language, body, review)
        step: ReviewStep = "edited" if edited else "approved"
        return await self.store.mark_step(entry, step, f"{key.name} ({key.id})")

    async def send_back(self, key: EditorKey, entry: QueuedTranslation) -> QueuedTranslation:
        """Ask translate for another engine or model than the one that made this text."""
        require(key, "translate", "review translations")
        self.unsettled(entry)
        _, versions = await self.owned(entry.article_id, key)
        latest = versions[-1]
        if latest["version"] != entry.version:
            raise Refused(
                409,
                "outdated version",
                f"version {entry.version} was replaced by version {latest['version']}, which "
                "is being translated already",
            )
        article = IngestedArticle.model_validate(latest["event"])
        if article.status is ArticleStatus.WITHDRAWN:
            raise Refused(409, "withdrawn", f"{entry.article_id} is withdrawn")
        p = entry.translation.provenance
        by = f"{key.name} ({key.id})"
        request = RetranslationRequest(
            article=article,
            language=entry.language,
            exclude=[x for x in dict.fromkeys((p.engine, p.model)) if x],
            requested_by=by,
        )
        await self.rt.broker.publish(
            request.model_dump(mode="json"),
            topic=Topics.RETRANSLATIONS,
            key=entry.article_id.encode(),
        )
        return await self.store.mark_step(entry, "sent back", by)


def install(
    api: FastAPI,
    rt: Runtime,
    store: ArticleStore,
    settings: IngestSettings,
    glossaries: GlossaryStore,
) -> Editors:
    """The JSON API's routes; the :class:`Editors` they use, for the desk's pages."""
    limit = settings.max_submission_bytes
    limits = limits_of(api)  # cut on the bytes streamed, before any parsing
    for method, path in UPLOADS:
        limits.allow(method, path, limit)
    editors = Editors(rt, store, settings, glossaries)

    @api.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.kind, exc.reason)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own checks of parameters (a limit out of range, a language that is no
        language tag) refuse in the same shape as every other refusal, as documented."""
        return error(422, "invalid request", describe_errors(exc.errors()))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        """An outage is the server's problem, not the editor's: say so, and when to retry."""
        if not is_transient(exc):
            rt.log.error("unexpected error", exc_info=exc)
            return error(500, "internal error", "an unexpected error; it has been logged")
        rt.log.warning("refused a request during an outage", extra={"error": repr(exc)})
        response = error(503, "unavailable", "the broker or the database is unreachable; retry")
        response.headers["Retry-After"] = "5"
        return response

    for outage in OUTAGES:
        api.add_exception_handler(outage, unavailable)

    async def judge(
        request: Request,
    ) -> tuple[EditorKey, AnySubmission, Prepared | WithdrawalRequest]:
        key = await editor(rt, request)
        body = await read_body(request, limit)
        ctype = request.headers.get("content-type", "application/json")
        sub, change = await editors.judge(key, body, ctype, dict(request.query_params))
        return key, sub, change

    @api.post(
        "/articles",
        status_code=202,
        response_model=Accepted,
        responses=ERRORS,
        summary="Submit an article, a correction or a withdrawal, in any input form",
        openapi_extra={"requestBody": _request_body()},
    )
    async def submit(request: Request) -> Accepted:
        key, sub, change = await judge(request)
        return await editors.submit(key, sub, change)

    @api.post(
        "/articles/preview",
        responses=ERRORS,
        summary="What ingest would make of a submission, without publishing it",
        openapi_extra={"requestBody": _request_body()},
    )
    async def preview(request: Request) -> dict[str, Any]:
        _, sub, change = await judge(request)
        return editors.preview(sub, change)

    @api.delete(
        "/articles/{article_id}",
        status_code=202,
        response_model=Accepted,
        responses=ERRORS,
        summary="Withdraw an article from every feed, in every language",
    )
    async def withdraw(article_id: str, request: Request, reason: str | None = None) -> Accepted:
        return await editors.withdraw(await editor(rt, request), article_id, reason)

    @api.get(
        "/articles",
        responses=ERRORS,
        summary="Your publisher's articles, the most recently changed first",
    )
    async def recent(
        request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> list[dict[str, Any]]:
        return await editors.recent(await editor(rt, request), limit)

    @api.get(
        "/articles/{article_id}",
        responses=ERRORS,
        summary="An article: its latest version, every version, and its status per language",
    )
    async def show(article_id: str, request: Request) -> dict[str, Any]:
        return await editors.show(await editor(rt, request), article_id)

    async def json_body(request: Request, model: type[BaseModel], what: str) -> Any:
        try:
            return model.model_validate(decode_json(await read_body(request, limit)))
        except ValidationError as exc:
            raise Refused(422, f"invalid {what}", describe_validation_error(exc)) from None
        except InvalidMessage as exc:
            raise Refused(422, f"invalid {what}", str(exc)) from None

    @api.put(
        "/articles/{article_id}/translations/{language}",
        status_code=202,
        responses=ERRORS,
        summary="Publish your own translation of an article (it replaces the machine one)",
    )
    async def translate_by_hand(
        article_id: str, language: LanguageTag, request: Request
    ) -> dict[str, Any]:
        key = await editor(rt, request)
        require(key, "translate", "submit translations")
        await editors.owned(article_id, key)
        body: TranslationSubmission = await json_body(request, TranslationSubmission, "translation")
        return await editors.translate(key, article_id, language, body)

    @api.get(
        "/review",
        responses=ERRORS,
        summary="Machine translations waiting for an editor: held, or published with failed "
        "checks (the newest first)",
    )
    async def review_queue(
        request: Request, language: LanguageTag | None = None
    ) -> list[QueuedTranslation]:
        return await editors.review_queue(await editor(rt, request), language)

    @api.get("/glossary/{language}", responses=ERRORS, summary="Your glossary for a language")
    async def glossary(language: LanguageTag, request: Request) -> Glossary:
        key = await editor(rt, request)
        found = await glossaries.get(key.publisher, language, fresh=True)
        return found or Glossary(publisher=key.publisher, language=language)

    @api.put(
        "/glossary/{language}",
        responses=ERRORS,
        summary="Replace your glossary for a language (a new version; applies within seconds)",
    )
    async def edit_glossary(language: LanguageTag, request: Request) -> Glossary:
        key = await editor(rt, request)
        require(key, "translate", "edit the glossary")
        body: GlossaryEdit = await json_body(request, GlossaryEdit, "glossary")
        await editors.target_language(key.publisher, language)
        publisher = await rt.registry.publisher(key.publisher)
        try:
            return await glossaries.put(
                key.publisher,
                language,
                body.terms,
                source_language=publisher.language if publisher else "fa",
                by=f"{key.name} ({key.id})",
                expected_version=body.version,
            )
        except GlossaryConflict as exc:
            raise Refused(409, "glossary changed", f"{exc}; reload it and edit again") from None

    def custom_openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, description=api.description, routes=api.routes
            )
            defs = TypeAdapter(SubmissionMessage).json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            components["Submission"] = defs
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = custom_openapi  # type: ignore[method-assign]
    return editors


def _request_body() -> dict[str, Any]:
    page = {"type": "string", "description": "The page, as it is (publisher from the key)."}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Submission"}},
            "text/html": {"schema": page},
            "text/plain": {"schema": page},
        },
    }
