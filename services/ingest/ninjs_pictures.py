"""The pictures of a ninjs document: its associations' (and its own) renditions as images.

See :mod:`services.ingest.ninjs` for the choices (largest http(s) rendition, credit, limits).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from services.ingest.ninjs_read import (
    DESCRIPTION_ROLES,
    HTML_TYPES,
    best,
    fail,
    flat,
    headline,
    html_to_plain,
    json_type,
    media_type,
    string,
    text,
    texts,
)
from shared.contracts import Image

MAX_IMAGES = 50
_CAPTION_MAX = 1000
_CREDIT_MAX = 300
_HTTP_URL = re.compile(r"^https?://\S+$")
_MEDIA_TYPE = re.compile(r"^image/[a-z0-9.+-]+$")
_PICTURE_TYPES = {"picture", "image"}


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
        raise fail(f"associations must be an object or a list, not {json_type(value)}")
    for path, item in items:
        if item is None:
            continue
        if not isinstance(item, Mapping):
            raise fail(f"{path} must be an object, not {json_type(item)}")
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
        raise fail(f"{path}renditions must be an object or a list, not {json_type(value)}")
    renditions = []
    for item_path, item in items:
        if not isinstance(item, Mapping):
            raise fail(f"{item_path} must be an object, not {json_type(item)}")
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
            return media_type(kind)
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
    """The description (role ``caption`` first; plain text before HTML), else the headline."""
    found = [
        d
        for d in texts(assoc, "descriptions", path) + flat(assoc, "description_", path)
        if d[0] != "creditline"
    ]
    roles = ("caption", *DESCRIPTION_ROLES)
    if caption := best([d for d in found if d[1] not in HTML_TYPES], roles):
        return caption
    if caption := best([d for d in found if d[1] in HTML_TYPES], roles):
        return html_to_plain(caption) or None
    return headline(assoc, path)


def _credit(assoc: Mapping[str, Any], path: str) -> str | None:
    """``creditline`` (the provider's own display text, a property in 1.x, a description's
    role in 2.x and 3.x), else ``by``/``byline``, else ``copyrightholder``."""
    if credit := text(assoc, "creditline", path):
        return credit
    for role, _, value in texts(assoc, "descriptions", path):
        if role == "creditline":
            return value
    for key in ("by", "byline", "copyrightholder"):
        if credit := text(assoc, key, path):
            return credit
    return None


def _cut(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[: limit - 1].rstrip() + "…" if len(value) > limit else value


def _picture(assoc: Mapping[str, Any], path: str, own: bool = False) -> Image | None:
    """The association as an Image, or None when it is not a usable picture. ``own``: the
    document itself, whose ``uri`` names the item, never the file."""
    kind = string(assoc, "type", path)
    own_type = media_type(string(assoc, "mimetype", path) or string(assoc, "contenttype", path))
    largest = _largest(_renditions(assoc, path))
    largest_type = _rendition_type(largest) if largest is not None else ""
    is_picture = (
        (kind or "").lower() in _PICTURE_TYPES
        or own_type.startswith("image/")
        or (kind in (None, "graphic") and largest_type.startswith("image/"))
    )
    if not is_picture:
        return None
    if largest is not None:
        url = _http(largest.get("href"))
    else:
        url = None if own else _http(assoc.get("uri"))
    if url is None:
        return None
    image_type = largest_type or own_type
    return Image(
        url=url,
        caption=_cut(_caption(assoc, path), _CAPTION_MAX),
        credit=_cut(_credit(assoc, path), _CREDIT_MAX),
        media_type=image_type if _MEDIA_TYPE.match(image_type) else None,
        width=_dimension(largest.get("width")) if largest is not None else None,
        height=_dimension(largest.get("height")) if largest is not None else None,
    )


def images(doc: Mapping[str, Any]) -> list[Image]:
    """The document's own picture (a picture item), then its associations' pictures, each URL
    once, at most MAX_IMAGES."""
    found: dict[str, Image] = {}
    own = _picture(doc, "", own=True)
    if own is not None:
        found[own.url] = own
    for path, assoc in _associations(doc):
        if len(found) >= MAX_IMAGES:
            break
        picture = _picture(assoc, path)
        if picture is not None and picture.url not in found:
            found[picture.url] = picture
    return list(found.values())
