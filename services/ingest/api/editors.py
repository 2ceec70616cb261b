"""What an editor can do, whatever the way in: the operations behind the JSON API
(:mod:`services.ingest.api.routes`) and the editor desk's pages (:mod:`services.ingest.desk`), so
both judge, refuse and publish alike. Each refuses with a reason (:class:`shared.web.Refused`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.ingest.api.bodies import Accepted, TranslationSubmission
from services.ingest.article import PreparedVersion, Rejected, WithdrawalRequest
from services.ingest.preparing import preparer
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore, QueuedTranslation, ReviewStep
from services.ingest.text import paragraphs, paragraphs_to_html, sanitise_html
from services.ingest.versions import SCOPES_HEADER, conflict, needed_scope
from shared.contracts import (
    SUBMISSION,
    AnySubmission,
    ArticleStatus,
    HumanTranslation,
    IngestedArticle,
    RetranslationRequest,
    ReviewAction,
    Topics,
    Withdrawal,
    utcnow,
)
from shared.glossary import GlossaryStore
from shared.messaging import (
    InvalidMessage,
    TransientError,
    decode_json,
    describe_validation_error,
)
from shared.registry import EditorKey, same_language
from shared.registry import Scope as KeyScope
from shared.service import Runtime
from shared.web import Refused


async def editor_for(rt: Runtime, token: str | None) -> EditorKey:
    """The editor whose key this is; :class:`Refused` (401) with a reason otherwise."""
    if not token:
        raise Refused(
            401,
            "unauthorized",
            "no editor key: send 'Authorization: Bearer <key>' (keys come from "
            "'python -m tools.registry keys create <publisher>')",
            code="key_missing",
        )
    key = await rt.registry.editor_key(token)
    if key is None:
        raise Refused(
            401,
            "unauthorized",
            "this editor key is not valid (unknown or revoked)",
            code="key_invalid",
        )
    return key


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
            code="key_scope_missing",
        )


def utf8_text(body: bytes) -> str:
    """The body as text; :class:`Refused` (``upload_not_utf8``) naming the first bad byte."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(
            422,
            "invalid article",
            f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at {exc.start})",
            code="upload_not_utf8",
        ) from None


def submission_from(
    body: bytes, content_type: str, fields: Mapping[str, Any], key: EditorKey
) -> AnySubmission:
    """The submission in any accepted content type, written as the key's publisher. A page
    (``text/html``, ``text/plain``) takes ``fields`` (url, published, …) beside it."""
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml", "text/plain"):
        field = "raw_text" if ctype == "text/plain" else "raw_html"
        data: Any = {field: utf8_text(body), **fields}
    elif ctype == "application/json" or ctype.endswith("+json"):
        data = decode_json(utf8_text(body))  # not UTF-8: the same refusal whatever the form
    else:
        raise Refused(
            415,
            "unsupported media type",
            f"cannot read {ctype!r}: send application/json, text/html or text/plain",
            code="media_type_unsupported",
        )
    if isinstance(data, dict):
        named = data.setdefault("publisher", key.publisher)
        if isinstance(named, str) and named.strip().lower() != key.publisher:
            raise Refused(
                403,
                "forbidden",
                f"this key publishes as {key.publisher!r}; it cannot publish as {named!r}",
                code="publisher_mismatch",
            )
    return SUBMISSION.validate_python(data)


