"""The translate consumers.

``articles.ingested`` (in batches): the target languages of an article are every feed language of
its publisher (its networks' and partners' too) but the article's own, whichever that is. Decide
per (article, target language) what to do: nothing (a later version is handled, or this one is
already announced), announce what was stored, take a translation down with its withdrawn article,
mark it pending (no engine or no route, with the reason), or translate. Translations of the whole
batch are pooled per language pair (:mod:`services.translate.pipeline`). An engine that keeps
failing fails only its articles' languages: they are marked failed and the record goes to the
dead-letter topic with the reason (replaying it translates just the languages still missing); the
others are published.

Every machine translation then meets its publisher's policy (:mod:`services.translate.policy`):
it goes out, or it is held for an editor. A held one is stored as ``review`` and still announced,
with ``provenance.held`` and its checks' failures, so the desk can show it; the feeds skip it.

``translations.submitted``: an editor's translation of one version replaces the machine one and
is never replaced by machine output of that version. One with ``review=approved`` whose text is
the held machine translation's publishes that machine translation, marked reviewed.

``translations.requested``: an editor sends a held (or flagged) translation back; it is made
again without the engines or models named, and meets the checks and the policy again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.translate.pipeline import BatchTranslator, Job, Outcome
from services.translate.policy import (
    NO_OTHER_ENGINE,
    SENT_BACK,
    Decision,
    decide,
    hold_reason,
    same_text,
)
from services.translate.settings import TranslateSettings
from services.translate.store import (
    Status,
    TranslationStore,
    announced,
    held_since,
    human_key,
    key,
    stored_event,
)
from shared.contracts import (
    ArticleStatus,
    CheckFailure,
    HumanTranslation,
    IngestedArticle,
    Provenance,
    RetranslationRequest,
    ReviewAction,
    Topics,
    TranslatedArticle,
    TranslationMethod,
    TranslationPolicy,
    utcnow,
)
from shared.glossary import Glossary, GlossaryStore
from shared.languages import primary
from shared.messaging import (
    InvalidMessage,
    batch_consumer_options,
    consumer_options,
    decode_json,
    describe_validation_error,
)
from shared.metrics import TranslationMetrics
from shared.observability import article_context
from shared.service import Runtime
from shared.storage import Document

NO_ENGINE = (
    "no translation engine configured: set TRANSLATE_ENGINE (see the README, 'Translation'); "
    "the source-language feed is published meanwhile"
)

SETTLED_AT_ONCE = 16
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class TranslationFailed(Exception):
    """Every engine kept failing for some languages of an article."""


def human_event(h: HumanTranslation) -> TranslatedArticle:
    """An editor's own (or edited) translation as an event, whatever ``review`` it came with."""
    return TranslatedArticle(
        **h.model_dump(exclude={"schema_version", "translated_by", "submitted_at", "review"}),
        provenance=Provenance(
            engine="human",
            method=TranslationMethod.HUMAN,
            reviewed=True,
            translated_by=h.translated_by,
            translated_at=h.submitted_at,
            review=ReviewAction.EDITED,
            reviewed_by=h.translated_by,
            reviewed_at=h.submitted_at,
        ),
    )


def approved_event(held: TranslatedArticle, h: HumanTranslation) -> TranslatedArticle:
    """The held machine translation as an editor approved it: no longer held, reviewed."""
    provenance = held.provenance.model_copy(
        update={
            "held": False,
            "reviewed": True,
            "review": ReviewAction.APPROVED,
            "reviewed_by": h.translated_by,
            "reviewed_at": h.submitted_at,
        }
    )
    return held.model_copy(update={"provenance": provenance})


def with_policy(
    event: TranslatedArticle, policy: TranslationPolicy, held: bool
) -> TranslatedArticle:
    provenance = event.provenance.model_copy(update={"policy": policy, "held": held})
    return event.model_copy(update={"provenance": provenance})


