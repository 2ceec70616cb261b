import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from bench.crafted_page import crafted_ninjs
from services.ingest.ninjs import NinjsError, _body_content, _html_to_plain, to_article
from shared.contracts import Image, PubStatus

TEHRAN = timezone(timedelta(hours=3, minutes=30))

NINJS_2: dict[str, Any] = {
    "uri": "https://news.mashhad.ir/ninjs/1314415",
    "standard": {"name": "ninjs", "version": "2.1"},
    "type": "text",
    "version": "3",
    "firstcreated": "2024-12-30T09:30:00+03:30",
    "versioncreated": "2024-12-30T11:02:00+03:30",
    "embargoed": "2024-12-30T10:00:00Z",
    "pubstatus": "usable",
    "language": "fa",
    "urgency": 4,
    "by": "واحد خبر شهرداری مشهد",
    "headlines": [
        {"role": "short", "value": "رونمایی جهانشهر"},
        {"role": "main", "value": "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد"},
    ],
    "descriptions": [{"role": "summary", "value": "چکیده"}],
    "bodies": [
        {"role": "nitf", "contenttype": "application/nitf+xml", "value": "<nitf/>"},
        {"role": "main", "contenttype": "text/plain", "value": "متن ساده."},
        {"contenttype": "text/html; charset=utf-8", "value": "<p>نسخه دیگر</p>"},
        {"role": "main", "contenttype": "text/html", "value": "<p>پایگاه رونمایی شد.</p>"},
    ],
    "subjects": [
        {"name": "دیپلماسی شهری", "uri": "http://cv.iptc.org/newscodes/mediatopic/11000000"},
        {"literal": "urban-planning"},
        {"uri": "http://cv.iptc.org/newscodes/mediatopic/20000000"},
        {"name": "دیپلماسی شهری"},
    ],
    "places": [{"name": "مشهد"}],
    "located": "مشهد",
    "associations": [
        {
            "name": "featureimage",
            "type": "picture",
            "uri": "urn:newsml:mashhad.ir:20241230:photo1",
            "by": "عکاس: علی رضایی",
            "copyrightholder": "شهرداری مشهد",
            "descriptions": [{"role": "caption", "value": "مراسم رونمایی"}],
            "renditions": [
                {
                    "name": "thumb",
                    "href": "https://cdn.mashhad.ir/p1/thumb.jpg",
                    "contenttype": "image/jpeg",
                    "width": 256,
                    "height": 171,
                },
                {
                    "name": "original",
                    "href": "ftp://archive.mashhad.ir/p1.tif",
                    "contenttype": "image/tiff",
                    "width": 6000,
                    "height": 4000,
                },
                {
                    "name": "large",
                    "href": "https://cdn.mashhad.ir/p1/large.jpg",
                    "contenttype": "image/jpeg",
                    "width": 1920.0,
                    "height": 1280.0,
                },
            ],
        },
        {"name": "related", "type": "text", "uri": "https://news.mashhad.ir/1314400"},
        {
            "name": "clip",
            "type": "video",
            "uri": "https://cdn.mashhad.ir/v1",
            "renditions": [
                {
                    "name": "poster",
                    "href": "https://cdn.mashhad.ir/v1.jpg",
                    "contenttype": "image/jpeg",
                }
            ],
        },
        {
            "name": "map",
            "type": "graphic",
            "uri": "https://cdn.mashhad.ir/map.png",
            "headlines": [{"value": "نقشه محل"}],
            "creditline": "گرافیک: واحد نقشه",
            "renditions": [
                {
                    "name": "web",
                    "href": "https://cdn.mashhad.ir/map.png",
                    "contenttype": "image/png",
                }
            ],
        },
    ],
}


