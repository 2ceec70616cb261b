import pytest
from pydantic import ValidationError

from shared.contracts import SubmittedArticle, Topics
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
    assert a.publisher == "mashhad" and a.language == "fa"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"publisher": "mashhad", "headline": "x"}, "needs a body"),
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
