from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest.article import PreparedVersion, Rejected, WithdrawalRequest, prepare
from shared.contracts import SubmittedArticle, SubmittedPage, Withdrawal
from shared.registry import Publisher

MASHHAD = Publisher(id="mashhad", name="Mashhad", translate_to=["en"])
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


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
    assert isinstance(p, PreparedVersion)
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


# ------------------------------------------------------------- ownership and dates (issue 18)

TEHRAN = Publisher(id="tehran", name="Tehran")
TEHRAN_NORTH = Publisher(id="tehran-north", name="Tehran North")


def test_a_publisher_cannot_withdraw_the_articles_of_one_whose_id_extends_its_own() -> None:
    """Publisher ids may contain '-': "tehran-north-…" must not count as one of tehran's."""
    theirs = prepare(sub(publisher="tehran-north", external_id="9"), TEHRAN_NORTH, RECEIVED)
    assert theirs.article_id.startswith("tehran-north-")
    gone = Withdrawal(publisher="tehran", withdraw=True, article_id=theirs.article_id)
    with pytest.raises(Rejected, match="is not one of 'tehran''s articles"):
        prepare(gone, TEHRAN, RECEIVED)
    own = Withdrawal(publisher="tehran-north", withdraw=True, article_id=theirs.article_id)
    request = prepare(own, TEHRAN_NORTH, RECEIVED)
    assert isinstance(request, WithdrawalRequest) and request.publisher == "tehran-north"


@pytest.mark.parametrize(
    "published",
    [
        "0001-01-01T00:00:00",  # an OverflowError (HTTP 500) in the publisher's zone
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59-12:00",
        "1899-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "0001/01/01",  # Jalali year 1 is 622 AD
        "۱۶۹۹/۰۱/۰۱",  # Jalali 1699 is 2320 AD
        "1 فروردین 0001",
    ],
)
def test_a_date_outside_the_sane_range_is_rejected_with_a_reason(published: str) -> None:
    with pytest.raises((Rejected, ValueError), match="out of range") as caught:
        prepare(sub(published=published), MASHHAD, RECEIVED)
    assert "1900" in str(caught.value)


def test_a_publication_time_more_than_a_day_after_receipt_is_rejected() -> None:
    ok = prepare(sub(published="2026-01-02T11:00:00Z"), MASHHAD, RECEIVED)  # clock skew is fine
    assert ok.content["published"] == datetime(2026, 1, 2, 11, tzinfo=UTC)
    with pytest.raises(Rejected, match="in the future"):
        prepare(sub(published="2026-01-03T12:00:01Z"), MASHHAD, RECEIVED)


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
    ),
    offset_minutes=st.one_of(st.none(), st.integers(min_value=-23 * 60, max_value=23 * 60)),
)
def test_any_iso_date_is_either_in_range_or_a_reason_never_a_crash(
    when: datetime, offset_minutes: int | None
) -> None:
    iso = when.isoformat()
    if offset_minutes is not None:
        sign = "-" if offset_minutes < 0 else "+"
        iso += f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    for payload in ({"published": iso}, {"embargoed": f"{when.isoformat()}+00:00"}):
        try:
            p = prepare(sub(**payload), MASHHAD, RECEIVED)
        except (Rejected, ValidationError):
            continue
        assert isinstance(p, PreparedVersion)
        assert (
            datetime(1899, 12, 31, tzinfo=UTC) <= p.content["published"] <= RECEIVED.replace(day=2)
        )


def test_a_string_that_is_no_article_id_names_no_article() -> None:
    for ident, said in [
        ("tehran-nothing", "there is no article 'tehran-nothing' to withdraw"),
        ("tehran-north-nothing", "there is no article 'tehran-north-nothing'"),
        ("mashhad-0123", "is not one of 'tehran''s articles"),
        ("tehran-north-" + "0" * 20, "is not one of 'tehran''s articles"),
    ]:
        with pytest.raises(Rejected, match=said):
            prepare(
                Withdrawal(publisher="tehran", withdraw=True, article_id=ident), TEHRAN, RECEIVED
            )
