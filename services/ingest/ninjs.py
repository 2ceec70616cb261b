"""IPTC ninjs (2.x, and the 1.x field names) to the clean article contract.

News agencies and CMSs export ninjs; ingest turns each document into a ``SubmittedArticle`` and
from then on treats it like any other article. Pure: no I/O, no normalisation (ingest
normalises every form of input in one place).

Choices, where the standard leaves room:

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
* Subjects come from ``subjects`` (2.x) and ``subject`` (1.x): name, else literal, code or uri;
  duplicates dropped, at most 100 kept.
* Pictures: associations of type ``picture``/``image``, or with an ``image/*`` media type. The
  URL is the largest http(s) rendition (by pixels, then bytes), else the association's own
  http(s) ``uri``; a picture without one is skipped, as are bad dimensions or media types.
  Credit is ``creditline`` (the provider's own display text), else ``by``/``byline``, else
  ``copyrightholder``. Captions and credits are cut to the contract's limits: a picture's
  metadata should never reject the article. At most 50 pictures.
* A wrongly shaped structure (not an object, no uri, headlines/bodies/associations/renditions/
  subjects of the wrong type) is a :class:`NinjsError` naming the field. A missing headline or body
  is left to ``SubmittedArticle``'s own validation. Unknown fields are ignored.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from shared.contracts import Image, PubStatus, SubmittedArticle

MAX_IMAGES = 50
MAX_SUBJECTS = 100
_CAPTION_MAX = 1000
_CREDIT_MAX = 300
_HTTP_URL = re.compile(r"^https?://\S+$")
_MEDIA_TYPE = re.compile(r"^image/[a-z0-9.+-]+$")
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_PICTURE_TYPES = {"picture", "image"}
# Every pattern that starts at "<" stops at the next "<": each character is read a bounded
# number of times, whatever the input (a "<" rescanning the rest of the text, for every "<" in
# it, took minutes on a crafted document: issue 18).
_BODY_START = re.compile(r"<body\b[^<>]*>", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_HEAD_START = re.compile(r"<head\b", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


class NinjsError(ValueError):
    """A ninjs document this service cannot read; the message is for the editor."""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(message: str) -> NinjsError:
    return NinjsError(f"ninjs: {message}")


def _string(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """The field as a string; absent or null is None, any other type is an error."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"{path}{key} must be a string, not {_json_type(value)}")
    return value


