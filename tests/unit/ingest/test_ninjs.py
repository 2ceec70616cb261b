import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bench.crafted_page import crafted_ninjs
from services.ingest.article import PreparedVersion, Rejected, WithdrawalRequest, prepare
from services.ingest.ninjs import (
    NinjsError,
    SchemaError,
    body_content,
    html_to_plain,
    to_article,
    to_submission,
)
from services.ingest.ninjs_schema import Dialect, dialect, known_versions, named_version
from shared.contracts import Image, PubStatus, SubmittedArticle, SubmittedNinjs, Withdrawal
from shared.registry import Publisher

TEHRAN = timezone(timedelta(hours=3, minutes=30))

NINJS_2: dict[str, Any] = {
    "uri": "https://news.mashhad.ir/ninjs/1314415",
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


def test_without_a_language_the_article_is_left_to_its_publisher_s_language() -> None:
    """Issue 21: not Persian whatever the publisher (ingest takes the publisher's language)."""
    assert to_article(_doc(language=...), "mashhad").language is None


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
    no_body = _doc(
        bodies=[{"contenttype": "application/xml", "value": "<x/>"}],
        descriptions=...,
        associations=...,
    )
    with pytest.raises(ValidationError, match="needs a body"):
        to_article(no_body, "mashhad")
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
    assert html_to_plain(crafted) == crafted
    assert html_to_plain("<b>تیتر</b> <i>خبر") == "تیتر خبر"
    assert html_to_plain("a < b <i>c</i>") == "a < b c"


def test_unclosed_body_and_head_tags_leave_the_body_as_it_is() -> None:
    bodies = "<body " * 200_000
    assert body_content(bodies) == bodies
    heads = "<head>" * 100_000 + "<p>متن.</p>"
    assert body_content(heads) == heads
    assert body_content("<HEAD><title>t</title></head >" * 3 + "<p>متن</p>") == "<p>متن</p>"
    assert body_content('<body class="x">\n<p>متن</p></BODY>بعد') == "\n<p>متن</p>"
    assert body_content("<body><p>متن</p>") == "<p>متن</p>"


def test_a_crafted_ninjs_document_is_read_and_refused_for_its_headline() -> None:
    doc = crafted_ninjs(60_000)
    with pytest.raises(ValidationError, match="headline"):
        to_article(doc, "mashhad")  # 60,000 "<" and a word: too long for a headline
    article = to_article({**doc, "headlines": [{"value": "تیتر"}]}, "mashhad")
    assert article.external_id == "crafted-60000"
    assert article.body_html is not None and article.body_html.endswith("<p>متن.</p>")


# ninjs 3.x, versions and IPTC's schemas (issue 21) -------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "ninjs" / "examples"
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
_RENAMED = {
    "firstcreated": "firstCreated",
    "versioncreated": "versionCreated",
    "embargoed": "embargoedUntil",
    "pubstatus": "pubStatus",
    "copyrightholder": "copyrightHolder",
    "contenttype": "contentType",
    "sizeinbytes": "sizeInBytes",
}


def _in_3x(value: Any) -> Any:
    """A 2.x document in 3.x's spelling."""
    if isinstance(value, dict):
        return {_RENAMED.get(k, k): _in_3x(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_3x(v) for v in value]
    return value


NINJS_3: dict[str, Any] = _in_3x(NINJS_2)


def _doc3(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(NINJS_3)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _example(path: str) -> Any:
    return json.loads((EXAMPLES / path).read_text(encoding="utf-8"))


def test_a_3x_document_is_read_in_its_own_spelling() -> None:
    """Its own time, its embargo, its bodies' types, its renditions: the same article as 2.x."""
    assert "versionCreated" in NINJS_3 and "embargoedUntil" in NINJS_3
    assert to_article(NINJS_3, "mashhad") == to_article(NINJS_2, "mashhad")
    a = to_article(_doc3(firstCreated=...), "mashhad")
    assert a.published == datetime(2024, 12, 30, 11, 2, tzinfo=TEHRAN)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("canceled", PubStatus.CANCELED),
        ("withheld", PubStatus.WITHHELD),
        ("usable", PubStatus.USABLE),
    ],
)
def test_a_3x_pub_status_is_read(value: str, status: PubStatus) -> None:
    assert to_article(_doc3(pubStatus=value), "mashhad").pubstatus is status
    named = _doc3(pubStatus=value, standard={"name": "ninjs", "version": "3.1"})
    named["associations"] = [a for a in named["associations"] if "creditline" not in a]
    assert to_article(named, "mashhad").pubstatus is status


def test_a_document_in_both_spellings_is_refused() -> None:
    """Which would count, ``pubStatus: canceled`` or ``pubstatus: usable``? Neither guess."""
    with pytest.raises(SchemaError, match=r"mixes ninjs 3.x properties \(pubStatus\)"):
        to_article(_doc(pubStatus="canceled"), "mashhad")


def test_dates_and_statuses_are_named_in_the_document_s_spelling() -> None:
    with pytest.raises(NinjsError, match="ninjs: versionCreated is not a date: 'yesterday'"):
        to_article(_doc3(firstCreated=..., versionCreated="yesterday"), "mashhad")
    with pytest.raises(NinjsError, match="ninjs: pubStatus must be one of usable"):
        to_article(_doc3(pubStatus="killed"), "mashhad")
    with pytest.raises(NinjsError, match="ninjs: embargoedUntil needs a time zone offset"):
        to_article(_doc3(embargoedUntil="2024-12-30T10:00:00"), "mashhad")


@pytest.mark.parametrize(
    "named",
    [
        {"$schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"},
        {
            "standard": {
                "name": "ninjs",
                "schema": "https://iptc.org/std/ninjs/ninjs-schema_3.1.json",
            }
        },
        {"standard": {"name": "ninjs", "version": "3.1"}},
    ],
)
def test_a_document_that_names_its_schema_is_refused_with_the_schema_s_reason(
    named: dict[str, Any],
) -> None:
    doc = {"uri": "urn:x:1", "headlines": [{"value": "تیتر"}], "bodies": [{"value": "متن"}]}
    assert to_article({**doc, **named}, "mashhad").headline == "تیتر"
    with pytest.raises(SchemaError) as caught:
        to_article({**doc, **named, "pubStatus": "killed"}, "mashhad")
    assert str(caught.value) == (
        "ninjs: not valid against IPTC's ninjs 3.1 schema, which the document names: "
        "pubStatus: 'killed' is not one of ['usable', 'withheld', 'canceled']"
    )
    with pytest.raises(SchemaError, match=r"Unevaluated properties .*'embargoedreason'"):
        to_article({**doc, **named, "embargoedreason": "later"}, "mashhad")


def test_the_schema_s_reason_names_the_place_in_the_document() -> None:
    doc = _example("3.1/004_simple_text_article.json")
    doc["standard"] = {"name": "ninjs", "version": "3.1"}
    doc["bodies"][0]["charcount"] = 5
    with pytest.raises(SchemaError, match=r"ninjs 3.1 schema, .*: bodies\[0\]: .*'charcount'"):
        to_article(doc, "mashhad")


def test_the_iptc_invalid_example_is_refused_by_the_schema_it_names() -> None:
    doc = {**_example("not-valid/008_extension.json"), "$schema": SCHEMA_2_2}
    with pytest.raises(SchemaError, match=r"'embargoedreason' was unexpected"):
        to_article(doc, "mashhad")


SCHEMA_2_2 = "https://www.iptc.org/std/ninjs/ninjs-schema_2.2.json"


def test_an_iptc_schema_this_service_does_not_have_is_refused() -> None:
    doc = _doc3(**{"$schema": "https://www.iptc.org/std/ninjs/ninjs-schema_9.9.json"})
    with pytest.raises(SchemaError, match=r"names IPTC.s ninjs schema 9\.9, which this service"):
        to_article(doc, "mashhad")


def test_an_extension_s_own_schema_is_not_iptc_s_and_is_not_checked() -> None:
    """TT's ttninjs adds properties IPTC's schema refuses; its schema is not here to check."""
    a = to_article(_example("2.1/schema-extension/extension-example.json"), "tt")
    assert a.headline == "Militärövning i jätteformat hålls 2023"


def test_versions_are_told_apart_by_name_or_properties() -> None:
    assert named_version({"$standard": {"name": "ninjs", "version": "1.4"}}) == "1.4"
    assert named_version({"standard": {"name": "TTNINJS", "version": "2.1"}}) is None
    assert dialect(_doc3()) == Dialect(None, camel_case=True)
    assert dialect(_doc()) == Dialect(None, camel_case=False)
    assert dialect(_example("3.1/008_event.json")) == Dialect("3.1", camel_case=True)
    assert known_versions()[0] == "1.0" and known_versions()[-1] == "3.1"


def test_a_document_nested_too_deeply_is_refused() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(NinjsError, match="nested too deeply"):
        to_article(_doc(objects=deep), "mashhad")


def test_a_picture_item_is_its_own_image_and_its_description_the_body() -> None:
    a = to_article(_example("3.1/006_photo_only.json"), "ap")
    assert a.headline == "Costa Concordia cruise ship"
    assert len(a.images) == 1
    image = a.images[0]
    assert image.url == "http://hosted.ap.org/photos/2/2643c588-dc8d-4923-bebd-e3b904edbb3a-big.jpg"
    assert (image.width, image.height, image.media_type) == (429, 281, "image/jpg")
    assert image.caption is not None and image.caption.startswith("The Costa Concordia")
    assert image.credit == "Paulo Santalucia"
    assert a.body_text is not None and a.body_text.startswith("The Costa Concordia")


def test_a_picture_s_creditline_is_its_credit_not_its_body() -> None:
    a = to_article(_example("3.0/ap_image.json"), "ap")
    assert a.images[0].credit == "ASSOCIATED PRESS"
    assert a.images[0].caption is not None and a.images[0].caption.startswith("FILE - In this")
    assert a.body_text is not None and a.body_text.startswith("FILE - In this")


def test_a_gallery_s_pictures_are_its_images() -> None:
    a = to_article(_example("3.1/007_multimedia.json"), "ap")
    assert [i.caption[:20] for i in a.images if i.caption] == [
        "The Costa Concordia ",
        "Francesco Schettino ",
    ]


def test_an_event_is_its_description_its_dates_and_its_place() -> None:
    a = to_article(_example("3.0/simpleEvent.json"), "addb")
    assert a.headline == "Tackling Doping in Sport Conference"
    assert a.body_text is not None
    assert a.body_text.endswith(
        "anti-doping.\n\n2011-03-16 – 2011-03-17\n\nTwickenham Stadium, London, United Kingdom"
    )
    timed = to_article(_example("3.0/20231004-UEFA-ChampionLeague.json"), "uefa")
    assert timed.body_text is not None
    assert "2023-10-04 18:45+02:00\n\nEstadio Metropolitano, Madrid, Spain" in timed.body_text


def test_an_event_without_a_description_is_refused_saying_so() -> None:
    with pytest.raises(NinjsError) as caught:
        to_article(_example("3.1/008_event.json"), "nato")
    assert str(caught.value) == (
        "ninjs: an event becomes an entry only with a headline (or title) and a description "
        "(or body); this one has no description"
    )
    bare = {"uri": "urn:x:e", "type": "event", "eventDetails": {}}
    with pytest.raises(NinjsError, match="this one has no headline and no description"):
        to_article(bare, "nato")


def test_1x_headline_body_and_description_strings_are_read() -> None:
    a = to_article(_example("1.6/004_simple_text_article.json"), "ap")
    assert a.headline == "Captain of wrecked cruise ship on trial in Italy"
    assert a.body_html is not None and a.body_html.startswith("<p>GROSSETO, Italy (AP)")
    assert a.body_text is not None and a.body_text.startswith("GROSSETO, Italy (AP)")


# Every IPTC example through prepare, under a publisher in the document's language ------------

#: The examples that cannot become an entry, and why (each says so itself).
REFUSED = {
    "1.6/002_renditions_example.json": "headline",
    "2.2/002_renditions_example.json": "headline",
    "3.1/002_renditions_example.json": "headline",
    "3.1/008_event.json": "this one has no description",
    "not-valid/008_extension.json": "headline",
}
ALL_EXAMPLES = sorted(
    str(p.relative_to(EXAMPLES))
    for p in EXAMPLES.rglob("*.json")
    if p.name not in {"extension-schema.json", "20231016-event-timeline-sample.json"}
)


def _publisher_for(doc: dict[str, Any]) -> Publisher:
    language = str(doc.get("language") or "en")
    return Publisher(id="agency", name="Agency", language=language, timezone="UTC")


def _prepare(path: str) -> PreparedVersion:
    doc = _example(path)
    change = prepare(SubmittedNinjs(publisher="agency", ninjs=doc), _publisher_for(doc), RECEIVED)
    assert isinstance(change, PreparedVersion)
    return change


@pytest.mark.parametrize("path", ALL_EXAMPLES)
def test_every_iptc_example_becomes_an_article_or_says_why_not(path: str) -> None:
    doc = _example(path)
    if path in REFUSED:
        with pytest.raises(Rejected, match=REFUSED[path]):
            _prepare(path)
        return
    content = _prepare(path).content
    assert content["status"] == "active"
    assert content["language"] == (doc.get("language") or "en")
    own = next(
        (
            doc[k]
            for k in ("firstCreated", "firstcreated", "versionCreated", "versioncreated")
            if k in doc
        ),
        None,
    )
    if own is not None:  # the document's own time, never the time it was received
        assert content["published"] == datetime.fromisoformat(own).astimezone(UTC)
        assert content["published_source"] == "editor"
    if doc.get("type") == "picture":
        assert content["images"] and content["body_text"]


@pytest.mark.parametrize(
    "pair",
    [
        ("2.1/dpa_text.json", "3.0/dpa_text.json"),
        ("2.1/ntb_text.json", "3.0/ntb_text.json"),
        ("2.1/tt_text_image_2.json", "3.0/tt_text_image_3.json"),
        ("2.1/SIPA_image_2.json", "3.0/SIPA_image_3.json"),
        ("2.1/ap_image.json", "3.0/ap_image.json"),
        (
            "2.1/businesswire-newsml-20130731006140.json",
            "3.0/businesswire-newsml-20130731006140.json",
        ),
    ],
)
def test_the_same_story_in_2x_and_in_3x_is_the_same_version(pair: tuple[str, str]) -> None:
    """Resent as 3.0, a 2.1 story is a double submit (same content hash), not a correction."""
    old, new = (_prepare(p) for p in pair)
    assert (old.article_id, old.content_hash) == (new.article_id, new.content_hash)
    assert old.content["published"] == new.content["published"]


def test_dpa_s_2019_story_keeps_2019() -> None:
    content = _prepare("3.0/dpa_text.json").content
    assert content["published"] == datetime(2019, 5, 10, 14, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize("status", ["canceled", "withheld"])
def test_a_3x_canceled_or_withheld_is_a_withdrawal(status: str) -> None:
    doc = {**_example("3.0/dpa_text.json"), "pubStatus": status}
    change = prepare(SubmittedNinjs(publisher="agency", ninjs=doc), _publisher_for(doc), RECEIVED)
    assert isinstance(change, PreparedVersion) and change.withdrawn


@pytest.mark.parametrize("status", ["canceled", "withheld"])
def test_a_bare_3x_kill_notice_is_a_withdrawal_of_the_story_it_names(status: str) -> None:
    """Only ``uri`` and ``pubStatus`` (and perhaps an edNote): the story is taken back by its
    uri, the same article id as the story sent before."""
    story = _example("3.0/dpa_text.json")
    notice = {
        "uri": story["uri"],
        "pubStatus": status,
        "versionCreated": "2019-05-10T17:00:00+02:00",
    }
    kill = to_submission(notice, "agency")
    assert kill == Withdrawal(
        publisher="agency",
        withdraw=True,
        external_id=story["uri"],
        reason=f"ninjs: pubStatus {status}",
    )
    noted = to_submission({**notice, "edNote": "Rechtliche Gründe"}, "agency")
    assert isinstance(noted, Withdrawal) and noted.reason == "Rechtliche Gründe"
    publisher = _publisher_for(story)
    sent = prepare(SubmittedNinjs(publisher="agency", ninjs=story), publisher, RECEIVED)
    taken_back = prepare(kill, publisher, RECEIVED)
    assert isinstance(taken_back, WithdrawalRequest)
    assert taken_back.article_id == sent.article_id


def test_a_kill_notice_with_its_text_is_the_withdrawn_article_and_a_usable_one_an_article() -> None:
    story = _example("3.0/dpa_text.json")
    assert isinstance(to_submission({**story, "pubStatus": "canceled"}, "a"), SubmittedArticle)
    bare = {"uri": story["uri"], "pubStatus": "usable"}
    with pytest.raises(ValidationError, match="headline"):
        to_submission(bare, "a")


def test_prepare_takes_a_bare_kill_notice_as_the_withdrawal_of_the_story_sent_before() -> None:
    """Over HTTP and Kafka the notice goes through prepare: it must withdraw the story (same
    article id), not be refused for lacking a headline (it used to be)."""
    story = _example("3.0/dpa_text.json")
    publisher = _publisher_for(story)
    sent = prepare(SubmittedNinjs(publisher="agency", ninjs=story), publisher, RECEIVED)
    notice = {"uri": story["uri"], "pubStatus": "canceled"}
    kill = prepare(SubmittedNinjs(publisher="agency", ninjs=notice), publisher, RECEIVED)
    assert isinstance(sent, PreparedVersion) and isinstance(kill, WithdrawalRequest)
    assert kill.article_id == sent.article_id


def test_a_bare_canceled_event_is_a_withdrawal_too() -> None:
    notice = {"uri": "urn:nato.int:2023-nato-summit-press-conference", "type": "event"}
    assert isinstance(to_submission({**notice, "pubStatus": "canceled"}, "nato"), Withdrawal)
