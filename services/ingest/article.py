"""From any form of editor input to the content of one article version.

Pure and shared by the HTTP API (which answers the editor at once) and the consumer (which stores
the version), so both give the same article id and the same reasons. Every text field passes the
one Persian normaliser; the id and the de-duplication use its search form.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


#: How far after its receipt an article's publication time may lie (clock skew, a zone mix-up);
#: later is a mistake, and would pin the article to the top of every feed until then.
FUTURE_TOLERANCE = timedelta(days=1)
#: Article ids are "<publisher>-<20 hex digits>": the hash has a fixed length, so the publisher
#: part is exact even though publisher ids may contain "-" ("tehran" and "tehran-north").
_ARTICLE_ID = re.compile(r"(?P<publisher>[a-z0-9][a-z0-9_-]{0,62})-[0-9a-f]{20}")


def owner_of(article_id: str) -> str | None:
    """The publisher an article id belongs to, or None for a string that is no article id."""
    m = _ARTICLE_ID.fullmatch(article_id)
    return m.group("publisher") if m else None


def not_owned(article_id: str, publisher: str) -> Rejected:
    return Rejected(f"article {article_id!r} is not one of {publisher!r}'s articles")


def external_key(external_id: str) -> str:
    """What makes two external ids the same id: the same characters once Unicode compatibility
    forms, digit scripts (a page prints "۱۳۱۴۴۱۵", a CMS sends "1314415"), Arabic yeh/kaf,
    invisible format characters and runs of whitespace are folded. Case and punctuation count:
    "AB-7" and "ab 7" are different articles."""
    text = unicodedata.normalize("NFKC", external_id).translate(_ARABIC_LETTERS)
    chars = (
        str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch
        for ch in text
        if unicodedata.category(ch) != "Cf"
    )
    return " ".join("".join(chars).split())


_ARABIC_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک"})


@dataclass(frozen=True)
class PreparedVersion:
    """One version's content, ready to store: ``content`` holds the IngestedArticle fields."""

    article_id: str
    content: dict[str, Any]
    content_hash: str
    embargo_until: datetime | None = None

    @property
    def withdrawn(self) -> bool:
        return bool(self.content["status"] == ArticleStatus.WITHDRAWN)

    @property
    def publisher(self) -> str:
        return str(self.content["publisher"])

    @property
    def external_id(self) -> str | None:
        value = self.content["external_id"]
        return str(value) if value else None


@dataclass(frozen=True)
class WithdrawalRequest:
    """Withdraw the latest version of an article (its content is in the store, not here), on
    behalf of ``publisher``, who must own it."""

    article_id: str
    reason: str | None = None
    publisher: str = field(kw_only=True)


Change = PreparedVersion | WithdrawalRequest


def prepare(sub: AnySubmission, publisher: Publisher, received_at: datetime) -> Change:
    """Validate and clean a submission; raises :class:`Rejected` with a reason for a person."""
    if isinstance(sub, Withdrawal):
        return _withdrawal(sub, publisher)
    if isinstance(sub, SubmittedNinjs):
        try:
            mapped = ninjs.to_submission(sub.ninjs, publisher.id)
        except ValueError as exc:  # NinjsError, or the mapped article failing validation
            raise Rejected(_reason(exc)) from None
        if isinstance(mapped, Withdrawal):  # a canceled/withheld notice, in any version
            return _withdrawal(mapped, publisher)
        return _article(mapped, publisher, received_at, form="ninjs")
    if isinstance(sub, SubmittedPage):
        return _page(sub, publisher, received_at)
    return _article(sub, publisher, received_at, form="article")


def _withdrawal(sub: Withdrawal, publisher: Publisher) -> WithdrawalRequest:
    """Only the publisher's own articles, by the exact owner in the id (the store checks the
    stored owner again). A string that is no article id names no article at all."""
    ident = sub.article_id or text.article_id(publisher.id, sub.external_id, "", "")
    owner = owner_of(ident)
    if owner is None and ident.startswith(f"{publisher.id}-"):
        raise Rejected(
            f"there is no article {ident!r} to withdraw (article ids are the publisher id, "
            "'-' and 20 hexadecimal digits)"
        )
    if owner != publisher.id:
        raise not_owned(ident, publisher.id)
    return WithdrawalRequest(ident, sub.reason, publisher=publisher.id)


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