def _text(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """A string field with something in it, else None."""
    value = _string(obj, key, path)
    return value if value and value.strip() else None


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _body_content(value: str) -> str:
    """The content of ``<body>`` when an HTML body is a whole document (TT and others send one).

    The sanitiser keeps the text of elements it drops, so a ``<title>`` would leak into the body.
    """
    if start := _BODY_START.search(value):
        end = _BODY_END.search(value, start.end())
        return value[start.end() : end.start() if end else len(value)]
    return _without_head(value)


def _without_head(value: str) -> str:
    """Every ``<head>…</head>`` removed, in one pass: once a head is not closed, none after it
    is, so the search stops there instead of looking again from every later ``<head``."""
    kept: list[str] = []
    pos = 0
    while (start := _HEAD_START.search(value, pos)) and (
        end := _HEAD_END.search(value, start.end())
    ):
        kept.append(value[pos : start.start()])
        pos = end.end()
    kept.append(value[pos:])
    return "".join(kept)


def _html_to_plain(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


def _objects(doc: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(path, object) for each item of a list of objects; absent or null is empty."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"{path}{key} must be a list, not {_json_type(value)}")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _fail(f"{path}{key}[{i}] must be an object, not {_json_type(item)}")
        items.append((f"{path}{key}[{i}].", item))
    return items


def _best(items: list[tuple[str, str, str]]) -> str | None:
    """The value of role ``main``, else the first; items are (role, media type, value)."""
    for role, _, value in items:
        if role == "main":
            return value
    return items[0][2] if items else None


def _texts(doc: Mapping[str, Any], key: str, path: str) -> list[tuple[str, str, str]]:
    """(role, media type, value) of each non-empty entry of headlines, bodies or descriptions."""
    found = []
    for item_path, item in _objects(doc, key, path):
        value = _text(item, "value", item_path)
        if value is None:
            continue
        role = (_string(item, "role", item_path) or "").strip().lower()
        kind = _media_type(_string(item, "contenttype", item_path))
        found.append((role, kind, value))
    return found


def _headline(doc: Mapping[str, Any], path: str = "") -> str | None:
    headlines = [
        (role, kind, _html_to_plain(v) if kind in _HTML_TYPES else v)
        for role, kind, v in _texts(doc, "headlines", path)
    ]
    return _best(headlines) or _text(doc, "headline", path)


def _bodies(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(html, plain) bodies, each the best of its kind."""
    html_bodies, plain_bodies = [], []
    for role, kind, value in _texts(doc, "bodies", ""):
        if not kind:
            kind = "text/html" if value.lstrip().startswith("<") else "text/plain"
        if kind in _HTML_TYPES:
            html_bodies.append((role, kind, value))
        elif kind == "text/plain":
            plain_bodies.append((role, kind, value))
    body_html = _best(html_bodies) or _text(doc, "body_html", "") or _text(doc, "body_xhtml", "")
    if body_html is not None:
        body_html = _body_content(body_html).strip() or None
    return body_html, _best(plain_bodies) or _text(doc, "body_text", "")


def _date(doc: Mapping[str, Any], key: str) -> datetime | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail(f"{key} is not a date: {_shown(value)}")


def _pubstatus(doc: Mapping[str, Any]) -> PubStatus:
    value = doc.get("pubstatus")
    if value is None:
        return PubStatus.USABLE
    allowed = ", ".join(s.value for s in PubStatus)
    if isinstance(value, str):
        try:
            return PubStatus(value.strip().lower())
        except ValueError:
            pass
    raise _fail(f"pubstatus must be one of {allowed}, not {_shown(value)}")


def _embargoed(doc: Mapping[str, Any]) -> datetime | None:
    when = _date(doc, "embargoed")
    if when is not None and when.utcoffset() is None:
        raise _fail(f"embargoed needs a time zone offset: {_shown(doc['embargoed'])}")
    return when


def _language(doc: Mapping[str, Any]) -> str | None:
    value = _text(doc, "language", "")
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
            raise _fail(f"{key} must be a list, not {_json_type(value)}")
        for i, item in enumerate(value):
            if isinstance(item, str):
                name: str | None = item if item.strip() else None
            elif isinstance(item, Mapping):
                path = f"{key}[{i}]."
                name = next(
                    (t for f in ("name", "literal", "code", "uri") if (t := _text(item, f, path))),
                    None,
                )
            else:
                raise _fail(f"{key}[{i}] must be an object, not {_json_type(item)}")
            if name is not None:
                names.append(name.strip())
    return list(dict.fromkeys(names))[:MAX_SUBJECTS]


def _associations(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, object) of each association: a list in 2.x, an object keyed by name in 1.x."""
    value = doc.get("associations")
    if value is None:
        return
    if isinstance(value, Mapping):
        items: list[tuple[str, object]] = [(f"associations.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"associations[{i}]", v) for i, v in enumerate(value)]
    else:
        raise _fail(f"associations must be an object or a list, not {_json_type(value)}")
    for path, item in items:
        if item is None:
            continue
        if not isinstance(item, Mapping):
            raise _fail(f"{path} must be an object, not {_json_type(item)}")
        yield path + ".", item


def _renditions(assoc: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    value = assoc.get("renditions")
    if value is None:
        return []
    if isinstance(value, Mapping):
        items: list[tuple[str, object]] = [(f"{path}renditions.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}renditions[{i}]", v) for i, v in enumerate(value)]
    else:
        raise _fail(f"{path}renditions must be an object or a list, not {_json_type(value)}")
    renditions = []
    for item_path, item in items:
        if not isinstance(item, Mapping):
            raise _fail(f"{item_path} must be an object, not {_json_type(item)}")
        renditions.append(item)
    return renditions


def _dimension(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != int(value) or not 0 < value <= 100_000:
        return None
    return int(value)


def _rendition_type(rendition: Mapping[str, Any]) -> str:
    for key in ("contenttype", "mimetype"):
        if isinstance(kind := rendition.get(key), str):
            return _media_type(kind)
    return ""


def _http(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= 2000 and _HTTP_URL.match(value.strip()):
        return value.strip()
    return None


def _largest(renditions: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The largest rendition that is an image (or untyped) with an http(s) link."""

    def usable(r: Mapping[str, Any]) -> bool:
        kind = _rendition_type(r)
        return _http(r.get("href")) is not None and (not kind or kind.startswith("image/"))

    def size(r: Mapping[str, Any]) -> tuple[int, float]:
        area = (_dimension(r.get("width")) or 0) * (_dimension(r.get("height")) or 0)
        count = r.get("sizeinbytes")
        in_bytes = count if isinstance(count, int | float) and not isinstance(count, bool) else 0
        return area, in_bytes

    return max(filter(usable, renditions), key=size, default=None)


def _caption(assoc: Mapping[str, Any], path: str) -> str | None:
    if caption := _text(assoc, "description_text", path):
        return caption
    descriptions = [
        (
            "main" if role == "caption" else role,
            kind,
            _html_to_plain(v) if kind in _HTML_TYPES else v,
        )
        for role, kind, v in _texts(assoc, "descriptions", path)
    ]
    if caption := _best(descriptions):
        return caption
    if caption := _text(assoc, "description_html", path):
        return _html_to_plain(caption) or None
    return _headline(assoc, path)


def _credit(assoc: Mapping[str, Any], path: str) -> str | None:
    for key in ("creditline", "by", "byline", "copyrightholder"):
        if credit := _text(assoc, key, path):
            return credit
    return None


def _cut(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[: limit - 1].rstrip() + "…" if len(value) > limit else value


def _picture(assoc: Mapping[str, Any], path: str) -> Image | None:
    """The association as an Image, or None when it is not a usable picture."""
    kind = _string(assoc, "type", path)
    own_type = _media_type(_string(assoc, "mimetype", path) or _string(assoc, "contenttype", path))
    renditions = _renditions(assoc, path)
    best = _largest(renditions)
    best_type = _rendition_type(best) if best is not None else ""
    is_picture = (
        (kind or "").lower() in _PICTURE_TYPES
        or own_type.startswith("image/")
        or (kind in (None, "graphic") and best_type.startswith("image/"))
    )
    if not is_picture:
        return None
    url = _http(best.get("href")) if best is not None else _http(assoc.get("uri"))
    if url is None:
        return None
    media_type = best_type or own_type
    return Image(
        url=url,
        caption=_cut(_caption(assoc, path), _CAPTION_MAX),
        credit=_cut(_credit(assoc, path), _CREDIT_MAX),
        media_type=media_type if _MEDIA_TYPE.match(media_type) else None,
        width=_dimension(best.get("width")) if best is not None else None,
        height=_dimension(best.get("height")) if best is not None else None,
    )


def _images(doc: Mapping[str, Any]) -> list[Image]:
    images: dict[str, Image] = {}
    for path, assoc in _associations(doc):
        picture = _picture(assoc, path)
        if picture is not None and picture.url not in images:
            images[picture.url] = picture
        if len(images) >= MAX_IMAGES:
            break
    return list(images.values())


def to_article(doc: Mapping[str, Any], publisher: str) -> SubmittedArticle:
    """Map a ninjs document to a ``SubmittedArticle``.

    Raises :class:`NinjsError` for a document of the wrong shape, and pydantic's
    ``ValidationError`` when the mapped article breaks the contract (no headline, no body).
    """
    if not isinstance(doc, Mapping):
        raise _fail(f"the document must be an object, not {_json_type(doc)}")
    uri = _string(doc, "uri", "")
    if uri is None or not uri.strip():
        raise _fail("the document has no uri")
    if len(uri.strip()) > 200:
        raise _fail(f"uri is longer than 200 characters: {_shown(uri)}")
    body_html, body_text = _bodies(doc)
    fields: dict[str, Any] = {
        "publisher": publisher,
        "external_id": uri.strip(),
        "body_html": body_html,
        "body_text": body_text,
        "published": _date(doc, "firstcreated") or _date(doc, "versioncreated"),
        "subjects": _subjects(doc),
        "byline": _text(doc, "by", "") or _text(doc, "byline", ""),
        "images": _images(doc),
        "pubstatus": _pubstatus(doc),
        "embargoed": _embargoed(doc),
    }
    if (headline := _headline(doc)) is not None:
        fields["headline"] = headline
    if (language := _language(doc)) is not None:
        fields["language"] = language
    return SubmittedArticle.model_validate(fields)
