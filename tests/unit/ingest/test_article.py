from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest.article import PreparedVersion, Rejected, WithdrawalRequest, prepare
from shared.contracts import SubmittedArticle, SubmittedNinjs, SubmittedPage, Withdrawal
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


# ------------------------------------------------------------------ issue 21: languages, pictures

KAZAN_EN = Publisher(id="kazan", name="Kazan", language="en", timezone="Europe/Moscow")
GUANGZHOU = Publisher(id="guangzhou", name="Guangzhou", language="zh", timezone="Asia/Shanghai")
SPRING = "Kazan hosts the spring forum of sister cities"


def test_a_clean_article_without_a_language_is_in_its_publisher_s_language() -> None:
    p = prepare(
        sub(publisher="kazan", headline=SPRING, body_text="Mayors met."), KAZAN_EN, RECEIVED
    )
    assert isinstance(p, PreparedVersion) and p.content["language"] == "en"
    persian = prepare(sub(), MASHHAD, RECEIVED)
    assert isinstance(persian, PreparedVersion) and persian.content["language"] == "fa"


def test_an_own_language_beats_the_publisher_s() -> None:
    russian = sub(publisher="kazan", language="ru", headline="Казань принимает форум городов")
    p = prepare(russian, KAZAN_EN, RECEIVED)
    assert isinstance(p, PreparedVersion) and p.content["language"] == "ru"


def test_a_ninjs_without_a_language_is_in_its_publisher_s_language() -> None:
    """Once refused as "mostly in Latin letters, not in the Arabic script of 'fa'"."""
    doc = {"uri": "urn:kazan:1", "headline": SPRING, "body_text": "Mayors met in Kazan."}
    p = prepare(SubmittedNinjs(publisher="kazan", ninjs=doc), KAZAN_EN, RECEIVED)
    assert isinstance(p, PreparedVersion) and p.content["language"] == "en"


def test_a_page_without_a_language_is_in_its_publisher_s_language() -> None:
    page = SubmittedPage(publisher="kazan", raw_text=f"{SPRING}\n\nMayors of twelve cities met.")
    p = prepare(page, KAZAN_EN, RECEIVED)
    assert isinstance(p, PreparedVersion) and p.content["language"] == "en"
    assert p.content["headline"] == SPRING


def test_a_chinese_headline_with_latin_brand_names_passes_for_a_chinese_publisher() -> None:
    headline = "Cambrios被Gartner評選為「最酷供應商」"
    chinese = sub(publisher="guangzhou", headline=headline, body_text="加州桑尼維爾市")
    p = prepare(chinese, GUANGZHOU, RECEIVED)
    assert isinstance(p, PreparedVersion) and p.content["language"] == "zh"
    assert p.content["headline"] == headline


@pytest.mark.parametrize(
    ("publisher", "headline", "said"),
    [
        (MASHHAD, SPRING, "headline: is mostly in Latin letters, not in the Arabic script of 'fa'"),
        (KAZAN_EN, "شهردار مشهد از کازان دیدار کرد", "Arabic letters, not in the Latin"),
        (KAZAN_EN, "Мэр Казани посетил Мешхед", "Cyrillic letters, not in the Latin"),
        (GUANGZHOU, SPRING, "Latin letters, not in the Han script of 'zh'"),
        (KAZAN_EN, "广州市长会见马什哈德代表团", "Han characters, not in the Latin script of 'en'"),
    ],
)
def test_a_headline_in_another_language_than_the_publisher_s_is_refused_with_a_reason(
    publisher: Publisher, headline: str, said: str
) -> None:
    with pytest.raises(Rejected, match=said):
        prepare(sub(publisher=publisher.id, headline=headline), publisher, RECEIVED)


PHOTOS = [
    {"url": "https://example.org/p/1.jpg", "caption": "نورپردازي  خیابان امام رضا"},
    {"url": "https://example.org/p/2.jpg", "caption": "حرم مطهر در شب"},
    {"url": "https://example.org/p/3.jpg", "caption": "نورپردازی خیابان امام رضا"},
]


def test_a_gallery_without_a_body_gets_its_captions_as_its_body() -> None:
    """One paragraph per caption, normalised and without repeats; the images stay as they are."""
    p = prepare(sub(body_text=None, images=PHOTOS), MASHHAD, RECEIVED)
    assert isinstance(p, PreparedVersion)
    assert p.content["body_html"] == "<p>نورپردازی خیابان امام رضا</p><p>حرم مطهر در شب</p>"
    assert p.content["body_text"] == "نورپردازی خیابان امام رضا\n\nحرم مطهر در شب"
    assert [i["url"] for i in p.content["images"]] == [i["url"] for i in PHOTOS]


def test_a_body_of_markup_only_falls_back_to_the_captions() -> None:
    p = prepare(sub(body_text=None, body_html="<p> </p>", images=PHOTOS[1:2]), MASHHAD, RECEIVED)
    assert isinstance(p, PreparedVersion) and p.content["body_text"] == "حرم مطهر در شب"
    with pytest.raises(Rejected, match="no text once markup is removed, and there is no image"):
        prepare(sub(body_text=None, body_html="<p> </p>"), MASHHAD, RECEIVED)


def test_uncaptioned_pictures_have_an_empty_body_and_are_told_apart_by_their_images() -> None:
    one = prepare(
        sub(body_text=None, images=[{"url": "https://example.org/a.jpg"}]), MASHHAD, RECEIVED
    )
    two = prepare(
        sub(body_text=None, images=[{"url": "https://example.org/b.jpg"}]), MASHHAD, RECEIVED
    )
    assert isinstance(one, PreparedVersion) and isinstance(two, PreparedVersion)
    assert one.content["body_html"] == "" and one.content["body_text"] == ""
    assert one.article_id != two.article_id


def test_an_article_with_neither_body_nor_image_is_refused() -> None:
    with pytest.raises(ValidationError, match="an article needs a body or an image"):
        sub(body_text=None)