def language_of(sub: SubmittedArticle | SubmittedPage, publisher: Publisher) -> str:
    """The article's language: its own ``language``, else its publisher's (an English agency's
    ninjs without one is English, not Persian)."""
    return sub.language or publisher.language


def _body(sub: SubmittedArticle, clean: Callable[[str], str]) -> tuple[str, str]:
    """(body_html, body_text): the HTML body when there is one, else the plain one. A picture or
    gallery without a body with text gets its captions as the body, one paragraph each (so the
    feeds carry them as the entry's text and translate translates them); without a caption
    either, the body is empty and the entry is its headline and its images."""
    if sub.body_html:
        body_html = text.sanitise_html(sub.body_html)
        if clean is normalise:
            body_html = normalise_html(body_html)
        body_text = text.html_to_text(body_html)
    else:
        paras = [clean(p) for p in text.paragraphs(sub.body_text or "")]
        body_html, body_text = text.paragraphs_to_html(paras), "\n\n".join(paras)
    if body_text.strip():
        return body_html, body_text
    if not sub.images:
        raise Rejected("the body has no text once markup is removed, and there is no image")
    captions = dict.fromkeys(c for img in sub.images if img.caption and (c := clean(img.caption)))
    return text.paragraphs_to_html(captions), "\n\n".join(captions)


def _article(
    sub: SubmittedArticle, publisher: Publisher, received_at: datetime, form: str
) -> PreparedVersion:
    language = language_of(sub, publisher)
    clean = cleaner(language)
    body_html, body_text = _body(sub, clean)
    published, source = _published(sub.published, publisher, received_at)
    status = ArticleStatus.ACTIVE if sub.pubstatus is PubStatus.USABLE else ArticleStatus.WITHDRAWN
    content = _content(
        publisher,
        language,
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


def _page(sub: SubmittedPage, publisher: Publisher, received_at: datetime) -> PreparedVersion:
    try:
        page = (
            extract.from_html(sub.raw_html, publisher.timezone)
            if sub.raw_html
            else extract.from_text(sub.raw_text or "", publisher.timezone)
        )
    except ValueError as exc:  # ExtractionError
        raise Rejected(str(exc)) from None
    language = language_of(sub, publisher)
    clean = cleaner(language)
    blocks = [b._replace(text=clean(b.text)) for b in page.blocks]
    body_html = "".join(
        f"<{b.tag}>{html.escape(b.text, quote=False)}</{b.tag}>" for b in blocks if b.text
    )
    if sub.published is not None:
        published, source = _published(sub.published, publisher, received_at)
    elif page.published is not None and page.published <= received_at + FUTURE_TOLERANCE:
        published, source = page.published, DateSource.PAGE  # a later one is no publication date
    else:
        published, source = received_at.astimezone(UTC), DateSource.SUBMISSION_TIME
    content = _content(
        publisher,
        language,
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
    without one, the time ingest received the article. The contract and parse_date keep the
    year sane; here it may not lie more than FUTURE_TOLERANCE after the receipt."""
    if value is None:
        return received_at.astimezone(UTC), DateSource.SUBMISSION_TIME
    if isinstance(value, str):
        try:
            when = parse_date(value, publisher.timezone)
        except DateError as exc:
            raise Rejected(f"published: {exc}") from None
    else:
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(publisher.timezone))
        when = value.astimezone(UTC)
    if when > received_at + FUTURE_TOLERANCE:
        raise Rejected(
            f"published: {when.isoformat()} is in the future: more than {FUTURE_TOLERANCE} "
            f"after ingest received the article ({received_at.astimezone(UTC).isoformat()})"
        )
    return when, DateSource.EDITOR


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


def _prepared(content: dict[str, Any], embargo: datetime | None) -> PreparedVersion:
    # A picture without a caption has no body: its images tell it from another of that headline.
    body = content["body_text"] or " ".join(img["url"] for img in content["images"])
    ident = text.article_id(content["publisher"], content["external_id"], content["headline"], body)
    # Not content: the receipt time (resubmitting an undated article later is not a new
    # version) and the form it came in. The embargo is: changing it changes what partners see.
    hashed = {
        k: v
        for k, v in content.items()
        if k != "input_form"
        and not (k == "published" and content["published_source"] == DateSource.SUBMISSION_TIME)
    }
    hashed["embargo_until"] = embargo
    return PreparedVersion(ident, content, text.content_hash(hashed), embargo)
