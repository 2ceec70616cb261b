"""Event contracts: the topics and the versioned messages the services exchange.

Every event carries ``schema_version``. A consumer accepts the versions it knows and sends any
other to the dead-letter topic with a reason, so a rolling upgrade never silently drops data.
The Kafka message key is always the article id, so all events of one article stay in order on
one partition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    model_validator,
)


class Topics:
    """Topic names. Each consumed topic has a dead-letter twin: ``<topic>.dlq``."""

    SUBMITTED = "articles.submitted"
    INGESTED = "articles.ingested"
    TRANSLATED = "articles.translated"
    HUMAN_TRANSLATIONS = "translations.submitted"
    RETRANSLATIONS = "translations.requested"

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        main = (
            cls.SUBMITTED,
            cls.INGESTED,
            cls.TRANSLATED,
            cls.HUMAN_TRANSLATIONS,
            cls.RETRANSLATIONS,
        )
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

HttpUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]
ShortText = Annotated[str, StringConstraints(max_length=1000)]
LANGUAGE_HELP = (
    "BCP 47 tag of the text's language, for example `fa`, `en`, `zh`. Without it the article is "
    "in its publisher's language (the registry's `language`)."
)
PUBLISHED_HELP = (
    "ISO 8601, or a date as Iranian sites print it (for example `۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱` or "
    "`1402/12/17 14:31`). Without an offset it is the publisher's local time."
)


#: Years an editor's date may fall in. Outside them a date is a typo or a probe, and the far ends
#: overflow when moved to UTC (year 1 at +03:30); the years themselves can never overflow.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2099


def in_sane_range(value: datetime) -> datetime:
    """``value`` if its year is from EARLIEST_YEAR to LATEST_YEAR; ValueError saying so otherwise.
    Checked on the year, so it is safe for naive and aware times alike."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(
            f"{value.isoformat()} is out of range: dates must fall in the years "
            f"{EARLIEST_YEAR} to {LATEST_YEAR}"
        )
    return value


def _sane_if_datetime(value: object) -> object:
    return in_sane_range(value) if isinstance(value, datetime) else value


#: An editor's date: a datetime in the sane range, or text read later (dates.py checks it then).
EditorDate = Annotated[datetime | str | None, AfterValidator(_sane_if_datetime)]


class PubStatus(StrEnum):
    """IPTC publication status; ``withheld`` and ``canceled`` take the article out of every feed."""

    USABLE = "usable"
    WITHHELD = "withheld"
    CANCELED = "canceled"


class Image(BaseModel):
    """A picture that goes with the article (feeds show it as Media RSS)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: HttpUrl
    caption: ShortText | None = None
    credit: Annotated[str | None, StringConstraints(max_length=300)] = None
    media_type: Annotated[str | None, StringConstraints(pattern=r"^image/[a-z0-9.+-]+$")] = None
    width: int | None = Field(default=None, gt=0, le=100_000)
    height: int | None = Field(default=None, gt=0, le=100_000)


class Submission(BaseModel):
    """What every form of editor input on ``articles.submitted`` has: the schema and the publisher.

    Strict about unknown fields so a misspelt field name is reported instead of dropped.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    form: ClassVar[str]
    schema_version: Literal[1] = 1
    publisher: PublisherId


