"""A ninjs event item (3.x ``type: event``, ``eventDetails``) as the text of an entry.

An event announcement is news for a city's partners when it says what happens: it needs a
headline (or its ``title``) and a description (or a body). The entry's body is that description
followed by the event's dates and its place, as the document gives them and without words
around them, since the article may be in any language and its translations translate the rest.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.ingest.ninjs_read import bodies, fail, headline, objects, text


def is_event(doc: Mapping[str, Any]) -> bool:
    """An event item; keys are in lower case (3.x's ``eventDetails`` read as ``eventdetails``)."""
    kind = doc.get("type")
    return kind == "event" or (kind is None and isinstance(doc.get("eventdetails"), Mapping))


def _when(value: object) -> str | None:
    """A date as printed: ``2023-10-04 18:45+02:00`` for a time, else as the document has it
    (3.x's truncated dates: ``2023``, ``2023-07``, ``2023-07-11``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if "T" not in value:
        return value
    try:
        return datetime.fromisoformat(value).isoformat(sep=" ", timespec="minutes")
    except ValueError:
        return value


def _dates(doc: Mapping[str, Any]) -> str | None:
    details = doc.get("eventdetails")
    dates = details.get("dates") if isinstance(details, Mapping) else None
    if not isinstance(dates, Mapping):
        return None
    start = _when(dates.get("startdate")) or _when(dates.get("expectedstartdate"))
    end = _when(dates.get("enddate")) or _when(dates.get("expectedenddate"))
    if start and end and start != end:
        return f"{start} – {end}"
    return start or end


def _place(place: Mapping[str, Any], path: str) -> str | None:
    parts = [text(place, "name", path)]
    for info_path, info in objects(place, "contactinfo", path):
        address = info.get("address")
        if isinstance(address, Mapping):
            parts += [text(address, k, info_path) for k in ("locality", "area", "country")]
    kept = list(dict.fromkeys(p.strip() for p in parts if p))
    return ", ".join(kept) or None


def _where(doc: Mapping[str, Any]) -> str | None:
    places = [p for path, place in objects(doc, "places", "") if (p := _place(place, path))]
    return "; ".join(places) or text(doc, "located", "")


def event_text(doc: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(headline, body_html, body_text) of an event; a :class:`NinjsError` naming what is
    missing when it has no headline or no description."""
    title = headline(doc) or text(doc, "title", "")
    body_html, body_text = bodies(doc, "descriptions", "description_")
    if not body_html and not body_text:
        body_html, body_text = bodies(doc, "bodies", "body_")
    missing = [
        name for name, v in (("headline", title), ("description", body_html or body_text)) if not v
    ]
    if title is None or missing:
        raise fail(
            "an event becomes an entry only with a headline (or title) and a description "
            f"(or body); this one has no {' and no '.join(missing)}"
        )
    facts = [f for f in (_dates(doc), _where(doc)) if f]
    if body_html:
        body_html += "".join(f"<p>{html.escape(f, quote=False)}</p>" for f in facts)
        return title, body_html, None
    return title, None, "\n\n".join([body_text or "", *facts])