def test_a_ninjs_2_document_maps_to_an_article() -> None:
    a = to_article(NINJS_2, "mashhad")
    assert a.publisher == "mashhad"
    assert a.external_id == "https://news.mashhad.ir/ninjs/1314415"
    assert a.url is None
    assert a.language == "fa"
    assert a.headline == "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد"
    assert a.body_html == "<p>پایگاه رونمایی شد.</p>"
    assert a.body_text == "متن ساده."
    assert a.published == datetime(2024, 12, 30, 9, 30, tzinfo=TEHRAN)
    assert a.embargoed == datetime(2024, 12, 30, 10, 0, tzinfo=UTC)
    assert a.pubstatus is PubStatus.USABLE
    assert a.byline == "واحد خبر شهرداری مشهد"
    assert a.subjects == [
        "دیپلماسی شهری",
        "urban-planning",
        "http://cv.iptc.org/newscodes/mediatopic/20000000",
    ]
    assert a.images == [
        Image(
            url="https://cdn.mashhad.ir/p1/large.jpg",
            caption="مراسم رونمایی",
            credit="عکاس: علی رضایی",
            media_type="image/jpeg",
            width=1920,
            height=1280,
        ),
        Image(
            url="https://cdn.mashhad.ir/map.png",
            caption="نقشه محل",
            credit="گرافیک: واحد نقشه",
            media_type="image/png",
        ),
    ]


NINJS_1: dict[str, Any] = {
    "uri": "urn:newsml:tehran.ir:20240307:98765",
    "type": "text",
    "versioncreated": "2024-03-07T14:31:00+03:30",
    "language": "FA-ir",
    "headline": "افتتاح خط ۱۰ مترو تهران",
    "byline": "خبرنگار",
    "body_text": "خط ۱۰ مترو افتتاح شد.\n\nمسافران استقبال کردند.",
    "subject": [
        {"name": "حمل و نقل", "scheme": "http://cv.iptc.org/newscodes/subjectcode/", "code": "1"},
        {"code": "04000000"},
    ],
    "associations": {
        "featureimage": {
            "uri": "https://img.tehran.ir/metro.jpg",
            "type": "picture",
            "mimetype": "image/jpeg",
            "description_text": "ایستگاه مترو",
            "copyrightholder": "شهرداری تهران",
        },
        "thumbnail": {
            "uri": "urn:tehran:thumb",
            "type": "picture",
            "headline": "بندانگشتی",
            "renditions": {
                "small": {"href": "https://img.tehran.ir/s.jpg", "mimetype": "image/jpeg"},
                "medium": {
                    "href": "https://img.tehran.ir/m.jpg",
                    "mimetype": "image/jpeg",
                    "sizeinbytes": 90000,
                },
            },
        },
        "sidebar": {"uri": "urn:tehran:sidebar", "type": "text", "headline": "کادر"},
    },
}


def test_a_ninjs_1_document_maps_to_an_article() -> None:
    a = to_article(NINJS_1, "tehran")
    assert a.external_id == "urn:newsml:tehran.ir:20240307:98765"
    assert a.language == "fa-ir"
    assert a.headline == "افتتاح خط ۱۰ مترو تهران"
    assert a.body_text == "خط ۱۰ مترو افتتاح شد.\n\nمسافران استقبال کردند."
    assert a.body_html is None
    assert a.published == datetime(2024, 3, 7, 14, 31, tzinfo=TEHRAN)
    assert a.byline == "خبرنگار"
    assert a.subjects == ["حمل و نقل", "04000000"]
    assert a.embargoed is None and a.pubstatus is PubStatus.USABLE
    assert a.images == [
        Image(
            url="https://img.tehran.ir/metro.jpg",
            caption="ایستگاه مترو",
            credit="شهرداری تهران",
            media_type="image/jpeg",
        ),
        Image(url="https://img.tehran.ir/m.jpg", caption="بندانگشتی", media_type="image/jpeg"),
    ]