class Editors:
    """What an editor can do, whatever the way in: the JSON API (:mod:`.routes`) and the editor
    desk's pages (:mod:`services.ingest.desk`) both call these, so both judge, refuse and publish
    alike."""

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

    async def publish(
        self, message: dict[str, Any], topic: str, key: str, headers: dict[str, str] | None = None
    ) -> None:
        """Publish within ``publish_timeout_seconds``, else a :class:`TransientError` (a 503).
        The idempotent producer never gives up on its own while the cluster lacks in-sync
        replicas, and an editor's request must not hang as long; the record stays queued and
        may still arrive, which a resubmission makes no worse (ingest knows a repeat)."""
        seconds, broker = self.settings.publish_timeout_seconds, self.rt.broker
        try:
            async with asyncio.timeout(seconds):
                await broker.publish(message, topic=topic, key=key.encode(), headers=headers)
        except TimeoutError:
            raise TransientError(f"the broker acknowledged nothing within {seconds:g} s") from None

    async def judge(
        self, key: EditorKey, body: bytes, content_type: str, fields: Mapping[str, Any]
    ) -> tuple[AnySubmission, PreparedVersion | WithdrawalRequest]:
        """The submission and what ingest would make of it; :class:`Refused` with the reason."""
        try:
            sub = submission_from(body, content_type, fields, key)
            publisher = await self.rt.registry.publisher(key.publisher)
            if publisher is None:
                reason = await self.rt.registry.unknown_publisher_reason(key.publisher)
                raise Refused(422, "invalid article", reason, code="publisher_unknown")
            return sub, await self.preparer.prepare(sub, publisher, utcnow())
        except ValidationError as exc:
            reason = describe_validation_error(exc)
            raise Refused(422, "invalid article", reason, code="article_invalid") from None
        except (InvalidMessage, Rejected) as exc:
            raise Refused(422, "invalid article", str(exc), code="article_invalid") from None

    async def accept(
        self, change: PreparedVersion | WithdrawalRequest, sub: AnySubmission, key: EditorKey
    ) -> Accepted:
        await self.publish(
            sub.model_dump(mode="json", exclude_none=True),
            topic=Topics.SUBMITTED,
            key=change.article_id,
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
        self, key: EditorKey, sub: AnySubmission, change: PreparedVersion | WithdrawalRequest
    ) -> Accepted:
        """Publish a judged submission if the key may do what it does to the stored article:
        judged on the prepared change, whatever form it came in (a ninjs ``canceled`` is a
        withdrawal). The consumer judges it again, on the article as it is by then."""
        latest = await self.store.latest(change.article_id)
        if latest and (problem := conflict(latest.publisher, latest.external_id, change)):
            if latest.publisher != key.publisher:
                raise Refused(422, "invalid article", str(problem), code="article_not_owned")
            raise Refused(409, "external id conflict", str(problem), code="external_id_conflict")
        need = needed_scope(change, latest.content_hash if latest else None)
        require(key, need, SCOPE_ACTIONS[need])
        return await self.accept(change, sub, key)

    @staticmethod
    def preview(sub: AnySubmission, change: PreparedVersion | WithdrawalRequest) -> dict[str, Any]:
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
            "languages": await self.languages(
                latest["publisher"], len(versions), head, latest.get("language")
            ),
        }

    async def owned(
        self, article_id: str, key: EditorKey
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The article if it is the key's publisher's (404 otherwise, without saying whose)."""
        head, versions = await self.store.article(article_id)
        if not versions or versions[-1]["event"]["publisher"] != key.publisher:
            raise Refused(
                404,
                "not found",
                f"no article {article_id!r} of {key.publisher!r} (yet?)",
                code="article_not_found",
            )
        return head, versions

    async def feed_languages(self, publisher: str) -> list[str]:
        """The publisher's feed languages, its own first: its own and those its usual originals
        are translated into; an original may be written in any of them."""
        registry = self.rt.registry
        pub = await registry.publisher(publisher)
        home = [pub.language] if pub is not None else []
        return list(dict.fromkeys([*home, *await registry.target_languages(publisher)]))

    async def languages(
        self,
        publisher: str,
        version: int,
        head: dict[str, Any] | None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """The article's own language (``source``; else the head's, else the publisher's) as
        ``source``, first: an original may be written in any feed language, and its own is
        never "pending". Then each target language's state: published (which version, how),
        updating or pending."""
        reported = (head or {}).get("languages") or {}
        feed = await self.feed_languages(publisher)
        own = source or (head or {}).get("language") or next(iter(feed), None)
        out: dict[str, Any] = {own: {"status": "source"}} if own else {}
        for lang in dict.fromkeys([*feed, *reported]):
            if own and same_language(lang, own):
                continue  # a translation into it, of an earlier version in another, is stale
            done = reported.get(lang)
            if done is None:
                out[lang] = {"status": "pending"}
            else:
                current = done["version"] >= version
                out[lang] = {**done, "status": done["status"] if current else "updating"}
                if out[lang]["status"] == "held":  # what the editor is to look at
                    out[lang]["reasons"] = done.get("check_failures") or []
        return out

    async def target_language(
        self, publisher: str, language: str, source: str | None = None
    ) -> None:
        """:class:`Refused` unless an article written in ``source`` (by default the publisher's
        language) is translated into ``language``: a feed language of the publisher but its own."""
        feed = await self.feed_languages(publisher)
        own = source or next(iter(feed), None)
        targets = [lang for lang in feed if not (own and same_language(lang, own))]
        if language not in targets:
            raise Refused(
                422,
                "not a target language",
                f"{publisher} is not translated into {language!r} "
                f"(target languages: {', '.join(targets) or 'none'})",
                code="language_not_target",
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
        await self.target_language(latest.publisher, language, latest.language)
        if body.version is not None and body.version != latest.version:
            raise Refused(
                409,
                "outdated version",
                f"version {body.version} was replaced by version {latest.version}; "
                "translate the latest version",
                code="version_stale",
            )
        if latest.status is ArticleStatus.WITHDRAWN:
            reason = f"{article_id} is withdrawn; nothing to translate"
            raise Refused(409, "withdrawn", reason, code="article_withdrawn")
        html = sanitise_html(body.body_html) if body.body_html else ""
        if not html and body.body_text:
            html = paragraphs_to_html(paragraphs(body.body_text))
        if not html:
            reason = "body_html or body_text must have text"
            raise Refused(422, "invalid translation", reason, code="translation_empty")
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
        await self.publish(
            human.model_dump(mode="json"), topic=Topics.HUMAN_TRANSLATIONS, key=article_id
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
                404,
                "not found",
                f"no {language!r} translation of {article_id!r} waits for review",
                code="review_not_found",
            )
        return entry

    def unsettled(self, entry: QueuedTranslation) -> None:
        if entry.step is not None:
            raise Refused(
                409,
                "already settled",
                f"{entry.step_by} has {entry.step} this translation already; it leaves the "
                "queue within seconds",
                code="review_settled",
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
                code="version_stale",
            )
        article = IngestedArticle.model_validate(latest["event"])
        if article.status is ArticleStatus.WITHDRAWN:
            raise Refused(
                409, "withdrawn", f"{entry.article_id} is withdrawn", code="article_withdrawn"
            )
        p = entry.translation.provenance
        by = f"{key.name} ({key.id})"
        request = RetranslationRequest(
            article=article,
            language=entry.language,
            exclude=[x for x in dict.fromkeys((p.engine, p.model)) if x],
            requested_by=by,
        )
        await self.publish(
            request.model_dump(mode="json"), topic=Topics.RETRANSLATIONS, key=entry.article_id
        )
        return await self.store.mark_step(entry, "sent back", by)
