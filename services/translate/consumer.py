"""The translate consumers.

``articles.ingested`` (in batches): decide per (article, target language) what to do: nothing
(a later version is handled, or this one is already announced), announce what was stored, take a
translation down with its withdrawn article, mark it pending (no engine or no route, with the
reason), or translate. Translations of the whole batch are pooled per language pair
(:mod:`services.translate.pipeline`). An engine that keeps failing fails only its articles'
languages: they are marked failed and the record goes to the dead-letter topic with the reason
(replaying it translates just the languages still missing); the others are published.

``translations.submitted``: an editor's translation of one version replaces the machine one and
is never replaced by machine output of that version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from pydantic import ValidationError

from services.translate.pipeline import BatchTranslator, Job, Outcome
from services.translate.settings import TranslateSettings
from services.translate.store import Status, TranslationStore, announced, key, stored_event
from shared.contracts import (
    ArticleStatus,
    HumanTranslation,
    IngestedArticle,
    Provenance,
    Topics,
    TranslatedArticle,
    TranslationMethod,
)
from shared.glossary import GlossaryStore
from shared.messaging import (
    InvalidMessage,
    consumer_options,
    decode_json,
    describe_validation_error,
    raw_decoder,
)
from shared.observability import article_context
from shared.service import Runtime
from shared.storage import Document

NO_ENGINE = (
    "no translation engine configured: set TRANSLATE_ENGINE (see the README, 'Translation'); "
    "the source-language feed is published meanwhile"
)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class TranslationFailed(Exception):
    """Every engine kept failing for some languages of an article."""


def human_event(h: HumanTranslation) -> TranslatedArticle:
    return TranslatedArticle(
        **h.model_dump(exclude={"schema_version", "translated_by", "submitted_at"}),
        provenance=Provenance(
            engine="human",
            method=TranslationMethod.HUMAN,
            reviewed=True,
            translated_by=h.translated_by,
            translated_at=h.submitted_at,
        ),
    )


class Translate:
    def __init__(
        self,
        rt: Runtime,
        store: TranslationStore,
        translator: BatchTranslator | None,
        glossaries: GlossaryStore,
        settings: TranslateSettings,
        out: DefaultPublisher,
    ) -> None:
        self.rt = rt
        self.store = store
        self.translator = translator
        self.glossaries = glossaries
        self.hold_flagged = settings.glossary_missing == "hold"
        self.out = out

    async def publish(self, event: TranslatedArticle) -> None:
        with article_context(
            article_id=event.article_id, version=event.version, language=event.language
        ):
            await self.out.publish(event, key=event.article_id.encode())
            await self.store.mark_announced(event)
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

        targets = {
            a.article_id: await self.rt.registry.target_languages(a.publisher)
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
            for (record, _), outcome in zip(jobs, outcomes, strict=True):
                event = await self.settle(outcome)
                if event is not None:
                    to_publish.append(event)
                elif outcome.error:
                    failures.setdefault(id(record), []).append(
                        f"{outcome.job.target}: {outcome.error}"
                    )
        await asyncio.gather(*(self.publish(e) for e in to_publish))
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
        if (
            same
            and state is not None
            and stored is not None
            and not announced(state)
            and state.get("status") != Status.REVIEW.value
        ):
            to_publish.append(stored)  # stored before a crash, never announced
            return None
        if article.status is ArticleStatus.WITHDRAWN:
            if stored is not None and stored.status is not ArticleStatus.WITHDRAWN:
                down = stored.model_copy(
                    update={"version": article.version, "status": ArticleStatus.WITHDRAWN}
                )
                to_publish.append(await self.store.record(down, Status.WITHDRAWN))
            return None
        if same and state and state.get("human_version") == article.version:
            return None  # an editor's translation of this version: machine output never wins
        if same and state and state.get("status") == Status.TRANSLATED.value:
            return None  # redelivery: done already
        if same and state and state.get("status") == Status.REVIEW.value and self.hold_flagged:
            return None  # held for an editor
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
        glossary = await self.glossaries.get(article.publisher, target)
        return Job(article, target, glossary)

    async def settle(self, outcome: Outcome) -> TranslatedArticle | None:
        """Store one outcome; the event to publish, if any."""
        job, a = outcome.job, outcome.job.article
        with article_context(article_id=a.article_id, version=a.version, language=job.target):
            if outcome.event is None:
                await self.store.mark(
                    a.article_id, job.target, a.version, Status.FAILED, outcome.error or "failed"
                )
                self.rt.log.error("translation failed", extra={"reason": outcome.error})
                return None
            if outcome.missing:
                self.rt.log.warning(
                    "translation lacks required glossary terms",
                    extra={"missing": outcome.event.provenance.missing_terms},
                )
            if outcome.missing and self.hold_flagged:
                reason = "held for review: missing " + ", ".join(
                    outcome.event.provenance.missing_terms
                )
                await self.store.record(outcome.event, Status.REVIEW, reason=reason)
                return None
            event = await self.store.record(outcome.event, Status.TRANSLATED)
            # An editor's translation may have arrived while the engine worked: it wins.
            human = await self.store.human_translation(a.article_id, job.target, a.version)
            if human is not None:
                return await self.store.record(human_event(human), Status.TRANSLATED, human=True)
            return event

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
                and stored.provenance.translated_at == translation.submitted_at
                and announced(state)
            ):
                return  # redelivery
            await self.store.save_human(translation)
            event = human_event(translation)
            await self.publish(await self.store.record(event, Status.TRANSLATED, human=True))


def register(
    rt: Runtime,
    store: TranslationStore,
    translator: BatchTranslator | None,
    glossaries: GlossaryStore,
    settings: TranslateSettings,
) -> Translate:
    out = rt.broker.publisher(Topics.TRANSLATED, title="articles.translated")
    service = Translate(rt, store, translator, glossaries, settings, out)

    @rt.broker.subscriber(
        Topics.INGESTED,
        title="articles.ingested",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_wait_ms,
        decoder=raw_decoder,
        **consumer_options(rt.name, rt.settings),
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

    return service
