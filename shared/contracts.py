"""Event contracts: the topics and the versioned messages the services exchange.

Every event carries ``schema_version``. A consumer accepts the versions it knows and sends any
other to the dead-letter topic with a reason, so a rolling upgrade never silently drops data.
The Kafka message key is always the article id, so all events of one article stay in order on
one partition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


class Topics:
    """Topic names. Each consumed topic has a dead-letter twin: ``<topic>.dlq``."""

    SUBMITTED = "articles.submitted"
    INGESTED = "articles.ingested"
    TRANSLATED = "articles.translated"

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        main = (cls.SUBMITTED, cls.INGESTED, cls.TRANSLATED)
        return main + tuple(cls.dlq(t) for t in main)


PUBLISHER_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def _lower_id(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


PublisherId = Annotated[
    str,
    BeforeValidator(_lower_id),
    StringConstraints(pattern=PUBLISHER_ID),
    Field(description="Registered publisher id, for example `mashhad`."),
]
LanguageTag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=LANGUAGE_TAG),
    Field(description="BCP 47 language tag, for example `fa`, `en`, `ar`, `ru`."),
]


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        return None
    return value


OptionalText = Annotated[str | None, AfterValidator(_not_blank)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of the internal events: unknown fields are ignored, so newer producers can add some."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --------------------------------------------------------------------------- editor input


class SubmittedArticle(BaseModel):
    """Editor input on ``articles.submitted`` (and the body of ``POST /articles``), schema v1.

    Strict about unknown fields so a misspelt field name is reported instead of dropped.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "publisher": "mashhad",
                    "language": "fa",
                    "headline": "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد",
                    "body_text": "پایگاه اینترنتی جهانشهر به چهار زبان رونمایی شد.",
                    "external_id": "1314415",
                    "published": "2024-12-30T09:30:00+03:30",
                }
            ]
        },
    )

    schema_version: Literal[1] = 1
    publisher: PublisherId
    language: LanguageTag = "fa"
    headline: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    body_text: OptionalText = Field(default=None, max_length=500_000)
    body_html: OptionalText = Field(default=None, max_length=1_000_000)
    external_id: Annotated[str | None, StringConstraints(max_length=200)] = Field(
        default=None, description="The source's own news code."
    )
    published: datetime | None = Field(
        default=None,
        description="ISO 8601. Without an offset it is read in the publisher's time zone.",
    )
    url: Annotated[str | None, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] = None
    subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    byline: Annotated[str | None, StringConstraints(max_length=500)] = None

    @model_validator(mode="after")
    def _needs_a_body(self) -> SubmittedArticle:
        if not self.body_text and not self.body_html:
            raise ValueError("an article needs a body: give body_text or body_html")
        return self


# --------------------------------------------------------------------------- internal events


class DateSource(StrEnum):
    EDITOR = "editor"
    SUBMISSION_TIME = "submission-time"


class ArticleStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class ArticleVersion(Event):
    """What every article event says about one version of an article in one language."""

    schema_version: Literal[1] = 1
    article_id: str
    version: int = Field(ge=1)
    status: ArticleStatus = ArticleStatus.ACTIVE
    publisher: str
    language: str
    headline: str
    body_html: str = Field(description="Sanitised HTML, paragraphs as <p>.")
    url: str | None = None
    subjects: list[str] = Field(default_factory=list)
    byline: str | None = None
    published: AwareDatetime


class IngestedArticle(ArticleVersion):
    """``articles.ingested`` v1: a stored, clean article version in its source language."""

    body_text: str
    external_id: str | None = None
    published_source: DateSource
    content_hash: str
    ingested_at: AwareDatetime


class TranslationMethod(StrEnum):
    MACHINE = "machine"
    HUMAN = "human"


class Provenance(Event):
    """Where a translation came from; it travels with the translation into the feeds."""

    engine: str
    model: str | None = None
    model_version: str | None = None
    glossary_version: str | None = None
    pivot: str | None = None
    method: TranslationMethod = TranslationMethod.MACHINE
    reviewed: bool = False
    translated_at: AwareDatetime


class TranslatedArticle(ArticleVersion):
    """``articles.translated`` v1: one article version in one target language."""

    source_language: str
    provenance: Provenance


class DeadLetter(Event):
    """``<topic>.dlq`` v1: a message a service could not process, kept whole with the reason."""

    schema_version: Literal[1] = 1
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str | None = Field(description="The original value, when it was valid UTF-8.")
    payload_base64: str | None = Field(
        default=None, description="The original value, base64, when it was not valid UTF-8."
    )
    headers: dict[str, str] = Field(default_factory=dict)
    error_class: str
    reason: str = Field(description="What was wrong, for a person.")
    service: str
    attempts: int = 1
    failed_at: AwareDatetime = Field(default_factory=utcnow)
