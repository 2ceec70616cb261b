"""From any form of editor input to the content of one article version.

Pure and shared by the HTTP API (which answers the editor at once) and the consumer (which stores
the version), so both give the same article id and the same reasons. Every text field passes the
one Persian normaliser; the id and the de-duplication use its search form.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.ingest import extract, ninjs, text
from services.ingest.dates import DateError, parse_date
from shared.contracts import (
    AnySubmission,
    ArticleStatus,
    DateSource,
    PubStatus,
    SubmittedArticle,
    SubmittedNinjs,
    SubmittedPage,
    Withdrawal,
)
from shared.messaging import describe_validation_error
from shared.persian import normalise, normalise_html
from shared.registry import Publisher


class Rejected(ValueError):
    """The input cannot become an article; ``str()`` tells the editor why."""


@dataclass(frozen=True)
class Prepared:
    """One version's content, ready to store: ``content`` holds the IngestedArticle fields."""

    article_id: str
    content: dict[str, Any]
    content_hash: str
    embargo_until: datetime | None = None

    @property
    def withdrawn(self) -> bool:
        return bool(self.content["status"] == ArticleStatus.WITHDRAWN)


@dataclass(frozen=True)
class WithdrawalRequest:
    """Withdraw the latest version of an article (its content is in the store, not here)."""

    article_id: str
    reason: str | None = None


Change = Prepared | WithdrawalRequest


def prepare(sub: AnySubmission, publisher: Publisher, received_at: datetime) -> Change:
    """Validate and clean a submission; raises :class:`Rejected` with a reason for a person."""
    if isinstance(sub, Withdrawal):
        ident = sub.article_id or text.article_id(publisher.id, sub.external_id, "", "")
        if not ident.startswith(f"{publisher.id}-"):  # ids are "<publisher>-<hash>"
            raise Rejected(f"article {ident!r} is not one of {publisher.id!r}'s articles")
        return WithdrawalRequest(ident, sub.reason)
    if isinstance(sub, SubmittedNinjs):
        try:
            sub = ninjs.to_article(sub.ninjs, publisher.id)
        except ValueError as exc:  # NinjsError, or the mapped article failing validation
            raise Rejected(_reason(exc)) from None
        return _article(sub, publisher, received_at, form="ninjs")
    if isinstance(sub, SubmittedPage):
        return _page(sub, publisher, received_at)
    return _article(sub, publisher, received_at, form="article")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"ninjs: {describe_validation_error(exc)}"
    return str(exc)


def _tidy(value: str) -> str:
    return " ".join(value.split())


def cleaner(language: str) -> Callable[[str], str]:
    """The Persian normaliser for Persian text; other languages (an Arabic article, say) keep
    their own spelling and only get their whitespace tidied."""
    return normalise if language.split("-")[0] == "fa" else _tidy


def _article(
    sub: SubmittedArticle, publisher: Publisher, received_at: datetime, form: str
) -> Prepared:
    clean = cleaner(sub.language)
    if sub.body_html:
        body_html = text.sanitise_html(sub.body_html)
        if clean is normalise:
            body_html = normalise_html(body_html)
        body_text = text.html_to_text(body_html)
    else:
        paras = [clean(p) for p in text.paragraphs(sub.body_text or "")]
        body_html, body_text = text.paragraphs_to_html(paras), "\n\n".join(paras)
    if not body_text.strip():
        raise Rejected("the body has no text once markup is removed")
    published, source = _published(sub.published, publisher, received_at)
    status = ArticleStatus.ACTIVE if sub.pubstatus is PubStatus.USABLE else ArticleStatus.WITHDRAWN
    content = _content(
        publisher,
        sub.language,
        headline=sub.headline,
        body_html=body_html,
        body_text=body_text,
        external_id=sub.external_id,
        url=sub.url,
        subjects=sub.subjects,
        byline=sub.byline,
        images=[
            {**img.model_dump(), "caption": clean(img.caption) if img.caption else None}
            for img in sub.images
        ],
        published=published,
        published_source=source,
        input_form=form,
        status=status,
    )
    return _prepared(content, sub.embargoed)


def _page(sub: SubmittedPage, publisher: Publisher, received_at: datetime) -> Prepared:
    try:
        page = (
            extract.from_html(sub.raw_html, publisher.timezone)
            if sub.raw_html
            else extract.from_text(sub.raw_text or "", publisher.timezone)
        )
    except ValueError as exc:  # ExtractionError
        raise Rejected(str(exc)) from None
    clean = cleaner(sub.language)
    blocks = [b._replace(text=clean(b.text)) for b in page.blocks]
    body_html = "".join(
        f"<{b.tag}>{html.escape(b.text, quote=False)}</{b.tag}>" for b in blocks if b.text
    )
    if sub.published is not None:
        published, source = _published(sub.published, publisher, received_at)
    elif page.published is not None:
        published, source = page.published, DateSource.PAGE
    else:
        published, source = received_at.astimezone(UTC), DateSource.SUBMISSION_TIME
    content = _content(
        publisher,
        sub.language,
        headline=page.headline,
        body_html=body_html,
        body_text="\n\n".join(b.text for b in blocks if b.text),
        external_id=sub.external_id or page.news_code,
        url=sub.url,
        subjects=sub.subjects,
        byline=sub.byline,
        images=[],
        published=published,
        published_source=source,
        input_form="page",
        status=ArticleStatus.ACTIVE,
    )
    return _prepared(content, None)


def _published(
    value: datetime | str | None, publisher: Publisher, received_at: datetime
) -> tuple[datetime, DateSource]:
    """The editor's time in UTC (naive times and printed dates are the publisher's local time);
    without one, the time ingest received the article."""
    if value is None:
        return received_at.astimezone(UTC), DateSource.SUBMISSION_TIME
    if isinstance(value, str):
        try:
            return parse_date(value, publisher.timezone), DateSource.EDITOR
        except DateError as exc:
            raise Rejected(f"published: {exc}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(publisher.timezone))
    return value.astimezone(UTC), DateSource.EDITOR


def _content(
    publisher: Publisher,
    language: str,
    *,
    headline: str,
    subjects: list[str],
    byline: str | None,
    published_source: DateSource,
    status: ArticleStatus,
    **fields: Any,
) -> dict[str, Any]:
    clean = cleaner(language)
    headline = clean(headline)
    if not headline:
        raise Rejected("headline: is empty once cleaned")
    if problem := text.wrong_script(headline, language):
        raise Rejected(f"headline: {problem}")
    return {
        "publisher": publisher.id,
        "language": language,
        "headline": headline,
        "subjects": list(dict.fromkeys(s for s in map(clean, subjects) if s)),
        "byline": clean(byline) if byline else None,
        "published_source": published_source.value,
        "status": status.value,
        **fields,
    }


def _prepared(content: dict[str, Any], embargo: datetime | None) -> Prepared:
    ident = text.article_id(
        content["publisher"], content["external_id"], content["headline"], content["body_text"]
    )
    # Not content: the receipt time (resubmitting an undated article later is not a new
    # version) and the form it came in. The embargo is: changing it changes what partners see.
    hashed = {
        k: v
        for k, v in content.items()
        if k != "input_form"
        and not (k == "published" and content["published_source"] == DateSource.SUBMISSION_TIME)
    }
    hashed["embargo_until"] = embargo
    return Prepared(ident, content, text.content_hash(hashed), embargo)
