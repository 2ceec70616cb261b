import pytest
from pydantic import ValidationError

from shared.contracts import SubmittedArticle, SubmittedPage, Topics
from shared.messaging import describe_validation_error


def test_every_consumed_topic_has_a_dead_letter_twin() -> None:
    assert Topics.dlq(Topics.SUBMITTED) == "articles.submitted.dlq"
    assert set(Topics.all()) >= {f"{t}.dlq" for t in (Topics.SUBMITTED, Topics.INGESTED)}


def test_editor_input_accepts_the_documented_fields() -> None:
    a = SubmittedArticle.model_validate(
        {
            "publisher": " Mashhad ",
            "headline": "تیتر",
            "body_html": "<p>متن</p>",
            "external_id": "1314415",
            "published": "2024-03-07T14:31:00+03:30",
            "url": "https://example.org/news/1",
            "subjects": ["city diplomacy"],
            "byline": "خبرنگار",
        }
    )
    # No language: the publisher's, resolved by ingest from the registry (issue 21; was "fa").
    assert a.publisher == "mashhad" and a.language is None


def test_a_page_without_a_language_leaves_it_to_the_publisher() -> None:
    page = SubmittedPage.model_validate({"publisher": "mashhad", "raw_text": "تیتر\n\nمتن"})
    assert page.language is None


def test_a_picture_needs_no_body() -> None:
    """A photo story is news too: its images stand in for the body (issue 21)."""
    a = SubmittedArticle.model_validate(
        {
            "publisher": "mashhad",
            "language": "en",
            "headline": "Mashhad's Nowruz lights",
            "images": [{"url": "https://example.org/p/1.jpg", "caption": "Imam Reza street"}],
        }
    )
    assert a.body_text is None and a.body_html is None and len(a.images) == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"publisher": "mashhad", "headline": "x"}, "an article needs a body or an image"),
        ({"publisher": "mashhad", "headline": "x", "images": []}, "needs a body or an image"),
        ({"publisher": "mashhad", "body_text": "x"}, "headline: is required"),
        ({"publisher": "mashhad", "headline": "x", "body_text": "   "}, "needs a body"),
        (
            {"publisher": "mashhad", "headline": "x", "body_text": "y", "titel": 1},
            "titel: is not a known field",
        ),
        ({"publisher": "Mash had!", "headline": "x", "body_text": "y"}, "publisher"),
        (
            {
                "publisher": "mashhad",
                "headline": "x",
                "body_text": "y",
                "url": "javascript:alert(1)",
            },
            "url",
        ),
        (
            {"publisher": "mashhad", "headline": "x", "body_text": "y", "schema_version": 2},
            "schema_version",
        ),
    ],
)
def test_invalid_input_is_explained(payload: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        SubmittedArticle.model_validate(payload)
    assert reason in describe_validation_error(err.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published", "0001-01-01T00:00:00"),
        ("published", "9999-12-31T23:59:59-12:00"),
        ("embargoed", "9999-12-31T23:59:59-12:00"),
        ("embargoed", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_a_date_outside_the_sane_range_is_explained(field: str, value: str) -> None:
    """Such dates overflow on the way to UTC (a 500 before): the contract refuses them."""
    payload = {"publisher": "mashhad", "headline": "x", "body_text": "y", field: value}
    with pytest.raises(ValidationError) as err:
        SubmittedArticle.model_validate(payload)
    said = describe_validation_error(err.value)
    assert field in said and "out of range" in said and "1900" in said, said


def test_a_page_date_outside_the_sane_range_is_explained() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        SubmittedPage.model_validate(
            {"publisher": "mashhad", "raw_text": "x", "published": "0001-01-01T00:00:00"}
        )