def _doc(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(NINJS_2)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("canceled", PubStatus.CANCELED),
        ("withheld", PubStatus.WITHHELD),
        (" Usable ", PubStatus.USABLE),
        (..., PubStatus.USABLE),
    ],
)
def test_pubstatus(value: Any, status: PubStatus) -> None:
    assert to_article(_doc(pubstatus=value), "mashhad").pubstatus is status


def test_published_is_first_created_else_version_created() -> None:
    a = to_article(_doc(firstcreated=...), "mashhad")
    assert a.published == datetime(2024, 12, 30, 11, 2, tzinfo=TEHRAN)
    assert to_article(_doc(firstcreated=..., versioncreated=...), "mashhad").published is None


def test_a_time_without_offset_is_passed_on_for_the_publisher_zone() -> None:
    a = to_article(_doc(firstcreated="2024-12-30T09:30:00"), "mashhad")
    assert a.published == datetime(2024, 12, 30, 9, 30)


def test_the_language_defaults_to_persian() -> None:
    assert to_article(_doc(language=...), "mashhad").language == "fa"


def test_a_body_without_content_type_is_sniffed() -> None:
    html_doc = _doc(bodies=[{"value": " <p>متن</p>"}])
    assert to_article(html_doc, "mashhad").body_html == "<p>متن</p>"
    plain = to_article(_doc(bodies=[{"value": "متن"}]), "mashhad")
    assert plain.body_text == "متن" and plain.body_html is None


def test_pictures_are_capped_at_fifty() -> None:
    pictures = [
        {"name": f"p{i}", "type": "picture", "uri": f"https://cdn.mashhad.ir/{i}.jpg"}
        for i in range(60)
    ]
    assert len(to_article(_doc(associations=pictures), "mashhad").images) == 50


def test_a_picture_without_an_http_link_is_skipped() -> None:
    doc = _doc(associations=[{"name": "p", "type": "picture", "uri": "urn:x:1"}])
    assert to_article(doc, "mashhad").images == []


def test_a_long_caption_is_cut_to_the_contract() -> None:
    picture = {
        "name": "p",
        "type": "picture",
        "uri": "https://cdn.mashhad.ir/1.jpg",
        "description_text": "ت" * 1500,
    }
    caption = to_article(_doc(associations=[picture]), "mashhad").images[0].caption
    assert caption is not None and len(caption) == 1000 and caption.endswith("…")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (["not", "an", "object"], "ninjs: the document must be an object, not a list"),
        (_doc(uri=...), "ninjs: the document has no uri"),
        (_doc(uri="  "), "ninjs: the document has no uri"),
        (_doc(uri=1314415), "ninjs: uri must be a string, not a number"),
        (_doc(uri="urn:" + "x" * 300), "ninjs: uri is longer than 200 characters: 'urn:"),
        (_doc(headlines="تیتر"), "ninjs: headlines must be a list, not a string"),
        (_doc(headlines=["تیتر"]), "ninjs: headlines[0] must be an object, not a string"),
        (
            _doc(headlines=[{"value": 5}]),
            "ninjs: headlines[0].value must be a string, not a number",
        ),
        (_doc(bodies={"value": "متن"}), "ninjs: bodies must be a list, not an object"),
        (_doc(bodies=[{"value": "x"}, None]), "ninjs: bodies[1] must be an object, not null"),
        (_doc(associations="x"), "ninjs: associations must be an object or a list, not a string"),
        (
            _doc(associations=[{"name": "a"}, 3]),
            "ninjs: associations[1] must be an object, not a number",
        ),
        (
            {"uri": "u", "headline": "h", "body_text": "b", "associations": {"pic": []}},
            "ninjs: associations.pic must be an object, not a list",
        ),
        (
            _doc(associations=[{"name": "p", "type": "picture", "renditions": "x"}]),
            "ninjs: associations[0].renditions must be an object or a list, not a string",
        ),
        (_doc(subjects="شهر"), "ninjs: subjects must be a list, not a string"),
        (
            _doc(pubstatus="draft"),
            "ninjs: pubstatus must be one of usable, withheld, canceled, not 'draft'",
        ),
        (
            _doc(pubstatus=True),
            "ninjs: pubstatus must be one of usable, withheld, canceled, not True",
        ),
        (
            _doc(firstcreated=..., versioncreated="yesterday"),
            "ninjs: versioncreated is not a date: 'yesterday'",
        ),
        (_doc(firstcreated=1735540200), "ninjs: firstcreated is not a date: 1735540200"),
        (_doc(embargoed="soon"), "ninjs: embargoed is not a date: 'soon'"),
        (
            _doc(embargoed="2024-12-30T10:00:00"),
            "ninjs: embargoed needs a time zone offset: '2024-12-30T10:00:00'",
        ),
        (_doc(by=["a", "b"]), "ninjs: by must be a string, not a list"),
        (_doc(language=7), "ninjs: language must be a string, not a number"),
    ],
)
def test_errors_name_the_field_and_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(NinjsError) as caught:
        to_article(doc, "mashhad")
    assert str(caught.value).startswith(message)