class Translate:
    def __init__(
        self,
        rt: Runtime,
        store: TranslationStore,
        translator: BatchTranslator | None,
        glossaries: GlossaryStore,
        out: DefaultPublisher,
        metrics: TranslationMetrics,
    ) -> None:
        self.rt = rt
        self.store = store
        self.translator = translator
        self.glossaries = glossaries
        self.out = out
        self.metrics = metrics

    async def publish(self, event: TranslatedArticle) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[TranslatedArticle]) -> None:
        """Announce ``events``, then note them announced (a few writes for the lot): a crash
        in between announces them again on redelivery, which consumers ignore (same version
        and revision)."""
        await asyncio.gather(*map(self._announce, events))
        await self.store.mark_announced(events)

    async def _announce(self, event: TranslatedArticle) -> None:
        with article_context(
            article_id=event.article_id, version=event.version, language=event.language
        ):
            await self.out.publish(event, key=event.article_id.encode())
            p = event.provenance
            self.rt.log.info(
                "translation announced",
                extra={"status": event.status, "method": p.method, "engine": p.engine},
            )

    async def batch(self, records: Sequence[Record]) -> None:
        latest: dict[str, tuple[Record, IngestedArticle]] = {}
        for record in records:
            try:
                article = IngestedArticle.model_validate(decode_json(record.value or b""))
            except ValidationError as exc:
                reason = InvalidMessage(f"invalid message: {describe_validation_error(exc)}")
                await self.rt.dead_letters.send(record, reason, 1)
                continue
            except InvalidMessage as exc:
                await self.rt.dead_letters.send(record, exc, 1)
                continue
            seen = latest.get(article.article_id)
            if seen is None or seen[1].version <= article.version:
                latest[article.article_id] = (record, article)  # an older one is superseded

        # Into every feed language but the article's own: an original may be written in any
        # of them (an English one of a Persian publisher is translated into Persian too).
        targets = {
            a.article_id: await self.rt.registry.target_languages(a.publisher, a.language)
            for _, a in latest.values()
        }
        states = await self.store.states(
            key(aid, lang) for aid, langs in targets.items() for lang in langs
        )
        to_publish: list[TranslatedArticle] = []
        jobs: list[tuple[Record, Job]] = []
        for record, article in latest.values():
            for target in targets[article.article_id]:
                state = states.get(key(article.article_id, target))
                with article_context(
                    article_id=article.article_id, version=article.version, language=target
                ):
                    job = await self.plan(article, target, state, to_publish)
                if job is not None:
                    jobs.append((record, job))

        failures: dict[int, list[str]] = {}
        if jobs:
            assert self.translator is not None  # plan() only makes jobs when there is one
            outcomes = await self.translator.run([job for _, job in jobs])
            # An editor's translation may have arrived while the engine worked: it wins.
            humans = await self.store.human_translations(
                (o.job.article.article_id, o.job.target, o.job.article.version)
                for o in outcomes
                if o.event is not None
            )
            # Side by side (each is a few database round trips on its own article and
            # language), a few at a time: FerretDB holds two SQLite connections for each
            # conditional write, from a pool of 100.
            gate = asyncio.Semaphore(SETTLED_AT_ONCE)

            async def settle(outcome: Outcome) -> TranslatedArticle | None:
                async with gate:
                    return await self.settle(outcome, humans)

            settled = await asyncio.gather(*map(settle, outcomes))
            for (record, _), outcome, event in zip(jobs, outcomes, settled, strict=True):
                if event is not None:
                    to_publish.append(event)
                elif outcome.error:
                    failures.setdefault(id(record), []).append(
                        f"{outcome.job.target}: {outcome.error}"
                    )
        await self.publish_many(to_publish)
        attempts = self.translator.attempts if self.translator else 1
        for record, _ in latest.values():
            if id(record) in failures:
                failed = TranslationFailed("; ".join(failures[id(record)]))
                await self.rt.dead_letters.send(record, failed, attempts)

    async def plan(
        self,
        article: IngestedArticle,
        target: str,
        state: Document | None,
        to_publish: list[TranslatedArticle],
    ) -> Job | None:
        """What to do for one (article, language); a :class:`Job` when it needs translating."""
        if state and state["version"] > article.version:
            return None  # a later version is handled already
        stored = stored_event(state) if state else None
        same = state is not None and state["version"] == article.version
        if same and state is not None and stored is not None and not announced(state):
            # Stored before a crash, never announced (held ones too: the desk shows them);
            # not one held by the old glossary setting, which was never to be announced.
            if state.get("status") != Status.REVIEW.value or stored.provenance.held:
                to_publish.append(stored)
            return None
        if article.status is ArticleStatus.WITHDRAWN:
            if stored is not None and stored.status is not ArticleStatus.WITHDRAWN:
                # Never held: a withdrawal must reach the feeds even if the last text waited.
                down = stored.model_copy(
                    update={
                        "version": article.version,
                        "status": ArticleStatus.WITHDRAWN,
                        "provenance": stored.provenance.model_copy(update={"held": False}),
                    }
                )
                to_publish.append(await self.store.record(down, Status.WITHDRAWN))
            return None
        if same and state and state.get("human_version") == article.version:
            return None  # an editor's translation of this version: machine output never wins
        if same and state and state.get("status") == Status.TRANSLATED.value:
            return None  # redelivery: done already
        if same and state and state.get("status") == Status.REVIEW.value:
            return None  # held for an editor: approval or sending back settles it
        if self.translator is None:
            await self.store.mark(
                article.article_id, target, article.version, Status.PENDING, NO_ENGINE
            )
            self.rt.log.warning("translation pending: no engine configured")
            return None
        router = self.translator.router
        if not router.supports(article.language, target):
            reason = str(router.no_route(article.language, target))
            await self.store.mark(
                article.article_id, target, article.version, Status.PENDING, reason
            )
            self.rt.log.warning("translation pending: no route", extra={"reason": reason})
            return None
        return Job(article, target, await self.glossary(article, target))

    async def glossary(self, article: IngestedArticle, target: str) -> Glossary | None:
        """The publisher's glossary into ``target`` if its terms are in the article's language:
        one for the usual originals has nothing to match in an original in another language."""
        found = await self.glossaries.get(article.publisher, target)
        if found is None or primary(found.source_language) != primary(article.language):
            return None
        return found

    async def settle(
        self, outcome: Outcome, humans: Mapping[str, HumanTranslation] | None = None
    ) -> TranslatedArticle | None:
        """Store one outcome under its publisher's policy; the event to publish, if any (a
        held one too: it carries ``provenance.held``). ``humans``: the editors' translations
        read since the engine worked, by :func:`human_key` (read here when not given)."""
        job, a = outcome.job, outcome.job.article
        with article_context(article_id=a.article_id, version=a.version, language=job.target):
            if outcome.event is None:
                await self.store.mark(
                    a.article_id, job.target, a.version, Status.FAILED, outcome.error or "failed"
                )
                self.rt.log.error("translation failed", extra={"reason": outcome.error})
                return None
            failures = outcome.event.provenance.check_failures
            for failure in failures:
                self.metrics.check_failures.labels(failure.check).inc()
            if failures:
                self.rt.log.warning(
                    "translation failed automatic checks",
                    extra={"checks": sorted({f.check for f in failures})},
                )
            # An editor's translation may have arrived while the engine worked: it wins.
            if humans is None:
                human = await self.store.human_translation(a.article_id, job.target, a.version)
            else:
                human = humans.get(human_key(a.article_id, job.target, a.version))
            if human is not None:
                return await self.store.record(human_event(human), Status.TRANSLATED, human=True)
            policy = await self.policy(a.publisher)
            if decide(policy, failures) is Decision.HOLD:
                self.metrics.held.labels(policy.value).inc()
                state = await self.store.get(a.article_id, job.target)
                since = held_since(state, a.version) or utcnow()
                return await self.store.record(
                    with_policy(outcome.event, policy, held=True),
                    Status.REVIEW,
                    reason=hold_reason(policy, failures),
                    held_at=since,
                )
            self.metrics.published.labels(policy.value).inc()
            return await self.store.record(
                with_policy(outcome.event, policy, held=False), Status.TRANSLATED
            )

    async def policy(self, publisher: str) -> TranslationPolicy:
        """The publisher's translation policy (the registry's default when it is unknown)."""
        pub = await self.rt.registry.publisher(publisher)
        return pub.translation_policy if pub is not None else TranslationPolicy.HOLD

    async def human(self, translation: HumanTranslation) -> None:
        with article_context(
            article_id=translation.article_id,
            version=translation.version,
            language=translation.language,
        ):
            state = await self.store.get(translation.article_id, translation.language)
            if state and state["version"] > translation.version:
                self.rt.log.warning(
                    "human translation ignored: the article has a later version",
                    extra={"stored_version": state["version"]},
                )
                return
            stored = stored_event(state) if state else None
            if (
                stored is not None
                and state is not None
                and state.get("human_version") == translation.version
                and translation.submitted_at
                in (stored.provenance.reviewed_at, stored.provenance.translated_at)
                and announced(state)
            ):
                return  # redelivery
            since = held_since(state, translation.version)
            event = self.approval(translation, stored, since)
            if event is None:
                await self.store.save_human(translation)
                event = human_event(translation)
            action = event.provenance.review or ReviewAction.EDITED
            self.metrics.reviewed.labels(action.value).inc()
            if since is not None:
                waited = (translation.submitted_at - since).total_seconds()
                self.metrics.held_seconds.labels(action.value).observe(max(waited, 0.0))
            self.rt.log.info("translation reviewed", extra={"review": action.value})
            await self.publish(await self.store.record(event, Status.TRANSLATED, human=True))

    def approval(
        self, h: HumanTranslation, stored: TranslatedArticle | None, since: datetime | None
    ) -> TranslatedArticle | None:
        """The approved machine translation, when ``h`` approves the held machine translation
        of its version as it is; None otherwise (then ``h`` counts as the editor's text)."""
        if h.review is not ReviewAction.APPROVED:
            return None
        if (
            stored is None
            or since is None
            or stored.version != h.version
            or stored.provenance.method is not TranslationMethod.MACHINE
            or not same_text(stored, h.headline, h.body_html)
        ):
            self.rt.log.warning(
                "approval taken as an edit: no held machine translation with this text"
            )
            return None
        return approved_event(stored, h)

    async def retranslate(self, request: RetranslationRequest) -> None:
        """Translate a held or flagged translation again without the engines or models the
        editor excluded; with none left (or all failing) it stays held, saying why."""
        a, language = request.article, request.language
        with article_context(article_id=a.article_id, version=a.version, language=language):
            state = await self.store.get(a.article_id, language)
            stored = stored_event(state) if state else None
            if state is not None and stored is not None and not announced(state):
                await self.publish(stored)  # made again before a crash, never announced
                return
            if state is None or stored is None or not sent_back_applies(state, stored, a.version):
                self.rt.log.warning("send-back ignored: that version is not held or flagged")
                return
            router = self.translator.router.excluding(request.exclude) if self.translator else None
            if router is None or not router.supports(a.language, language):
                await self.still_held(stored, request, NO_OTHER_ENGINE)
                return
            assert self.translator is not None
            job = Job(a, language, await self.glossary(a, language))
            (outcome,) = await self.translator.with_router(router).run([job])
            if outcome.event is None:
                await self.still_held(stored, request, f"translating again failed: {outcome.error}")
                return
            event = await self.settle(outcome)
            if event is not None:
                await self.publish(event)

    async def still_held(
        self, stored: TranslatedArticle, request: RetranslationRequest, why: str
    ) -> None:
        """Announce the translation again as it was, with a note that it could not be made
        again and why (shown with its other reasons)."""
        excluded = ", ".join(request.exclude) or "none"
        note = CheckFailure(
            check=SENT_BACK,
            reason=f"sent back by {request.requested_by} (excluding {excluded}): {why}",
        )
        kept = [f for f in stored.provenance.check_failures if f.check != SENT_BACK]
        provenance = stored.provenance.model_copy(update={"check_failures": [*kept, note]})
        event = stored.model_copy(update={"provenance": provenance})
        self.rt.log.warning("translation sent back stays as it is", extra={"reason": why})
        if stored.provenance.held:
            state = await self.store.get(stored.article_id, stored.language)
            since = held_since(state, stored.version)
            await self.publish(
                await self.store.record(event, Status.REVIEW, reason=note.reason, held_at=since)
            )
        else:
            await self.publish(await self.store.record(event, Status.TRANSLATED))


