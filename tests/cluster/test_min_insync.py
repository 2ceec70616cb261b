"""Fewer brokers up than ``min.insync.replicas``: with two of three down, no write is
acknowledged (the producers wait and try again, an editor over HTTP is told to retry), and
once a second broker is back everything sent is delivered, once. ``INSYNC_REPORT=file``
appends a JSON line per run (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import PACE, Clustered, healed
from tests.support.faults import PUBLISHER, Stream, append_line, caught_up, entries_of

pytestmark = pytest.mark.cluster  # in make test too: about two and a half minutes

#: Acknowledgements up to this long after the second broker stopped may be answers it sent
#: just before (the stream's event loop reads them late on a busy machine).
IN_FLIGHT = 1.0


@pytest.mark.timeout(900)
async def test_with_fewer_than_min_insync_replicas_nothing_is_acknowledged_or_lost(
    clustered: Clustered, http: httpx.AsyncClient
) -> None:
    cluster, system, fleet = clustered.cluster, clustered.system, clustered.fleet
    stream = Stream(cluster.bootstrap, pace=PACE)
    sending = asyncio.create_task(stream.send_all())
    article = {
        "publisher": PUBLISHER,
        "headline": f"خبری که در قطعی فرستاده شد {stream.run}",
        "body_text": "شهرداری گرگان گزارش داد.",
        "external_id": f"outage-{uuid.uuid4().hex[:8]}",
    }
    try:
        await stream.reached(5)
        second, third = cluster.nodes[1], cluster.nodes[2]
        await asyncio.to_thread(second.process.stop, 60, signal.SIGTERM)
        await asyncio.to_thread(third.process.stop, 60, signal.SIGTERM)
        down_at, sent_before = time.monotonic(), stream.sent

        # An editor's submission meanwhile: the producer tries until its request timeout,
        # then the editor is told to retry, not that the article was taken.
        url = f"{fleet.url('ingest')}/articles"
        refused = await http.post(url, json=article, headers=system.auth(PUBLISHER), timeout=120)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "unavailable" and refused.headers["retry-after"]
        up_at = time.monotonic()
        during = [t for t in stream.acknowledged if down_at + IN_FLIGHT < t < up_at]
        assert during == [], f"{len(during)} sends acknowledged with one broker of three up"
        assert stream.sent <= sent_before + 1  # the one in flight when the broker went

        await asyncio.to_thread(third.start, 120, 2)  # two of three: the quorum and the ISR
        await stream.reached(stream.sent + 3)  # acknowledged again
        accepted = await http.post(url, json=article, headers=system.auth(PUBLISHER), timeout=60)
        assert accepted.status_code == 202, accepted.text
        await asyncio.to_thread(second.start, 120, 3)
        await healed(cluster)
        stream.faults_over.set()
        await sending
    finally:
        sending.cancel()

    outcome = (await caught_up(http, fleet.url("feeds"), stream, stream.sent, final=True)).summary()
    # The article refused during the outage and accepted after it: in the feed once.
    titles = await entries_of(http, fleet.url("feeds"), stream.run, "fa")
    report = {
        "run": stream.run,
        "articles": stream.sent,
        "send_retries": stream.retried,
        "brokers_down": 2,
        "outage_s": round(up_at - down_at, 1),  # until the second broker was started again
        "acknowledged_meanwhile": len(during),
        "editor_meanwhile": refused.status_code,
        "editor_after": accepted.status_code,
        "editor_article_in_feed": titles.count(article["headline"]),
        **outcome,
    }
    if path := os.environ.get("INSYNC_REPORT"):
        await asyncio.to_thread(append_line, Path(path), json.dumps(report))
    print(f"\n[min-insync] {report}")
    assert outcome["missing"] == outcome["duplicated"] == 0, report
    assert titles.count(article["headline"]) == 1, titles
