"""Faults while articles flow: every service killed in turn, the broker and the database killed
and restarted, a consumer frozen until the broker evicts it. Afterwards every article is in
every feed it belongs to, exactly once, at its latest version.

The suite runs on a Kafka and a FerretDB of its own (it kills them), started for this module.
``make test-faults`` runs it three times in a row; ``FAULTS_REPORT=file`` appends a JSON line
per run with what was injected and what was found (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts import Topics
from tests.conftest import started_infra
from tests.integration.conftest import System, holders, started_system
from tests.support.faults import (
    LANGUAGES,
    Stream,
    append_line,
    entries_of,
    unowned_after_recovery,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

#: Kafka's max.poll.interval for every consumer of this suite (300 s by default): a handler
#: waiting longer than this on a hung database loses its partitions.
POLL_INTERVAL = 10


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with (
        started_infra(tmp_path_factory.mktemp("fault-stack"), None, None) as infra,
        started_system(
            infra,
            tmp_path_factory.mktemp("fault-services"),
            **{
                f"{service.upper()}_MAX_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL)
                for service in ("ingest", "translate", "feeds")
            },
        ) as system,
    ):
        yield system


async def evicted(
    system: System, expected: int, group_id: str = "translate", topic: str = Topics.INGESTED
) -> None:
    """Until ``expected`` members of the group hold partitions of the topic."""
    async with asyncio.timeout(90):
        while True:
            if (await holders(system.infra.kafka, group_id, topic))[1] == expected:
                return
            await asyncio.sleep(0.2)  # poll interval while the group changes


def restart_service(system: System, name: str) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        system.kill(name, signal.SIGKILL)
        await asyncio.to_thread(system.start, name)

    return fault


def restart_server(server: Any) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        server.process.stop(timeout=5, sig=signal.SIGKILL)
        await asyncio.to_thread(server.start)

    return fault


def freeze(system: System, name: str) -> Callable[[], Awaitable[None]]:
    """SIGSTOP until the broker evicts the consumer (its session times out), then SIGCONT:
    what it was processing is redelivered, its late commit refused."""

    async def fault() -> None:
        pid = system.processes[name].pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            await evicted(system, 0)
        finally:
            os.kill(pid, signal.SIGCONT)
        await evicted(system, 1)

    return fault


def hang(system: System, server: Any) -> Callable[[], Awaitable[None]]:
    """SIGSTOP of the database (a hang, not a crash: connections stay open, nothing answers)
    until ingest, waiting on it in the middle of a submission for longer than its poll
    interval, has lost its partitions; then SIGCONT. The late handler's commit is refused and
    the submission handled again."""

    async def fault() -> None:
        pid = server.process.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            await evicted(system, 0, "ingest", Topics.SUBMITTED)
        finally:
            os.kill(pid, signal.SIGCONT)
        await evicted(system, 1, "ingest", Topics.SUBMITTED)

    return fault


@pytest.mark.timeout(900)
async def test_faults_while_articles_flow_lose_and_duplicate_nothing(
    faulty: System, http: httpx.AsyncClient
) -> None:
    system = faulty
    kafka, database = system.infra.kafka_server, system.infra.database_server
    assert kafka is not None and database is not None
    faults: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("kill -9 ingest", restart_service(system, "ingest")),
        ("kill -9 translate", restart_service(system, "translate")),
        ("kill -9 feeds", restart_service(system, "feeds")),
        ("kill -9 Kafka broker, restart", restart_server(kafka)),
        ("kill -9 FerretDB, restart", restart_server(database)),
        ("SIGSTOP translate until evicted, SIGCONT", freeze(system, "translate")),
        ("SIGSTOP FerretDB past ingest's poll interval, SIGCONT", hang(system, database)),
    ]
    stream = Stream(system.infra.kafka)
    sending = asyncio.create_task(stream.send_all())
    injected = []
    started = time.monotonic()
    try:
        for name, fault in faults:
            await stream.reached(stream.sent + 5)
            shown = await entries_of(http, system.url("feeds"), stream.run, "fa")
            sent, at = stream.sent, time.monotonic()
            await fault()
            injected.append(
                {
                    "fault": name,
                    "sent": sent,
                    "in_flight": sent - len(shown),  # sent, not yet in the Persian feed
                    "recovery_s": round(time.monotonic() - at, 1),
                }
            )
            print(f"\n[faults] {injected[-1]}", flush=True)
        stream.faults_over.set()
        await sending
    finally:
        sending.cancel()

    articles = stream.sent
    expected = stream.expected()
    found: dict[str, list[str]] = {}
    deadline = time.monotonic() + 240
    for lang in LANGUAGES:
        while True:
            found[lang] = got = await entries_of(http, system.url("feeds"), stream.run, lang)
            if sorted(got) == expected[lang] or len(got) > len(set(got)) or len(got) > articles:
                break  # complete, or a duplicate, which never goes away: reported below
            if time.monotonic() > deadline:
                break  # what is missing is reported below
            print(f"[faults] {lang}: {len(got)} of {articles}", flush=True)
            await asyncio.sleep(0.5)  # poll interval while the pipeline catches up

    unowned = await unowned_after_recovery(system.infra.kafka)
    report = {
        "run": stream.run,
        "articles": articles,
        "corrections": len(stream.corrected()),
        "send_retries": stream.retried,
        "faults": injected,
        "seconds": round(time.monotonic() - started, 1),
        # not in the feed at its latest version (an older version counts as lost)
        "lost": {lang: len(set(expected[lang]) - set(got)) for lang, got in found.items()},
        "duplicated": {lang: len(got) - len(set(got)) for lang, got in found.items()},
        "unowned_partitions": unowned,
    }
    if path := os.environ.get("FAULTS_REPORT"):
        await asyncio.to_thread(append_line, Path(path), json.dumps(report, ensure_ascii=False))
    print("\n" + json.dumps(report, ensure_ascii=False, indent=1))
    for lang in LANGUAGES:
        assert sorted(found[lang]) == expected[lang], (lang, report)
    assert unowned == {}, report
