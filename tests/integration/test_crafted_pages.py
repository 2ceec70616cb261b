"""A page crafted to be expensive to prepare (issue 18, finding 5), on the real stack.

Preparation runs in worker processes within ``INGEST_PREPARE_BUDGET_SECONDS``: a page past it
is refused (HTTP 422, or the dead-letter topic) with the reason, and the service answers
everything else meanwhile. The ingest service here gets a small budget and a page that needs
many times more on any machine, so the over-budget path is taken every time; how long pages
take, and how fast ``/healthz`` answers meanwhile, is measured by bench/crafted_page.py.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bench.crafted_page import crafted_text_page
from deploy.local import stack
from services.ingest.preparing import budget_reason
from shared.contracts import Topics
from tests.integration.conftest import System, read_topic, ready, send

pytestmark = pytest.mark.integration

BUDGET = 0.5
#: 3,500 paragraphs alike at the start (840,000 characters, 1.6 MB): seconds of work even with
#: the comparisons bounded, many times the budget; within every size limit, so the budget is
#: what refuses it.
PARAGRAPHS = 3_500


@pytest.fixture(scope="module")
def tight(system: System) -> Iterator[str]:
    """The ingest service with a small budget in place of the fixture's, on the same port and
    in the same consumer group (so it is the one that reads the page from Kafka); the
    fixture's comes back afterwards."""
    system.kill("ingest", signal.SIGTERM)
    env = {**system.env, "INGEST_PREPARE_BUDGET_SECONDS": str(BUDGET)}
    replica = stack.service_process("ingest", system.state, env)
    replica.name = f"ingest-tight-{uuid.uuid4().hex[:6]}"
    replica.start()
    base = system.url("ingest")
    try:
        stack.wait_until(lambda: ready(f"{base}/readyz"), "ingest (small budget)", 60, replica)
        yield base
    finally:
        replica.stop(timeout=30)
        system.start("ingest")


@pytest.fixture(scope="module")
def page() -> bytes:
    return crafted_text_page(PARAGRAPHS).encode()


async def uploaded(body: bytes, sent: asyncio.Event) -> AsyncIterator[bytes]:
    """The body, then ``sent`` set: from then on the service has the whole page."""
    yield body
    sent.set()


async def test_a_page_over_the_budget_is_a_422_and_healthz_answers_meanwhile(
    system: System, http: httpx.AsyncClient, tight: str, page: bytes
) -> None:
    sent = asyncio.Event()
    headers = {**system.auth("mashhad"), "content-type": "text/plain"}
    request = asyncio.create_task(
        http.post(
            f"{tight}/articles/preview",
            content=uploaded(page, sent),
            headers=headers,
            timeout=120,
        )
    )
    await sent.wait()
    answered_meanwhile = 0
    while not request.done():
        probe = await http.get(f"{tight}/healthz")
        assert probe.status_code == 200, probe.text
        answered_meanwhile += not request.done()
    resp = await request
    assert resp.status_code == 422, resp.text
    refusal = {
        "error": "invalid article",
        "code": "article_invalid",
        "reason": budget_reason(BUDGET),
    }
    assert resp.json() == refusal
    # The event loop was free while a worker spent the budget on the page: the service
    # answered probes the whole time, not only once the page was refused.
    assert answered_meanwhile >= 3


async def test_the_same_page_from_kafka_goes_to_the_dlq_with_the_reason(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient, tight: str, page: bytes
) -> None:
    key = f"mashhad/crafted-{uuid.uuid4().hex[:8]}"
    article = {"publisher": "mashhad", "raw_text": page.decode(), "external_id": key}
    await send(producer, Topics.SUBMITTED, article, key=key)
    letters = await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.SUBMITTED),
        lambda seen: any(d.get("key") == key for d in seen),
        timeout=120,
    )
    letter = next(d for d in letters if d.get("key") == key)
    assert letter["reason"] == budget_reason(BUDGET)
    assert letter["error_class"] == "InvalidMessage"
    # The worker that was stopped has been replaced: the next article is prepared as usual.
    small = await http.post(
        f"{tight}/articles/preview",
        json={"headline": "تیتر کوتاه", "body_text": "متن خبر."},
        headers=system.auth("mashhad"),
    )
    assert small.status_code == 200, small.text
