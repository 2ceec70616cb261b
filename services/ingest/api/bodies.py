"""The JSON bodies the editors' API takes and answers (its OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.glossary import Term


class Accepted(BaseModel):
    article_id: str
    status: str = "accepted"
    form: str
    headline: str | None = None
    published: str | None = None
    published_source: str | None = None
    external_id: str | None = None
    detail: str = "Queued for ingest; GET /articles/{article_id} shows its versions."


class TranslationSubmission(BaseModel):
    """An editor's translation of an article into one of its target languages."""

    model_config = ConfigDict(extra="forbid")

    headline: str = Field(min_length=1, max_length=1000)
    body_html: str | None = Field(default=None, max_length=1_000_000)
    body_text: str | None = Field(default=None, max_length=500_000)
    version: int | None = Field(
        default=None, ge=1, description="The version translated; default: the latest."
    )


class GlossaryEdit(BaseModel):
    """The whole term list of one target language; it becomes the next version."""

    model_config = ConfigDict(extra="forbid")

    terms: list[Term] = Field(max_length=5000)
    version: int | None = Field(
        default=None,
        ge=0,
        description="The version this edit starts from; refused (409) if someone saved since.",
    )


class ErrorBody(BaseModel):
    """Every refusal's JSON body (:mod:`shared.web`)."""

    error: str = Field(description="The kind of refusal, in English words: 'invalid article'.")
    code: str = Field(
        description="What was refused, for programs: stable, snake_case "
        "(docs/architecture.md lists them all); the desk shows its message by it."
    )
    reason: str = Field(description="What to change, in English, for a person; it may change.")


#: The refusals every operation may answer, in the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422, 503)
}
