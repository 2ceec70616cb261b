"""From editor input to the content of an article version (pure, shared by the API and consumer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.ingest import text
from shared.contracts import DateSource, SubmittedArticle
from shared.registry import Publisher


@dataclass(frozen=True)
class Prepared:
    article_id: str
    content: dict[str, Any]
    content_hash: str


def body_of(sub: SubmittedArticle) -> tuple[str, str]:
    """(sanitised html, plain text) of the submitted body."""
    if sub.body_html:
        body_html = text.sanitise_html(sub.body_html)
        return body_html, text.html_to_text(body_html)
    paras = text.paragraphs(sub.body_text or "")
    return text.paragraphs_to_html(paras), "\n\n".join(paras)


def publication_time(
    sub: SubmittedArticle, publisher: Publisher, received_at: datetime
) -> tuple[datetime, DateSource]:
    """The editor's time in UTC (naive times are the publisher's local time), else receipt."""
    if sub.published is None:
        return received_at.astimezone(UTC), DateSource.SUBMISSION_TIME
    published = sub.published
    if published.tzinfo is None:
        published = published.replace(tzinfo=ZoneInfo(publisher.timezone))
    return published.astimezone(UTC), DateSource.EDITOR


def prepare(sub: SubmittedArticle, publisher: Publisher, received_at: datetime) -> Prepared:
    body_html, body_text = body_of(sub)
    if not body_text.strip():
        raise ValueError("the body has no text once markup is removed")
    published, source = publication_time(sub, publisher, received_at)
    headline = " ".join(sub.headline.split())
    content = {
        "publisher": publisher.id,
        "language": sub.language,
        "headline": headline,
        "body_html": body_html,
        "body_text": body_text,
        "external_id": sub.external_id,
        "url": sub.url,
        "subjects": list(dict.fromkeys(sub.subjects)),
        "byline": sub.byline,
        "published": published,
        "published_source": source.value,
    }
    ident = text.article_id(publisher.id, sub.external_id, headline, body_text)
    # The receipt time is not content: resubmitting an undated article is not a new version.
    hashed = {
        k: v
        for k, v in content.items()
        if not (k == "published" and source is DateSource.SUBMISSION_TIME)
    }
    return Prepared(ident, content, text.content_hash(hashed))