class SubmittedArticle(Submission):
    """A clean article from a CMS or an editor (and the result of mapping a ninjs document)."""

    model_config = ConfigDict(
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
    form: ClassVar[str] = "article"

    language: LanguageTag | None = Field(default=None, description=LANGUAGE_HELP)
    headline: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    body_text: OptionalText = Field(default=None, max_length=500_000)
    body_html: OptionalText = Field(default=None, max_length=1_000_000)
    external_id: Annotated[str | None, StringConstraints(max_length=200)] = Field(
        default=None, description="The source's own id or news code; it identifies the article."
    )
    published: EditorDate = Field(
        default=None,
        union_mode="left_to_right",
        description=PUBLISHED_HELP,
    )
    url: HttpUrl | None = None
    subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    byline: Annotated[str | None, StringConstraints(max_length=500)] = None
    images: list[Image] = Field(default_factory=list, max_length=50)
    pubstatus: PubStatus = Field(
        default=PubStatus.USABLE, description="`canceled` or `withheld` withdraws the article."
    )
    embargoed: Annotated[AwareDatetime, AfterValidator(in_sane_range)] | None = Field(
        default=None, description="Not published anywhere before this time (ISO 8601 with offset)."
    )

    @model_validator(mode="after")
    def _needs_a_body(self) -> SubmittedArticle:
        """A picture or a gallery is news too: its images (and their captions) may stand in for
        the body; ingest then makes the body of the captions."""
        if not self.body_text and not self.body_html and not self.images:
            raise ValueError(
                "an article needs a body or an image: give body_text, body_html or images"
            )
        return self


class SubmittedNinjs(Submission):
    """An IPTC ninjs document (1.x, 2.x or 3.x), as a news agency or CMS exports it."""

    form: ClassVar[str] = "ninjs"

    ninjs: dict[str, Any] = Field(description="The ninjs document, unchanged.")


class SubmittedPage(Submission):
    """A whole page as an editor forwards it: ingest keeps the article and drops the rest."""

    form: ClassVar[str] = "page"

    raw_html: OptionalText = Field(default=None, max_length=10_000_000)
    raw_text: OptionalText = Field(default=None, max_length=10_000_000)
    url: HttpUrl | None = None
    language: LanguageTag | None = Field(default=None, description=LANGUAGE_HELP)
    external_id: Annotated[str | None, StringConstraints(max_length=200)] = Field(
        default=None, description="Overrides the news code found on the page."
    )
    published: EditorDate = Field(
        default=None,
        union_mode="left_to_right",
        description=f"Overrides the date found on the page. {PUBLISHED_HELP}",
    )
    subjects: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    byline: Annotated[str | None, StringConstraints(max_length=500)] = None

    @model_validator(mode="after")
    def _one_page(self) -> SubmittedPage:
        if bool(self.raw_html) == bool(self.raw_text):
            raise ValueError("a page needs exactly one of raw_html or raw_text")
        return self


class Withdrawal(Submission):
    """Take an article out of every feed, in every language."""

    form: ClassVar[str] = "withdrawal"

    withdraw: Literal[True]
    article_id: Annotated[str | None, StringConstraints(max_length=200)] = None
    external_id: Annotated[str | None, StringConstraints(max_length=200)] = None
    reason: Annotated[str | None, StringConstraints(max_length=1000)] = None

    @model_validator(mode="after")
    def _names_an_article(self) -> Withdrawal:
        if bool(self.article_id) == bool(self.external_id):
            raise ValueError("a withdrawal names the article: give article_id or external_id")
        return self


AnySubmission = SubmittedArticle | SubmittedNinjs | SubmittedPage | Withdrawal
SUBMISSION_FORMS: dict[str, type[Submission]] = {
    cls.form: cls for cls in (SubmittedArticle, SubmittedNinjs, SubmittedPage, Withdrawal)
}


def submission_form(value: object) -> str | None:
    """Which form a message is, from the field only that form has (no envelope needed)."""
    if isinstance(value, Submission):
        return value.form
    if not isinstance(value, dict):
        return None
    if "ninjs" in value:
        return SubmittedNinjs.form
    if "raw_html" in value or "raw_text" in value:
        return SubmittedPage.form
    if "withdraw" in value:
        return Withdrawal.form
    return SubmittedArticle.form


SubmissionMessage = Annotated[
    Annotated[SubmittedArticle, Tag(SubmittedArticle.form)]
    | Annotated[SubmittedNinjs, Tag(SubmittedNinjs.form)]
    | Annotated[SubmittedPage, Tag(SubmittedPage.form)]
    | Annotated[Withdrawal, Tag(Withdrawal.form)],
    Discriminator(
        submission_form,
        custom_error_type="submission_type",
        custom_error_message="must be a JSON object",
    ),
]
"""``articles.submitted`` v1: any of the four forms; see the README for examples of each."""

SUBMISSION = TypeAdapter[AnySubmission](SubmissionMessage)


# --------------------------------------------------------------------------- internal events


class DateSource(StrEnum):
    """Where an article's publication time came from."""

    EDITOR = "editor"  # a field of the submission (published, versioncreated, ...)
    PAGE = "page"  # printed on the forwarded page
    SUBMISSION_TIME = "submission-time"  # none given: the time ingest received it


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
    images: list[Image] = Field(default_factory=list)
    published: AwareDatetime


class IngestedArticle(ArticleVersion):
    """``articles.ingested`` v1: a stored, clean article version in its source language."""

    body_text: str
    external_id: str | None = None
    published_source: DateSource
    input_form: str = Field(default="article", description="article, ninjs or page.")
    content_hash: str
    ingested_at: AwareDatetime


class TranslationMethod(StrEnum):
    MACHINE = "machine"
    HUMAN = "human"


class TranslationPolicy(StrEnum):
    """What happens to machine output, per publisher (the registry's ``translation_policy``)."""

    PUBLISH = "publish"  # machine output goes out, marked as such, with the checks' results
    HOLD = "hold"  # output failing a check waits for an editor; the rest goes out
    REVIEW = "review"  # nothing machine-made goes out before an editor approves it


class ReviewAction(StrEnum):
    APPROVED = "approved"  # the machine output, approved as it is
    EDITED = "edited"  # an editor's own or edited translation


class CheckFailure(BaseModel):
    """One automatic check a machine translation failed, for the editor who reviews it."""

    check: str = Field(
        description="numbers, glossary, script, copy, length, repetition, markup, empty, or "
        "error (the check itself raised)."
    )
    reason: str = Field(description="What is wrong, for a person.")
    segment: int | None = Field(
        default=None,
        description="The segment's index: 0 is the headline, then the body's, then the image "
        "captions'.",
    )
    source: str | None = Field(default=None, description="The source segment.")
    target: str | None = Field(default=None, description="The translated segment.")
    evidence: list[str] = Field(
        default_factory=list,
        description="What to highlight in the source segment (a missing figure, a term).",
    )


class Provenance(Event):
    """Where a translation came from; it travels with the translation into the feeds."""

    engine: str
    model: str | None = None
    model_version: str | None = None
    glossary_version: str | None = None
    pivot: str | None = None
    method: TranslationMethod = TranslationMethod.MACHINE
    reviewed: bool = False
    translated_by: str | None = Field(
        default=None, description="The editor key's name, for a human translation."
    )
    missing_terms: list[str] = Field(
        default_factory=list,
        description="Required glossary terms the translation lacks (source → wanted target).",
    )
    needs_review: bool = Field(
        default=False, description="Machine output that failed an automatic check."
    )
    translated_at: AwareDatetime
    checks_version: str | None = Field(
        default=None, description="The automatic checks' version; none: not checked."
    )
    check_failures: list[CheckFailure] = Field(
        default_factory=list, description="The automatic checks this translation failed."
    )
    policy: TranslationPolicy | None = Field(
        default=None, description="The publisher's policy this translation was published under."
    )
    held: bool = Field(
        default=False,
        description="Waiting for an editor (policy hold or review): the feeds do not carry it.",
    )
    review: ReviewAction | None = Field(
        default=None, description="How an editor settled it: approved as is, or edited."
    )
    reviewed_by: str | None = Field(default=None, description="The editor key's name and id.")
    reviewed_at: AwareDatetime | None = None


class TranslatedArticle(ArticleVersion):
    """``articles.translated`` v1: one article version in one target language."""

    source_language: str
    revision: int = Field(
        default=0,
        ge=0,
        description="Grows with every event for this (article, language), also within one "
        "version (a human translation replacing the machine one): consumers keep the highest "
        "(version, revision).",
    )
    provenance: Provenance


class HumanTranslation(ArticleVersion):
    """``translations.submitted`` v1: an editor's translation of one version into one language
    (``language``). It replaces the machine translation of that version, and no machine output
    replaces it."""

    source_language: str
    translated_by: str = Field(description="The editor key's name and id.")
    submitted_at: AwareDatetime
    review: ReviewAction = Field(
        default=ReviewAction.EDITED,
        description="`approved`: the held machine translation approved as it is (its "
        "provenance is kept, marked reviewed); `edited`: the editor's text.",
    )


class RetranslationRequest(Event):
    """``translations.requested`` v1: an editor sends a held translation back, to be translated
    again by another engine or model than the ones named in ``exclude``."""

    schema_version: Literal[1] = 1
    article: IngestedArticle = Field(description="The source version to translate again.")
    language: str = Field(description="The target language.")
    exclude: list[str] = Field(
        default_factory=list, description="Engines or models not to use this time."
    )
    requested_by: str = Field(description="The editor key's name and id.")
    requested_at: AwareDatetime = Field(default_factory=utcnow)


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