def sent_back_applies(state: Document, stored: TranslatedArticle, version: int) -> bool:
    """Whether a send-back for ``version`` still applies: that version's machine translation is
    held, or was published with failed checks, and no editor has settled it."""
    if stored.version != version or state.get("human_version") == version:
        return False
    if stored.provenance.method is not TranslationMethod.MACHINE or stored.provenance.reviewed:
        return False
    return state.get("status") == Status.REVIEW.value or stored.provenance.needs_review


def register(
    rt: Runtime,
    store: TranslationStore,
    translator: BatchTranslator | None,
    glossaries: GlossaryStore,
    settings: TranslateSettings,
) -> Translate:
    out = rt.broker.publisher(Topics.TRANSLATED, title="articles.translated")
    registry = rt.metrics.registry if rt.metrics is not None else CollectorRegistry()
    metrics = TranslationMetrics(registry)
    service = Translate(rt, store, translator, glossaries, out, metrics)

    @rt.broker.subscriber(
        Topics.INGESTED,
        title="articles.ingested",
        **batch_consumer_options(
            rt.name, rt.settings, settings.batch_max_records, settings.batch_wait_ms
        ),
    )
    async def on_ingested(bodies: list[Any], message: KafkaMessage) -> None:
        await service.batch(message.raw_message)

    @rt.broker.subscriber(
        Topics.HUMAN_TRANSLATIONS,
        title="translations.submitted",
        **consumer_options(rt.name, rt.settings, role="human"),
    )
    async def on_human(translation: HumanTranslation) -> None:
        await service.human(translation)

    @rt.broker.subscriber(
        Topics.RETRANSLATIONS,
        title="translations.requested",
        **consumer_options(rt.name, rt.settings, role="retranslate"),
    )
    async def on_retranslation(request: RetranslationRequest) -> None:
        await service.retranslate(request)

    return service
