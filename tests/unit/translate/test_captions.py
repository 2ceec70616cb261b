"""Image captions are translated with their article: one segment each, after the body, pooled
and remembered like any sentence, checked like one, and back on the translated event's images."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.translate.pipeline import CAPTION_MAX, BatchTranslator, Job, translated_images
from services.translate.routing import Router
from services.translate.segment import assemble_article, assemble_captions, segment_article
from shared.contracts import DateSource, Image, IngestedArticle, TranslatedArticle
from tests.unit.translate.test_memory import CountingEngine, setup

WHEN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def image(n: int, caption: str | None, credit: str | None = "ایرنا") -> Image:
    return Image(
        url=f"https://img.example.ir/{n}.jpg",
        caption=caption,
        credit=credit,
        media_type="image/jpeg",
        width=1200,
        height=800,
    )


def article(
    images: list[Image], body: str = "<p>متن خبر.</p>", article_id: str = "tehran-1"
) -> IngestedArticle:
    return IngestedArticle(
        article_id=article_id,
        version=1,
        publisher="tehran",
        language="fa",
        headline="خبر شهر",
        body_html=body,
        body_text=body,
        images=images,
        published=WHEN,
        published_source=DateSource.EDITOR,
        content_hash=f"hash-{article_id}",
        ingested_at=WHEN,
    )


async def translate(
    engine: CountingEngine, *articles: IngestedArticle, target: str = "en"
) -> list[TranslatedArticle]:
    outcomes = await BatchTranslator(Router([engine]), None, attempts=1).run(
        [Job(a, target) for a in articles]
    )
    assert all(o.event is not None for o in outcomes), [o.error for o in outcomes]
    return [o.event for o in outcomes if o.event is not None]


# ---------------------------------------------------------------------------- segment plan


def test_captions_are_segments_after_the_body_one_each() -> None:
    plan = segment_article(
        "تیتر",
        "<p>جمله اول. جمله دوم.</p>",
        captions=["نمای  حرم\nدر شب. و روز.", None, "  ", "بازار"],
    )
    assert plan.segments == ("تیتر", "جمله اول.", "جمله دوم.", "نمای حرم در شب. و روز.", "بازار")
    assert plan.captions == (3, None, None, 4)
    out = [f"T{i}" for i in range(len(plan.segments))]
    assert assemble_article(plan, out) == ("T0", "<p>T1 T2</p>")
    assert assemble_captions(plan, out) == ("T3", None, None, "T4")


def test_no_captions_changes_nothing() -> None:
    plain = segment_article("تیتر", "<p>یک.</p>", lead_context=True)
    with_none = segment_article("تیتر", "<p>یک.</p>", lead_context=True, captions=[None])
    assert with_none == replace(plain, captions=(None,))
    assert assemble_captions(plain, list(plain.segments)) == ()


def test_a_picture_item_without_body_has_headline_and_captions_only() -> None:
    plan = segment_article("عکس: برف در مشهد", "", lead_context=True, captions=["برف سنگین"])
    assert plan.segments == ("عکس: برف در مشهد", "برف سنگین")  # a caption is not the lead
    assert assemble_article(plan, ["Snow", "Heavy snow"]) == ("Snow", "")
    assert assemble_captions(plan, ["Snow", " Heavy\nsnow "]) == ("Heavy snow",)


def test_a_blank_translation_is_no_caption_and_a_wrong_count_is_refused() -> None:
    plan = segment_article("h", "", captions=["زیرنویس"])
    assert assemble_captions(plan, ["h", "  "]) == (None,)
    with pytest.raises(ValueError):
        assemble_captions(plan, ["h"])


# ---------------------------------------------------------------------------- pipeline


async def test_the_translated_event_carries_translated_captions() -> None:
    engine = CountingEngine()
    source = article([image(1, "نمای حرم"), image(2, None), image(3, "بازار رضا")])
    (event,) = await translate(engine, source)
    assert [i.caption for i in event.images] == [
        "[pseudo:en] نمای حرم",
        None,
        "[pseudo:en] بازار رضا",
    ]
    kept = [(i.url, i.credit, i.media_type, i.width, i.height) for i in event.images]
    assert kept == [(i.url, i.credit, i.media_type, i.width, i.height) for i in source.images]
    assert event.body_html == "<p>[pseudo:en] متن خبر.</p>"
    assert [i.caption for i in source.images] == ["نمای حرم", None, "بازار رضا"]  # untouched


async def test_captions_are_pooled_across_articles_and_sent_once() -> None:
    engine = CountingEngine()
    a = article([image(1, "نمای حرم")], article_id="tehran-1")
    b = article([image(2, "نمای حرم"), image(3, "متن خبر.")], article_id="tehran-2")
    first, second = await translate(engine, a, b)
    assert len(engine.calls) == 1
    assert sorted(engine.sent) == sorted(["خبر شهر", "متن خبر.", "نمای حرم"])
    assert first.images[0].caption == second.images[0].caption == "[pseudo:en] نمای حرم"
    assert second.images[1].caption == "[pseudo:en] متن خبر."


async def test_captions_are_remembered_a_corrected_caption_alone_is_sent() -> None:
    _, memory = setup()
    engine = CountingEngine()
    translator = BatchTranslator(Router([engine]), memory, attempts=1)
    await translator.run([Job(article([image(1, "نمای حرم"), image(2, "بازار")]), "en")])
    corrected = article([image(1, "نمای حرم"), image(2, "بازار رضا")])
    (outcome,) = await translator.run([Job(corrected, "en")])
    assert engine.calls[-1] == ["بازار رضا"]
    assert outcome.event is not None
    assert [i.caption for i in outcome.event.images] == [
        "[pseudo:en] نمای حرم",
        "[pseudo:en] بازار رضا",
    ]


class CopyingEngine(CountingEngine):
    """Translates the headline and body and leaves the caption as it was (untranslated)."""

    checked = True

    async def translate(self, segments: list[str], source: str, target: str) -> list[str]:  # type: ignore[override]
        self.calls.append(list(segments))
        return [s if "حرم" in s else "The city's news, in plain English." for s in segments]


async def test_the_checks_see_captions_and_name_their_segment() -> None:
    engine = CopyingEngine("copier")
    source = article([image(1, "نمای شبانه حرم مطهر امام رضا در مشهد")])
    (event,) = await translate(engine, source)
    copies = [f for f in event.provenance.check_failures if f.check in {"copy", "script"}]
    assert copies and {f.segment for f in copies} == {2}  # headline 0, body 1, caption 2
    assert event.provenance.needs_review


def test_an_overlong_translated_caption_is_cut_to_what_the_contract_allows() -> None:
    long = " ".join(["word"] * 400)
    (out,) = translated_images([image(1, "کوتاه")], [long])
    assert out.caption is not None and len(out.caption) <= CAPTION_MAX
    assert out.caption.endswith("word…")
    Image.model_validate(out.model_dump())  # still a valid Image for the feeds to parse
