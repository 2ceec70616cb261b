"""The publishing policy: which machine translations go out and which wait for an editor, what
an approval or a send back does, and how readers see the checks' results in the feeds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from services.feeds.pages import entry_page, translation_note
from services.feeds.render import Entry, Feed, FeedLinks, render
from services.translate import pipeline
from services.translate.checks import CHECKS_VERSION
from services.translate.consumer import approved_event, human_event, sent_back_applies
from services.translate.engines import PseudoEngine
from services.translate.pipeline import BatchTranslator, Job
from services.translate.policy import Decision, decide, hold_reason, same_text
from services.translate.routing import Router
from services.translate.store import Status, held_since
from shared.contracts import (
    CheckFailure,
    DateSource,
    HumanTranslation,
    IngestedArticle,
    Provenance,
    ReviewAction,
    TranslatedArticle,
    TranslationMethod,
    TranslationPolicy,
)
from shared.glossary import Glossary, Term

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
NUMBERS = CheckFailure(
    check="numbers",
    reason="۳۰ (30) is missing from the translation",
    segment=1,
    source="۳۰ میلیون زائر به مشهد آمدند.",
    target="3 million pilgrims came to Mashhad.",
    evidence=["۳۰"],
)
SCRIPT = CheckFailure(check="script", reason="the translation is not in Latin script", segment=0)


# ---- decide -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "failures", "decision"),
    [
        (TranslationPolicy.PUBLISH, [], Decision.PUBLISH),
        (TranslationPolicy.PUBLISH, [NUMBERS], Decision.PUBLISH),
        (TranslationPolicy.HOLD, [], Decision.PUBLISH),
        (TranslationPolicy.HOLD, [NUMBERS], Decision.HOLD),
        (TranslationPolicy.HOLD, [NUMBERS, SCRIPT], Decision.HOLD),
        (TranslationPolicy.REVIEW, [], Decision.HOLD),
        (TranslationPolicy.REVIEW, [SCRIPT], Decision.HOLD),
    ],
)
def test_each_policy_decides_what_goes_out(
    policy: TranslationPolicy, failures: list[CheckFailure], decision: Decision
) -> None:
    assert decide(policy, failures) is decision


def test_a_hold_says_which_checks_failed_or_that_everything_is_reviewed() -> None:
    assert hold_reason(TranslationPolicy.HOLD, [NUMBERS, SCRIPT, NUMBERS]) == (
        "held for review: failed numbers, script"
    )
    assert hold_reason(TranslationPolicy.REVIEW, []) == (
        "held for review: the publisher's policy is review"
    )


# ---- approval -----------------------------------------------------------------------------


def machine(**provenance: Any) -> TranslatedArticle:
    return TranslatedArticle(
        article_id="mashhad-1",
        version=2,
        publisher="mashhad",
        language="en",
        source_language="fa",
        headline="30 million pilgrims",
        body_html="<p>3 million pilgrims came to Mashhad.</p><p>The city &amp; its guests.</p>",
        published=NOW,
        revision=3,
        provenance=Provenance(
            **{
                "engine": "libretranslate",
                "translated_at": NOW,
                "checks_version": "1",
                "check_failures": [NUMBERS],
                "needs_review": True,
                "policy": TranslationPolicy.HOLD,
                "held": True,
                **provenance,
            }
        ),
    )


def editor(held: TranslatedArticle, review: ReviewAction, **changes: Any) -> HumanTranslation:
    fields = held.model_dump(exclude={"provenance", "revision", "schema_version"})
    return HumanTranslation(
        **{**fields, **changes},
        translated_by="desk (key 7)",
        submitted_at=NOW + timedelta(hours=2),
        review=review,
    )


def test_an_approval_publishes_the_machine_text_reviewed_and_no_longer_held() -> None:
    held = machine()
    approved = approved_event(held, editor(held, ReviewAction.APPROVED))
    p = approved.provenance
    assert (approved.headline, approved.body_html) == (held.headline, held.body_html)
    assert (p.held, p.reviewed, p.review) == (False, True, ReviewAction.APPROVED)
    assert p.method is TranslationMethod.MACHINE and p.engine == "libretranslate"
    assert p.reviewed_by == "desk (key 7)" and p.reviewed_at == NOW + timedelta(hours=2)
    assert p.check_failures == [NUMBERS]  # what the editor accepted stays on record


def test_an_edit_is_the_editors_translation() -> None:
    held = machine()
    edited = human_event(editor(held, ReviewAction.EDITED, headline="30 million pilgrims"))
    p = edited.provenance
    assert (p.method, p.engine, p.review) == (TranslationMethod.HUMAN, "human", ReviewAction.EDITED)
    assert p.reviewed and p.translated_by == p.reviewed_by == "desk (key 7)"
    assert not p.held and p.check_failures == []


def test_the_approved_text_must_be_the_held_text_whatever_its_markup() -> None:
    held = machine()
    respaced = "<p>3 million  pilgrims came to Mashhad.</p>\n<p>The city &#38; its guests.</p>"
    assert same_text(held, " 30 million pilgrims ", respaced)
    assert not same_text(held, held.headline, "<p>30 million pilgrims came to Mashhad.</p>")
    assert not same_text(held, "3 million pilgrims", held.body_html)


# ---- send back ----------------------------------------------------------------------------


def state(status: Status, **fields: Any) -> dict[str, Any]:
    return {"version": 2, "status": status.value, **fields}


def test_a_send_back_applies_only_to_an_unsettled_held_or_flagged_machine_translation() -> None:
    held = machine()
    assert sent_back_applies(state(Status.REVIEW), held, 2)
    flagged = machine(held=False)  # published under `publish` with a failure
    assert sent_back_applies(state(Status.TRANSLATED), flagged, 2)
    assert not sent_back_applies(state(Status.REVIEW), held, 1)  # another version
    assert not sent_back_applies(state(Status.REVIEW, human_version=2), held, 2)
    approved = approved_event(held, editor(held, ReviewAction.APPROVED))
    assert not sent_back_applies(state(Status.TRANSLATED), approved, 2)
    clean = machine(held=False).model_copy(
        update={"provenance": Provenance(engine="libretranslate", translated_at=NOW)}
    )
    assert not sent_back_applies(state(Status.TRANSLATED), clean, 2)


class Named:
    def __init__(self, name: str, model: str | None) -> None:
        self.name = name
        self.model = model
        self.model_version: str | None = None

    def supports(self, source: str, target: str) -> bool:
        return True

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        return list(segments)


def names(router: Router) -> list[str]:
    return [e.name for e in router.engines]


def test_sending_back_leaves_out_the_engines_or_models_named() -> None:
    router = Router([Named("libretranslate", None), Named("ctranslate2", "m2m100_418M")])
    assert names(router.excluding(["libretranslate"])) == ["ctranslate2"]
    assert names(router.excluding(["m2m100_418M"])) == ["libretranslate"]
    assert names(router.excluding(["ctranslate2+libretranslate"])) == []  # a pivot's provenance
    assert not router.excluding(["libretranslate", "ctranslate2"]).supports("fa", "en")
    assert names(router) == ["libretranslate", "ctranslate2"]  # the service's own is untouched


def test_held_since_is_only_for_the_held_version() -> None:
    assert held_since(state(Status.REVIEW, held_at=NOW), 2) == NOW
    assert held_since(state(Status.REVIEW, held_at=NOW), 3) is None
    assert held_since(state(Status.TRANSLATED, held_at=NOW), 2) is None
    assert held_since(None, 2) is None


def test_the_pseudo_engine_says_its_output_is_not_checked() -> None:
    assert PseudoEngine.checked is False


# ---- the checks in the pipeline --------------------------------------------------------------

SOURCE = "۳۰ میلیون زائر به مشهد آمدند."


class Chosen(Named):
    """An engine answering with chosen outputs (the others: "ok"), recording what it was sent."""

    def __init__(self, replies: dict[str, str]) -> None:
        super().__init__("chosen", "chosen-model")
        self.replies = replies
        self.sent: list[str] = []

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        self.sent += segments
        return [self.replies.get(s, "ok") for s in segments]


def ingested(headline: str, body: str) -> IngestedArticle:
    return IngestedArticle(
        article_id="mashhad-1",
        version=1,
        publisher="mashhad",
        language="fa",
        headline=headline,
        body_html=f"<p>{body}</p>",
        body_text=body,
        published=NOW,
        published_source=DateSource.EDITOR,
        content_hash="h",
        ingested_at=NOW,
    )


async def translated(engine: Any, glossary: Glossary | None = None) -> TranslatedArticle:
    job = Job(ingested("زائران", SOURCE), "en", glossary)
    (outcome,) = await BatchTranslator(Router([engine]), None, attempts=1).run([job])
    assert outcome.event is not None, outcome.error
    return outcome.event


async def test_the_checks_see_the_source_as_written_not_as_prepared_for_the_engine() -> None:
    glossary = Glossary(
        publisher="mashhad", language="en", terms=[Term(source="مشهد", target="Mashhad")]
    )
    prepared = SOURCE.replace("مشهد", "Mashhad")  # inline glossary mode
    engine = Chosen({"زائران": "Pilgrims", prepared: "3 million pilgrims came to Mashhad."})
    p = (await translated(engine, glossary)).provenance
    assert prepared in engine.sent
    assert p.checks_version == CHECKS_VERSION and p.needs_review
    [numbers] = [f for f in p.check_failures if f.check == "numbers"]
    assert (numbers.segment, numbers.source) == (1, SOURCE)
    assert p.missing_terms == []  # Mashhad is there


async def test_the_pseudo_engines_output_is_not_checked() -> None:
    p = (await translated(PseudoEngine())).provenance
    assert (p.checks_version, p.check_failures, p.needs_review) == (None, [], False)


async def test_checks_that_raise_fail_the_translation_not_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[CheckFailure]:
        raise RuntimeError("bug")

    monkeypatch.setattr(pipeline, "run_checks", broken)
    engine = Chosen({"زائران": "Pilgrims", SOURCE: "30 million pilgrims came to Mashhad."})
    p = (await translated(engine)).provenance
    assert [(f.check, f.reason) for f in p.check_failures] == [
        ("error", "the checks raised RuntimeError")
    ]
    assert p.needs_review


# ---- what readers see ---------------------------------------------------------------------


def provenance(**changes: Any) -> dict[str, Any]:
    held = machine(held=False, policy=TranslationPolicy.PUBLISH)
    return {**held.provenance.model_dump(mode="json"), **changes}


def test_a_machine_translation_is_marked_with_the_checks_results() -> None:
    assert translation_note(provenance()) == (
        "Machine translation: libretranslate · automatic checks: failed: numbers"
    )
    assert translation_note(provenance(check_failures=[])) == (
        "Machine translation: libretranslate · automatic checks: passed"
    )
    unchecked = provenance(checks_version=None, check_failures=[])
    assert translation_note(unchecked) == "Machine translation: libretranslate"
    approved = provenance(reviewed=True, review="approved")
    assert translation_note(approved) == (
        "Machine translation: libretranslate · approved by an editor"
        " · automatic checks: failed: numbers"
    )
    assert translation_note({"method": "human", "reviewed": True}) == (
        "Human translation, reviewed"
    )
    assert translation_note(None) == ""


def test_the_entry_page_shows_the_checks_results() -> None:
    entry = {
        "article_id": "mashhad-1",
        "language": "en",
        "headline": "30 million pilgrims",
        "body_html": "<p>3 million pilgrims came to Mashhad.</p>",
        "published": NOW,
        "provenance": provenance(model="opus-mt-fa-en"),
    }
    page = entry_page(entry, "https://feeds.example/entries/mashhad-1/en", [], "/")
    assert "Machine translation: libretranslate opus-mt-fa-en" in page
    assert "automatic checks: failed: numbers" in page


def feed_with(prov: dict[str, Any]) -> Feed:
    entry = Entry(
        article_id="mashhad-1",
        language="en",
        version=2,
        headline="30 million pilgrims",
        body_html="<p>3 million pilgrims came to Mashhad.</p>",
        published=NOW,
        updated=NOW,
        publisher="mashhad",
        provenance=prov,
    )
    feed = Feed(
        kind="publisher",
        key="mashhad",
        language="en",
        title="Mashhad (English)",
        subtitle="",
        author="Mashhad",
        updated=NOW,
        links=FeedLinks(self_base="https://feeds.example/feeds/mashhad/en"),
        entries=(entry,),
    )
    return feed


CS = "{https://city-syndication.org/ns/provenance/1.0}"


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_xml_feeds_list_each_failed_check_with_its_reason(fmt: str) -> None:
    raw = render(feed_with(provenance()), fmt)  # type: ignore[arg-type]
    [prov] = etree.fromstring(raw).iter(f"{CS}provenance")
    [failure] = prov.findall(f"{CS}check-failure")
    assert dict(failure.attrib) == {"check": "numbers", "segment": "1"}
    assert failure.text == NUMBERS.reason
    assert prov.get("checks-version") == "1" and prov.get("policy") == "publish"


def test_the_json_feed_carries_the_failures_whole() -> None:
    doc = json.loads(render(feed_with(provenance()), "json"))
    [item] = doc["items"]
    [failure] = item["_city_syndication"]["provenance"]["check_failures"]
    assert failure == NUMBERS.model_dump(mode="json")


def test_a_translation_passing_every_check_lists_no_failure() -> None:
    passed = feed_with(provenance(check_failures=[], needs_review=False))
    [prov] = etree.fromstring(render(passed, "atom")).iter(f"{CS}provenance")
    assert prov.findall(f"{CS}check-failure") == [] and prov.get("checks-version") == "1"


# ---- send back, after a crash ---------------------------------------------------------------


class OneState:
    """The translate store's state of one (article, language), as the consumer reads it."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.announced: list[int] = []

    async def get(self, article_id: str, language: str) -> dict[str, Any]:
        return self.state

    async def mark_announced(self, events: Iterable[TranslatedArticle]) -> None:
        for event in events:
            self.announced.append(event.revision)
            self.state["announced_revision"] = event.revision


