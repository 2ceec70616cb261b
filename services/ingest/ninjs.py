"""IPTC ninjs (1.x, 2.x and 3.x) to the clean article contract.

News agencies and CMSs export ninjs; ingest turns each document into a ``SubmittedArticle`` and
from then on treats it like any other article. Pure: no I/O, no normalisation (ingest
normalises every form of input in one place).

Choices, where the standard leaves room:

* Versions: :mod:`services.ingest.ninjs_schema` tells them apart (by the schema a document
  names, else by its own properties) and validates a document that names one against IPTC's
  schema. Property names are then read case-blind: 3.x's ``versionCreated``, ``pubStatus``,
  ``contentType`` are 2.x's ``versioncreated``, ``pubstatus``, ``contenttype`` (and 3.x's
  ``embargoedUntil`` is ``embargoed``), so the same story in 2.1 and in 3.0 is the same article
  with the same time and the same content (no correction). 1.x's ``headline_*``, ``body_*`` and
  ``description_*`` strings are read too, their suffix naming the format (``html``, ``xhtml``,
  ``richtext``, ``text``) or the role (``main``).
* ``uri`` is the whole ``external_id``: it identifies the article within a publisher. It is not
  used as the article's link (ninjs says it is an identifier, not a link), so ``url`` stays empty.
* ``published`` is ``firstcreated``, else ``versioncreated``: for a feed the publication time
  is when the story first appeared; ``versioncreated`` moves on with every correction. A time
  without an offset is passed on as it is (ingest reads it in the publisher's time zone).
* ``embargoed`` must carry an offset: ninjs types it as JSON Schema ``date-time`` (RFC 3339, offset
  required), and guessing the zone of an embargo could publish a story early.
* Bodies: the best ``text/html`` (or XHTML) body becomes ``body_html`` and the best
  ``text/plain`` body ``body_text`` (ingest prefers the HTML); "best" is role ``main``, else the
  first. A body without a content type is HTML when it starts with ``<``; other types (NITF,
  XML) are skipped; a whole HTML document is cut to its ``<body>``. Headlines likewise: role
  ``main``, else the first.
* No body: the description (``descriptions``, 1.x ``description_*``; role ``main``, else
  ``caption``, ``summary``, else the first; a ``creditline`` is no text) is the body: a picture,
  audio or video item is mostly its description.
* Pictures and galleries: a ``picture``/``graphic`` item (or an untyped one whose renditions are
  images) is itself the first image, from its own renditions (never its ``uri``: that names the
  item, not a file), captioned with its description.
* Events (``type: event``, or ``eventDetails``): headline (else ``title``) and description (else
  body) are required; the body is the description, then the event's dates and its place, as
  the document gives them (no words around them: the article may be in any language).
* Subjects come from ``subjects`` (2.x) and ``subject`` (1.x): name, else literal, code or uri;
  duplicates dropped, at most 100 kept.
* Pictures: associations of type ``picture``/``image``, or with an ``image/*`` media type. The
  URL is the largest http(s) rendition (by pixels, then bytes), else the association's own
  http(s) ``uri``; a picture without one is skipped, as are bad dimensions or media types.
  Credit is ``creditline`` (the provider's own display text: a property in 1.x, a description's
  role in 2.x and 3.x), else ``by``/``byline``, else ``copyrightholder``. Captions and
  credits are cut to the contract's limits: a picture's metadata should never reject the
  article. At most 50 pictures.
* A wrongly shaped structure (not an object, no uri, headlines/bodies/associations/renditions/
  subjects of the wrong type) is a :class:`NinjsError` naming the field. A missing headline or body
  is left to ``SubmittedArticle``'s own validation. Unknown fields are ignored, unless the
  document names IPTC's schema of its version: then the schema decides, and its reason is the
  refusal (a :class:`SchemaError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.ingest.ninjs_events import event_text, is_event
from services.ingest.ninjs_pictures import MAX_IMAGES, images
from services.ingest.ninjs_read import (
    NinjsError,
    bodies,
    body_content,
    fail,
    headline,
    html_to_plain,
    json_type,
    lower_keys,
    shown,
    string,
    text,
)
from services.ingest.ninjs_schema import CAMEL_CASE, Dialect, SchemaError, dialect
from shared.contracts import PubStatus, SubmittedArticle, Withdrawal

__all__ = [
    "MAX_IMAGES",
    "NinjsError",
    "SchemaError",
    "body_content",
    "html_to_plain",
    "to_article",
    "to_submission",
]

MAX_SUBJECTS = 100
#: 3.x's spelling of each property, to name it as the document does in a reason.
_CAMEL = {k.lower(): k for k in CAMEL_CASE}


def _name(key: str, form: Dialect) -> str:
    return _CAMEL.get(key, key) if form.camel_case else key


def _date(doc: Mapping[str, Any], key: str, form: Dialect) -> datetime | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"{_name(key, form)} is not a date: {shown(value)}")


def _pubstatus(doc: Mapping[str, Any], form: Dialect) -> PubStatus:
    """``canceled`` and ``withheld`` withdraw the article, in every version's spelling."""
    value = doc.get("pubstatus")
    if value is None:
        return PubStatus.USABLE
    allowed = ", ".join(s.value for s in PubStatus)
    if isinstance(value, str):
        try:
            return PubStatus(value.strip().lower())
        except ValueError:
            pass
    raise fail(f"{_name('pubstatus', form)} must be one of {allowed}, not {shown(value)}")


