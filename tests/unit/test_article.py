from datetime import UTC, datetime

from services.ingest.article import prepare
from shared.contracts import SubmittedArticle
from shared.registry import Publisher

MASHHAD = Publisher(id="mashhad", name="Mashhad", translate_to=["en"])
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def sub(**kw: object) -> SubmittedArticle:
    return SubmittedArticle.model_validate(
        {"publisher": "mashhad", "headline": "تیتر", "body_text": "متن", **kw}
    )


def test_naive_times_are_read_in_tehran_time_with_its_historic_dst() -> None:
    summer_2021 = prepare(sub(published="2021-07-01T10:00:00"), MASHHAD, RECEIVED)
    assert summer_2021.content["published"] == datetime(2021, 7, 1, 5, 30, tzinfo=UTC)  # +04:30
    summer_2024 = prepare(sub(published="2024-07-01T10:00:00"), MASHHAD, RECEIVED)
    assert summer_2024.content["published"] == datetime(2024, 7, 1, 6, 30, tzinfo=UTC)  # +03:30
    assert summer_2024.content["published_source"] == "editor"


def test_an_undated_article_gets_the_receipt_time_and_says_so() -> None:
    p = prepare(sub(), MASHHAD, RECEIVED)
    assert p.content["published"] == RECEIVED
    assert p.content["published_source"] == "submission-time"
    later = prepare(sub(), MASHHAD, datetime(2026, 1, 2, tzinfo=UTC))
    assert later.content_hash == p.content_hash  # resubmitting later is not a new version


def test_a_changed_headline_is_a_new_version_of_the_same_article() -> None:
    a = prepare(sub(external_id="42"), MASHHAD, RECEIVED)
    b = prepare(sub(external_id="42", headline="تیتر اصلاح شده"), MASHHAD, RECEIVED)
    assert a.article_id == b.article_id and a.content_hash != b.content_hash


def test_plain_text_body_becomes_escaped_paragraphs() -> None:
    p = prepare(sub(body_text="الف < ب\n\nج"), MASHHAD, RECEIVED)
    assert p.content["body_html"] == "<p>الف &lt; ب</p><p>ج</p>"
