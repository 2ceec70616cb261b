"""Preparation in worker processes within a budget (services/ingest/preparing.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bench.crafted_page import crafted_text_page
from services.ingest.article import Rejected, prepare
from services.ingest.preparing import INLINE_MAX_CHARS, OverBudget, Preparer, budget_reason
from shared.contracts import SUBMISSION
from shared.registry import Publisher

PUBLISHER = Publisher(id="mashhad", name="Mashhad")
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture
def one_worker() -> Iterator[Preparer]:
    preparer = Preparer(1, 30)
    yield preparer
    preparer.close()


async def test_the_workers_prepare_what_prepare_would(one_worker: Preparer) -> None:
    for body in ("متن خبر با ي و ك.", "متن خبر با ي و ك. " * (INLINE_MAX_CHARS // 10)):
        article = SUBMISSION.validate_python(
            {"publisher": "mashhad", "headline": "تیتر خبر", "body_text": body}
        )  # on the event loop, then in a worker
        assert await one_worker.prepare(article, PUBLISHER, NOW) == prepare(article, PUBLISHER, NOW)
    page = SUBMISSION.validate_python({"publisher": "mashhad", "raw_text": "."})
    with pytest.raises(Rejected, match="no headline found in the page"):
        await one_worker.prepare(page, PUBLISHER, NOW)


async def test_past_the_budget_the_worker_is_stopped_and_replaced(one_worker: Preparer) -> None:
    crafted = SUBMISSION.validate_python(
        {"publisher": "mashhad", "raw_text": crafted_text_page(3_500)}
    )
    one_worker.budget = 0.05  # the page needs seconds
    with pytest.raises(OverBudget) as refused:
        await one_worker.prepare(crafted, PUBLISHER, NOW)
    assert str(refused.value) == budget_reason(0.05)
    one_worker.budget = 30
    page = SUBMISSION.validate_python({"publisher": "mashhad", "raw_text": "تیتر\nمتن خبر."})
    assert await one_worker.prepare(page, PUBLISHER, NOW) == prepare(page, PUBLISHER, NOW)
