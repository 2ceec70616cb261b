"""Feed entries as IPTC ninjs 3.1 documents, for partner CMSs that import structured news rather
than feeds (``/entries/{id}/{lang}.ninjs`` and ``/feeds/{publisher}/{lang}.ninjs``).

Pure: a :class:`~services.feeds.entries.FeedEntry` in, the document's JSON bytes out. Every
document is valid against IPTC's ninjs 3.1 schema, which allows no property of its own
(``unevaluatedProperties: false`` at every level), so a translation's provenance goes into
ninjs's own fields: ``digitalSourceType`` (IPTC's Digital Source Type NewsCodes: a machine
translation is ``trainedAlgorithmicMedia``, an editor's ``humanEdits``), ``infoSources`` (the
publisher, the engine or translator, the reviewer), ``edNote`` (the same for a person) and an
association to the original; the full provenance record, as the feeds print it, rides in a
``descriptions`` item whose ``role`` is the feeds' provenance namespace (our one extension,
documented in the README, valid because ``descriptions`` take any role).

A withdrawn entry is a ``canceled`` document without its headline, body or pictures: ninjs's own
way to tell an importer to kill the story, and the withdrawn text is not handed out again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.feeds.entries import EntryImage, FeedEntry
from services.feeds.render import CS_NS, entry_id
from shared.languages import name_of

NINJS_VERSION = "3.1"
SCHEMA_URI = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"
MEDIA_TYPE = "application/json; charset=utf-8"  # IANA has no ninjs type; IPTC serves JSON
DIGITAL_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: By the provenance's ``method``: IPTC's term and its English name.
SOURCE_TYPES = {
    "machine": ("trainedAlgorithmicMedia", "Created using Generative AI"),
    "human": ("humanEdits", "Human-edited media"),
}
#: The ``descriptions`` role of the full provenance record (the feeds' ``cs:`` namespace).
PROVENANCE_ROLE = CS_NS

#: The permalink of an entry (article id, language): ``FeedUrls.permalink``.
Permalink = Callable[[str, str], str]
# A ninjs document or part of one, as JSON: stays inside this module (bytes leave it).
_Json = dict[str, Any]


def entry_json(entry: FeedEntry, permalink: Permalink) -> bytes:
    """One entry as a ninjs 3.1 document."""
    return _dump(entry_document(entry, permalink))


def feed_json(entries: Iterable[FeedEntry], permalink: Permalink) -> bytes:
    """A feed's entries as a JSON array of ninjs 3.1 documents, each complete and valid by
    itself: a CMS's ninjs importer takes every element as it would a single item (a ninjs
    ``composite`` with the entries as ``associations`` would be imported as one package)."""
    return _dump([entry_document(e, permalink) for e in entries])


def entry_document(entry: FeedEntry, permalink: Permalink) -> _Json:
    """The document of one entry: ``canceled`` and bare when withdrawn."""
    doc: _Json = {
        "standard": {"name": "ninjs", "version": NINJS_VERSION, "schema": SCHEMA_URI},
        "uri": entry_id(entry.article_id, entry.language),  # the feeds' entry id, too
        "type": _type(entry),
        "version": _version(entry),
        "firstCreated": _when(entry.published),
        "versionCreated": _when(entry.updated),
        "pubStatus": "canceled" if entry.withdrawn else "usable",
        "language": entry.language,
        "copyrightHolder": entry.publisher_name or entry.publisher,
        "altIds": _alt_ids(entry),
    }
    if entry.withdrawn:
        return doc
    page = permalink(entry.article_id, entry.language)
    doc["headlines"] = [{"role": "main", "contentType": "text/plain", "value": entry.headline}]
    if entry.body_html.strip():
        doc["bodies"] = [{"role": "main", "contentType": "text/html", "value": entry.body_html}]
    if entry.byline:
        doc["by"] = entry.byline
    if entry.subjects:
        doc["subjects"] = [_subject(s) for s in entry.subjects]
    doc["renditions"] = [{"name": "web", "href": page, "contentType": "text/html"}]
    doc["infoSources"] = [_publisher(entry)]
    associations = [] if doc["type"] == "picture" else _pictures(entry.images)
    if doc["type"] == "picture":  # the item is the picture: its rendition and caption
        image = entry.images[0]
        doc["renditions"].append(_rendition(image))
        doc.update(_image_text(image))
    if entry.provenance is not None:
        _add_provenance(doc, entry, entry.provenance, permalink)
        associations.append(_original(entry, permalink))
    if associations := [a for a in associations if a]:
        doc["associations"] = associations
    return doc


def _type(entry: FeedEntry) -> str:
    """``text`` when it has a body; a picture item or gallery without one is ``picture`` or
    ``composite`` (issue 21: a city's photo story is news too)."""
    if entry.body_html.strip() or not entry.images:
        return "text"
    return "picture" if len(entry.images) == 1 else "composite"


def _version(entry: FeedEntry) -> str:
    """The article's version, and the revision of this language's text within it when it has
    one (translations: every event of a version, a human one after the machine one), so that
    the version moves whenever the text does."""
    return f"{entry.version}.{entry.revision}" if entry.revision else str(entry.version)


def _when(moment: datetime) -> str:
    """RFC 3339 in UTC (stored datetimes come back naive from MongoDB: they are UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _alt_ids(entry: FeedEntry) -> list[_Json]:
    ids = [{"role": "article", "value": entry.article_id}]
    if entry.url:
        ids.append({"role": "publisherUrl", "value": entry.url})
    return ids


def _subject(subject: str) -> _Json:
    if subject.startswith(("http://", "https://")):
        return {"uri": subject}
    return {"name": subject}


def _publisher(entry: FeedEntry) -> _Json:
    return {
        "name": entry.publisher_name or entry.publisher,
        "role": "publisher",
        "literal": entry.publisher,
    }


def _pictures(images: Iterable[EntryImage]) -> list[_Json]:
    """Each picture as an associated ``picture`` item with its rendition and caption."""
    return [
        {
            "name": f"picture{n}",
            "rel": "image",
            "uri": image.url,
            "type": "picture",
            "renditions": [_rendition(image)],
            **_image_text(image),
        }
        for n, image in enumerate(images, 1)
    ]


def _rendition(image: EntryImage) -> _Json:
    rendition: _Json = {"name": "original", "href": image.url}
    if image.media_type:
        rendition["contentType"] = image.media_type
    if image.width:
        rendition["width"] = image.width
    if image.height:
        rendition["height"] = image.height
    return rendition


def _image_text(image: EntryImage) -> _Json:
    """The caption (in the entry's language) and the credit line of a picture."""
    text: _Json = {}
    if image.caption:
        text["descriptions"] = [
            {"role": "caption", "contentType": "text/plain", "value": image.caption}
        ]
    if image.credit:
        text["by"] = image.credit
    return text


def _add_provenance(
    doc: _Json, entry: FeedEntry, provenance: Mapping[str, Any], permalink: Permalink
) -> None:
    """A translation's provenance in ninjs's own fields, and the whole record as a
    description (see the module's docstring)."""
    method = str(provenance.get("method") or "machine")
    term, name = SOURCE_TYPES.get(method, SOURCE_TYPES["machine"])
    doc["digitalSourceType"] = {"uri": DIGITAL_SOURCE_TYPES + term, "name": name}
    doc["infoSources"] += _translators(provenance)
    doc["edNote"] = _note(entry, provenance)
    record = json.dumps(dict(sorted(provenance.items())), ensure_ascii=False, default=_plain)
    descriptions = doc.setdefault("descriptions", [])
    descriptions.append(
        {"role": PROVENANCE_ROLE, "contentType": "application/json", "value": record}
    )


def _translators(provenance: Mapping[str, Any]) -> list[_Json]:
    """The engine (model, version) or the editor who translated, and the reviewer."""
    found: list[_Json] = []
    if provenance.get("method") == "human":
        who = provenance.get("translated_by") or "an editor"
        found.append({"name": str(who), "role": "translator"})
    else:
        parts = (provenance.get(k) for k in ("engine", "model", "model_version"))
        engine = " ".join(str(p) for p in parts if p)
        found.append({"name": engine or "machine translation", "role": "translator"})
        if provenance.get("pivot"):
            found[-1]["literal"] = f"pivot language: {provenance['pivot']}"
    reviewer = provenance.get("reviewed_by")
    if reviewer and reviewer != provenance.get("translated_by"):
        found.append({"name": str(reviewer), "role": "reviewer"})
    return found


def _note(entry: FeedEntry, provenance: Mapping[str, Any]) -> str:
    """What an editor of the importing CMS should know, in a sentence or three."""
    source = name_of(entry.source_language) or "its original language"
    if provenance.get("method") == "human":
        note = f"Translated from {source} by an editor."
    elif provenance.get("review") == "approved" or provenance.get("reviewed"):
        note = f"Machine translation from {source}, approved by an editor."
    else:
        note = f"Machine translation from {source}, not reviewed by an editor."
    failures = [
        str(f.get("check") if isinstance(f, Mapping) else f)
        for f in provenance.get("check_failures") or ()
    ]
    if provenance.get("needs_review") or failures:
        note += f" Failed automatic checks: {', '.join(failures) or 'unspecified'}."
    if missing := provenance.get("missing_terms"):
        note += f" Glossary terms missing: {', '.join(map(str, missing))}."
    return note


def _original(entry: FeedEntry, permalink: Permalink) -> _Json:
    """The article in its own language, which this translation was made from."""
    if not entry.source_language:
        return {}
    return {
        "name": "original",
        "rel": "translationOf",
        "uri": entry_id(entry.article_id, entry.source_language),
        "language": entry.source_language,
        "renditions": [
            {
                "name": "web",
                "href": permalink(entry.article_id, entry.source_language),
                "contentType": "text/html",
            }
        ],
    }


def _plain(value: object) -> str:
    """Datetimes (and enums), the types in a provenance record that json cannot write."""
    if isinstance(value, datetime):
        return _when(value)
    return str(value)


def _dump(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
