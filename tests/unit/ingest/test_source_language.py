"""The languages an editor sees for an article (``GET /articles``, the desk): its own language is
its ``source``, first, never "pending", whichever of the publisher's languages it was written in
(issue 21); the others are published, updating or pending, and an editor translates into those
only. On the real registry, in memory;
``tests/integration/test_other_originals.py`` shows the same on the real stack."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingest.api.editors import Editors
from services.ingest.settings import IngestSettings
from shared.web import Refused
from tests.support.fast_broker import register_publishers, runtime
from tests.support.memory_db import MemoryDatabase

T0 = datetime(2025, 4, 29, 7, 21, tzinfo=UTC)


def editors() -> Editors:
    """Just what ``languages()`` reads: the runtime's registry (no workers, no store)."""
    db = MemoryDatabase()
    register_publishers(
        db,
        {"_id": "tehran", "name": "Tehran", "language": "fa", "translate_to": ["en", "ar"]},
    )
    found = Editors.__new__(Editors)
    found.rt = runtime("ingest", IngestSettings(), db)
    return found


def done(version: int, status: str = "published") -> dict[str, Any]:
    return {"version": version, "revision": 1, "status": status, "engine": "pseudo"}


async def test_an_english_original_is_the_source_and_persian_a_target() -> None:
    head = {"language": "en", "languages": {"fa": done(2), "ar": done(1)}}
    shown = await editors().languages("tehran", 2, head)
    assert list(shown) == ["en", "fa", "ar"]
    assert shown["en"] == {"status": "source"}
    assert shown["fa"]["status"] == "published"
    assert shown["ar"]["status"] == "updating"  # version 1 of 2


async def test_the_own_language_is_never_pending_nor_a_stale_translation() -> None:
    # Version 1 was Persian and translated into English; version 2 is the English original.
    head = {"language": "fa", "languages": {"en": done(1)}}
    shown = await editors().languages("tehran", 2, head, source="en")  # the latest version's
    assert shown["en"] == {"status": "source"}
    assert shown["fa"] == {"status": "pending"} and shown["ar"] == {"status": "pending"}


async def test_a_head_without_a_language_is_in_the_publishers() -> None:
    shown = await editors().languages("tehran", 1, {"languages": {"en": done(1, "held")}})
    assert list(shown) == ["fa", "en", "ar"]
    assert shown["fa"] == {"status": "source"}
    assert shown["en"]["status"] == "held" and shown["en"]["reasons"] == []
    assert (await editors().languages("tehran", 1, None))["fa"] == {"status": "source"}
    regional = await editors().languages("tehran", 1, {"language": "fa-IR"})
    assert list(regional) == ["fa-IR", "en", "ar"]  # Persian is its own language, not pending


async def test_an_editor_translates_an_english_original_into_persian_not_into_english() -> None:
    desk = editors()
    await desk.target_language("tehran", "fa", "en")
    await desk.target_language("tehran", "ar", "en")
    with pytest.raises(Refused) as refused:
        await desk.target_language("tehran", "en", "en")
    assert refused.value.status == 422 and "fa, ar" in refused.value.reason
    with pytest.raises(Refused):  # the glossaries' check: the usual originals are Persian
        await desk.target_language("tehran", "fa")
