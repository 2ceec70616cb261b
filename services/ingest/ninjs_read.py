"""Reading ninjs values: typed fields, texts with their role and media type, HTML cut to text.

Shared by the article mapping (:mod:`services.ingest.ninjs`) and the pictures
(:mod:`services.ingest.ninjs_pictures`). Every wrongly typed value is a :class:`NinjsError`
naming the field and what it is instead.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

HTML_TYPES = {"text/html", "application/xhtml+xml"}
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


def json_type(value: object) -> str:
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


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(message: str) -> NinjsError:
    return NinjsError(f"ninjs: {message}")


def string(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """The field as a string; absent or null is None, any other type is an error."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"{path}{key} must be a string, not {json_type(value)}")
    return value


def text(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """A string field with something in it, else None."""
    value = string(obj, key, path)
    return value if value and value.strip() else None


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def body_content(value: str) -> str:
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


def html_to_plain(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


def objects(doc: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(path, object) for each item of a list of objects; absent or null is empty."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"{path}{key} must be a list, not {json_type(value)}")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise fail(f"{path}{key}[{i}] must be an object, not {json_type(item)}")
        items.append((f"{path}{key}[{i}].", item))
    return items


def best(items: list[tuple[str, str, str]], roles: tuple[str, ...] = ("main",)) -> str | None:
    """The value of the first of ``roles`` found (``main``), else the first; items are
    (role, media type, value)."""
    for wanted in roles:
        for role, _, value in items:
            if role == wanted:
                return value
    return items[0][2] if items else None


def texts(doc: Mapping[str, Any], key: str, path: str) -> list[tuple[str, str, str]]:
    """(role, media type, value) of each non-empty entry of headlines, bodies or descriptions."""
    found = []
    for item_path, item in objects(doc, key, path):
        value = text(item, "value", item_path)
        if value is None:
            continue
        role = (string(item, "role", item_path) or "").strip().lower()
        kind = media_type(string(item, "contenttype", item_path))
        found.append((role, kind, value))
    return found


def flat(doc: Mapping[str, Any], prefix: str, path: str) -> list[tuple[str, str, str]]:
    """(role, media type, value) of 1.x's ``headline_*``, ``body_*`` or ``description_*``
    strings: the suffix names the format (``html``, ``xhtml``, ``richtext``: HTML; ``text``:
    plain; ``nitf``, ``xml``: neither) or the role (``main``, ``caption``); anything else is
    sniffed later. ``body_html`` and ``body_xhtml`` come first, in that order, then the rest."""
    found = []
    keys = sorted(
        (k for k in doc if isinstance(k, str) and k.startswith(prefix)),
        key=lambda k: (_FIRST.get(k[len(prefix) :], len(_FIRST)),),
    )
    for key in keys:
        value = text(doc, key, path)
        if value is None:
            continue
        parts = set(key[len(prefix) :].split("_"))
        if parts & _FLAT_HTML:
            kind = "text/html"
        elif parts & _FLAT_PLAIN:
            kind = "text/plain"
        elif parts & _FLAT_OTHER:
            kind = "application/xml"
        else:
            kind = ""
        role = next((r for r in ("main", "caption") if r in parts), key[len(prefix) :])
        found.append((role, kind, value))
    return found


_FIRST = {"html": 0, "xhtml": 1}
_FLAT_HTML = {"html", "xhtml", "richtext"}
_FLAT_PLAIN = {"text", "plain"}
_FLAT_OTHER = {"nitf", "xml"}


def headline(doc: Mapping[str, Any], path: str = "") -> str | None:
    """The best of ``headlines`` (2.x, 3.x), else ``headline``, else 1.x's ``headline_*``."""
    found = [
        (role, kind, html_to_plain(v) if kind in HTML_TYPES else v)
        for role, kind, v in texts(doc, "headlines", path)
    ]
    extra = [
        (role, kind, html_to_plain(v) if kind in HTML_TYPES else v)
        for role, kind, v in flat(doc, "headline_", path)
    ]
    return best(found) or text(doc, "headline", path) or best(extra)


#: A description that is the item's text, best first; a ``creditline`` is no text.
DESCRIPTION_ROLES = ("main", "caption", "summary", "description", "text")


def bodies(doc: Mapping[str, Any], key: str, prefix: str) -> tuple[str | None, str | None]:
    """(html, plain) of ``key`` (``bodies``, ``descriptions``) and 1.x's ``prefix*`` strings,
    each the best of its kind. A text without a media type is HTML when it starts with ``<``."""
    html_texts, plain_texts = [], []
    roles = ("main",) if key == "bodies" else DESCRIPTION_ROLES
    for role, kind, value in texts(doc, key, "") + flat(doc, prefix, ""):
        if role == "creditline":
            continue
        if not kind:
            kind = "text/html" if value.lstrip().startswith("<") else "text/plain"
        if kind in HTML_TYPES:
            html_texts.append((role, kind, value))
        elif kind == "text/plain":
            plain_texts.append((role, kind, value))
    body_html = best(html_texts, roles)
    if body_html is not None:
        body_html = body_content(body_html).strip() or None
    return body_html, best(plain_texts, roles)


def lower_keys(value: object) -> object:
    """``value`` with every object's keys in lower case: 3.x's camelCase read as 2.x's names."""
    if isinstance(value, Mapping):
        return {k.lower() if isinstance(k, str) else k: lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value
