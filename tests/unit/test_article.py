from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.article import Prepared, Rejected, WithdrawalRequest, prepare
from shared.contracts import SubmittedArticle, SubmittedPage, Withdrawal
from shared.registry import Publisher

MASHHAD = Publisher(id="mashhad", name="Mashhad", translate_to=["en"])
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


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


def test_persian_text_is_normalised_and_arabic_keeps_its_spelling() -> None:
    fa = prepare(sub(headline="شهرداري  مشهد", body_text="كلانشهر ٢٠٢٤"), MASHHAD, RECEIVED)
    assert fa.content["headline"] == "شهرداری مشهد"
    assert fa.content["body_text"] == "کلانشهر ۲۰۲۴"
    ar = prepare(
        sub(language="ar", headline="بلدية  مشهد", body_text="في مدينة"), MASHHAD, RECEIVED
    )
    assert ar.content["headline"] == "بلدية مشهد" and ar.content["body_text"] == "في مدينة"


def test_a_printed_jalali_date_is_accepted_and_a_bad_one_is_explained() -> None:
    p = prepare(sub(published="۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱"), MASHHAD, RECEIVED)
    assert p.content["published"] == datetime(2024, 3, 7, 11, 1, tzinfo=UTC)
    with pytest.raises(Rejected, match=r"^published: cannot read the date"):
        prepare(sub(published="۳۲ اسفند ۱۴۰۲"), MASHHAD, RECEIVED)


def test_a_raw_page_gives_its_code_date_and_body() -> None:
    raw = (FIXTURES / "samples" / "tehran-transport-synthetic.html").read_text()
    page = SubmittedPage(publisher="mashhad", raw_html=raw)
    p = prepare(page, MASHHAD, RECEIVED)
    assert isinstance(p, Prepared)
    assert p.content["external_id"] == "2212303" and p.content["input_form"] == "page"
    assert p.content["published_source"] == "page"
    assert p.content["body_html"].startswith("<p>شهردار تهران از اجرای طرح جدید")
    assert p.article_id == prepare(page, MASHHAD, RECEIVED).article_id


def test_a_withdrawal_by_external_id_names_the_same_article() -> None:
    published = prepare(sub(external_id="1314415"), MASHHAD, RECEIVED)
    gone = prepare(
        Withdrawal(publisher="mashhad", withdraw=True, external_id="1314415"), MASHHAD, RECEIVED
    )
    assert isinstance(gone, WithdrawalRequest) and gone.article_id == published.article_id


def test_a_publisher_cannot_withdraw_another_publishers_article() -> None:
    with pytest.raises(Rejected, match="is not one of 'mashhad'"):
        prepare(
            Withdrawal(
                publisher="mashhad", withdraw=True, article_id="tehran-0123456789abcdef0123"
            ),
            MASHHAD,
            RECEIVED,
        )
