"""Three translate replicas in one consumer group, one killed mid-stream: nothing is lost and
nothing is duplicated."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from deploy.local import stack
from services.feeds.render import entry_id
from services.ingest.text import article_id
from shared.contracts import Topics
from tests.integration.conftest import System, await_history, holders, ready, send

pytestmark = pytest.mark.integration

N = 30
CORRECTED = 5  # the first articles get a second version, sent after the crash
PUBLISHER = "tehran"
LANGUAGES = ("fa", "en", "ar", "ru")


async def await_group(bootstrap: str, replicas: int) -> None:
    async with asyncio.timeout(45):
        while True:
            if await holders(bootstrap) == ("Stable", replicas):
                return
            await asyncio.sleep(0.2)  # poll interval while the group rebalances


def start_replica(system: System, name: str) -> stack.Process:
    port = stack.free_port()
    proc = stack.service_process(
        "translate", system.state, {**system.env, "TRANSLATE_HTTP_PORT": str(port)}
    )
    proc.name = name  # its own pid and log file beside the fixture's translate
    proc.start()
    return proc


async def test_killing_a_translate_replica_mid_stream_loses_and_duplicates_nothing(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    run = uuid.uuid4().hex[:6]
    docs = [
        {
            "publisher": PUBLISHER,
            "headline": f"خبر شماره {i} از تهران {run}",
            "body_text": f"متن خبر {i}. دو شهر بر همکاری فرهنگی تأکید کردند.",
            "external_id": f"{run}-{i}",
        }
        for i in range(N)
    ]
    ids = [article_id(PUBLISHER, d["external_id"], "", "") for d in docs]
    corrections = [{**d, "headline": d["headline"] + " (اصلاحیه)"} for d in docs[:CORRECTED]]
    latest = {ident: d["headline"] for ident, d in zip(ids, docs, strict=True)}
    latest.update({ids[i]: c["headline"] for i, c in enumerate(corrections)})

    extra = [start_replica(system, f"translate-extra-{i}-{run}") for i in range(2)]
    try:
        for proc in extra:
            url = f"http://127.0.0.1:{proc.env['TRANSLATE_HTTP_PORT']}/readyz"
            stack.wait_until(lambda url=url: ready(url), "extra translate replica", 60, proc)
        await await_group(system.infra.kafka, 3)  # one partition each (TOPIC_PARTITIONS=3)
        victim = extra[0]

        for d in docs[: N // 2]:
            await send(producer, Topics.SUBMITTED, d)

        def victim_worked() -> bool:
            lines = victim.logfile.read_text(errors="replace").splitlines()
            announced = [line for line in lines if "translation announced" in line]
            return any(ident in line for line in announced for ident in ids)

        async with asyncio.timeout(30):
            while True:
                if victim_worked():  # it holds a partition of this stream, and works on it
                    break
                await asyncio.sleep(0.05)  # poll interval on its log
        victim.stop(timeout=10, sig=signal.SIGKILL)  # no goodbye: its offsets are not committed
        for d in docs[N // 2 :]:
            await send(producer, Topics.SUBMITTED, d)
        for c in corrections:
            await send(producer, Topics.SUBMITTED, c)

        # Every article in every language, at its latest version, in the feeds' histories.
        for lang in LANGUAGES:
            prefix = "" if lang == "fa" else f"[{lang}] "
            want = {entry_id(ident, lang): prefix + latest[ident] for ident in ids}

            def complete(entries: list[Any], want: dict[str, str] = want) -> bool:
                titles = {e.id: e.title for e in entries if e.id in want}
                return titles == want

            url = system.url("feeds", f"/feeds/{PUBLISHER}/{lang}.atom")
            entries, _ = await await_history(http, url, complete, timeout=60)
            # One entry per article: none reached the feed a second time under another id.
            assert sorted(e.id for e in entries.values() if run in e.title) == sorted(want), lang
        # The survivors took the victim's partition over (the stream behind it is translated).
        await await_group(system.infra.kafka, 2)
    finally:
        for proc in extra:
            proc.stop(timeout=30)
        with contextlib.suppress(TimeoutError):  # the next tests find the fixture's replica
            await await_group(system.infra.kafka, 1)  # holding every partition again

    # And in the feeds' logs (every feed that carries them, archives included), each version
    # of each article and language was appended exactly once, however often it was delivered.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(system.infra.mongodb_uri)
    try:
        log = client[system.infra.database]["feed_log"]
        items = [
            (str(i["_id"]).rsplit("#", 1)[0], i["article_id"], i["language"], i["version"])
            async for i in log.find({"article_id": {"$in": ids}})
        ]
    finally:
        await client.close()
    appended = Counter(items)
    assert appended and max(appended.values()) == 1, [k for k, v in appended.items() if v > 1]
    publisher_feeds = {(f"publisher/{PUBLISHER}/{lang}", lang) for lang in LANGUAGES}
    for feed, lang in publisher_feeds:
        for n, ident in enumerate(ids):
            versions = {v for f, a, la, v in appended if f == feed and a == ident and la == lang}
            # The latest version is there; a translation of version 1 may have been skipped
            # when version 2 was already waiting (translate handles an article's latest only).
            assert max(versions, default=0) == (2 if n < CORRECTED else 1), (feed, ident)