class Out:
    def __init__(self) -> None:
        self.sent: list[TranslatedArticle] = []

    async def publish(self, event: TranslatedArticle, key: bytes) -> None:
        self.sent.append(event)


async def test_a_send_back_made_again_before_a_crash_is_announced_when_redelivered() -> None:
    """The request translated the article again and stored the result (passing every check,
    so no longer held), then the process died before announcing it. The redelivered request
    must announce it: the state no longer reads held or flagged, and it used to be ignored."""
    import logging
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from services.translate.consumer import Translate
    from shared.contracts import RetranslationRequest
    from shared.metrics import TranslationMetrics

    redone = machine(check_failures=[], needs_review=False, held=False)
    state = {
        "version": redone.version,
        "status": Status.TRANSLATED.value,
        "event": redone.model_dump(mode="json", exclude={"revision"}),
        "revision": redone.revision + 1,
        "announced_revision": redone.revision,
    }
    store, out = OneState(state), Out()
    rt = SimpleNamespace(log=logging.getLogger("test"))
    service = Translate(
        rt,
        store,
        None,
        None,
        out,
        TranslationMetrics(CollectorRegistry()),  # type: ignore[arg-type]
    )
    source = IngestedArticle(
        article_id="mashhad-1", version=2, publisher="mashhad", language="fa",
        headline="سفر ۳۰ میلیون زائر", body_html="<p>متن</p>", body_text="متن",
        published=NOW, published_source=DateSource.EDITOR, content_hash="x", ingested_at=NOW,
    )  # fmt: skip
    request = RetranslationRequest(
        article=source, language="en", exclude=["libretranslate"], requested_by="desk (key 7)"
    )
    await service.retranslate(request)
    assert [e.revision for e in out.sent] == [redone.revision + 1]
    assert store.announced == [redone.revision + 1]
    await service.retranslate(request)  # announced now: a further redelivery does nothing
    assert len(out.sent) == 1