def test_a_missing_headline_or_body_is_the_contract_s_error() -> None:
    with pytest.raises(ValidationError, match="headline"):
        to_article(_doc(headlines=...), "mashhad")
    with pytest.raises(ValidationError, match="needs a body"):
        to_article(_doc(bodies=[{"contenttype": "application/xml", "value": "<x/>"}]), "mashhad")
    with pytest.raises(ValidationError, match="headline"):
        to_article(_doc(headlines=[{"value": "  "}]), "mashhad")


def test_unknown_fields_are_ignored() -> None:
    doc = _doc(ednote="داخلی", rightsinfo={"linkedrights": "https://x"}, x_custom={"a": 1})
    assert to_article(doc, "mashhad").headline.startswith("پایگاه")


def test_a_whole_html_document_is_cut_to_its_body() -> None:
    page = "<html><head><title>تیتر</title></head><body><article><p>متن</p></article></body></html>"
    doc = _doc(bodies=[{"role": "html5", "contenttype": "text/html", "value": page}])
    assert to_article(doc, "mashhad").body_html == "<article><p>متن</p></article>"
    assert to_article(_doc(bodies=..., body_html=page), "mashhad").body_html == (
        "<article><p>متن</p></article>"
    )


# Crafted markup: one pass over the text, whatever its shape (issue 18) -----------------------
# Each of these made a regex rescan the rest of the text from every "<": minutes of CPU.


def test_unclosed_tags_in_a_headline_are_text() -> None:
    crafted = "<" * 400_000 + "تیتر"
    assert _html_to_plain(crafted) == crafted
    assert _html_to_plain("<b>تیتر</b> <i>خبر") == "تیتر خبر"
    assert _html_to_plain("a < b <i>c</i>") == "a < b c"


def test_unclosed_body_and_head_tags_leave_the_body_as_it_is() -> None:
    bodies = "<body " * 200_000
    assert _body_content(bodies) == bodies
    heads = "<head>" * 100_000 + "<p>متن.</p>"
    assert _body_content(heads) == heads
    assert _body_content("<HEAD><title>t</title></head >" * 3 + "<p>متن</p>") == "<p>متن</p>"
    assert _body_content('<body class="x">\n<p>متن</p></BODY>بعد') == "\n<p>متن</p>"
    assert _body_content("<body><p>متن</p>") == "<p>متن</p>"


def test_a_crafted_ninjs_document_is_read_and_refused_for_its_headline() -> None:
    doc = crafted_ninjs(60_000)
    with pytest.raises(ValidationError, match="headline"):
        to_article(doc, "mashhad")  # 60,000 "<" and a word: too long for a headline
    article = to_article({**doc, "headlines": [{"value": "تیتر"}]}, "mashhad")
    assert article.external_id == "crafted-60000"
    assert article.body_html is not None and article.body_html.endswith("<p>متن.</p>")