def _embargoed(doc: Mapping[str, Any], form: Dialect) -> datetime | None:
    key = "embargoeduntil" if "embargoeduntil" in doc else "embargoed"
    when = _date(doc, key, form)
    if when is not None and when.utcoffset() is None:
        raise fail(f"{_name(key, form)} needs a time zone offset: {shown(doc[key])}")
    return when


def _language(doc: Mapping[str, Any]) -> str | None:
    value = text(doc, "language", "")
    if value is None:
        return None
    primary, sep, rest = value.strip().partition("-")
    return primary.lower() + sep + rest


def _subjects(doc: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("subjects", "subject"):
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise fail(f"{key} must be a list, not {json_type(value)}")
        for i, item in enumerate(value):
            if isinstance(item, str):
                name: str | None = item if item.strip() else None
            elif isinstance(item, Mapping):
                path = f"{key}[{i}]."
                name = next(
                    (t for f in ("name", "literal", "code", "uri") if (t := text(item, f, path))),
                    None,
                )
            else:
                raise fail(f"{key}[{i}] must be an object, not {json_type(item)}")
            if name is not None:
                names.append(name.strip())
    return list(dict.fromkeys(names))[:MAX_SUBJECTS]


def _read(doc: object) -> tuple[Mapping[str, Any], Dialect]:
    """The document with its keys in lower case, and its version (validated when it names one)."""
    if not isinstance(doc, Mapping):
        raise fail(f"the document must be an object, not {json_type(doc)}")
    try:
        form = dialect(doc)
        lowered = lower_keys(doc)
    except RecursionError:  # a few thousand nested lists: no news item is shaped so
        raise fail("the document is nested too deeply") from None
    assert isinstance(lowered, Mapping)
    return lowered, form


def _text_of(doc: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(headline, body_html, body_text): an event's, else the bodies, else the description."""
    if is_event(doc):
        return event_text(doc)
    body_html, body_text = bodies(doc, "bodies", "body_")
    if not body_html and not body_text:
        body_html, body_text = bodies(doc, "descriptions", "description_")
    return headline(doc), body_html, body_text


def to_article(doc: object, publisher: str) -> SubmittedArticle:
    """Map a ninjs document to a ``SubmittedArticle``.

    Raises :class:`NinjsError` for a document of the wrong shape (:class:`SchemaError` for one
    its own schema refuses), and pydantic's ``ValidationError`` when the mapped article breaks
    the contract (no headline, no body).
    """
    return _article(*_read(doc), publisher)


def _article(doc: Mapping[str, Any], form: Dialect, publisher: str) -> SubmittedArticle:
    uri = string(doc, "uri", "")
    if uri is None or not uri.strip():
        raise fail("the document has no uri")
    if len(uri.strip()) > 200:
        raise fail(f"uri is longer than 200 characters: {shown(uri)}")
    title, body_html, body_text = _text_of(doc)
    fields: dict[str, Any] = {
        "publisher": publisher,
        "external_id": uri.strip(),
        "body_html": body_html,
        "body_text": body_text,
        "published": _date(doc, "firstcreated", form) or _date(doc, "versioncreated", form),
        "subjects": _subjects(doc),
        "byline": text(doc, "by", "") or text(doc, "byline", ""),
        "images": images(doc),
        "pubstatus": _pubstatus(doc, form),
        "embargoed": _embargoed(doc, form),
    }
    if title is not None:
        fields["headline"] = title
    if (language := _language(doc)) is not None:
        fields["language"] = language
    return SubmittedArticle.model_validate(fields)


def to_submission(doc: object, publisher: str) -> SubmittedArticle | Withdrawal:
    """:func:`to_article`, except for a bare kill notice: a ``canceled`` or ``withheld``
    document with no headline, no text and no picture names the story to take back by its
    ``uri`` (some agencies send no more), and is a :class:`Withdrawal` of that story, never
    refused for lacking a headline while the story it kills stays in the feeds."""
    lowered, form = _read(doc)
    status = _pubstatus(lowered, form)
    uri = string(lowered, "uri", "")
    if status is not PubStatus.USABLE and uri and uri.strip() and _bare(lowered):
        reason = text(lowered, "ednote", "") or f"ninjs: {_name('pubstatus', form)} {status}"
        return Withdrawal(
            publisher=publisher,
            withdraw=True,
            external_id=uri.strip()[:200],
            reason=reason.strip()[:1000],
        )
    return _article(lowered, form, publisher)


def _bare(doc: Mapping[str, Any]) -> bool:
    """No headline (or title), no text and no picture: a notice that only names its story."""
    if headline(doc) or text(doc, "title", ""):
        return False
    for key, prefix in (("bodies", "body_"), ("descriptions", "description_")):
        if any(bodies(doc, key, prefix)):
            return False
    return not images(doc)
