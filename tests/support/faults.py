"""What the fault suites share: a CMS sending articles while things break, reading a run's
entries back from the feeds, and the partitions no consumer holds once groups settle.

tests/integration/test_faults.py breaks one broker, the database and the services;
tests/cluster/ breaks a three-broker cluster and services of two replicas each.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from shared.contracts import Topics
from shared.groups import GroupWatch
from shared.metrics import subscribed_groups
from tests.integration.conftest import feed_history
from tools import asyncapi

PUBLISHER = "gorgan"  # fa, translated into en, ar and ru
LANGUAGES = ("fa", "en", "ar", "ru")
PACE = 0.5  # seconds between two submissions: a steady stream until the faults are over
CORRECT_EVERY = 6  # every sixth article gets a second version at the end


class Stream:
    """A CMS sending articles while things break: a send that fails is sent again (the
    broker may be down); ingest recognises a repeated submission by its external id."""

    def __init__(self, bootstrap: str, pace: float = PACE) -> None:
        self.bootstrap = bootstrap
        self.pace = pace
        self.run = uuid.uuid4().hex[:6]
        self.sent = 0
        self.retried = 0
        #: When each send was acknowledged (time.monotonic()), in order.
        self.acknowledged: list[float] = []
        self.progress = asyncio.Condition()
        self.faults_over = asyncio.Event()

    def headline(self, i: int, version: int = 1) -> str:
        fixed = " (اصلاح شده)" if version > 1 else ""
        return f"خبر {i} از گرگان {self.run}{fixed}"

    def corrected(self) -> range:
        return range(0, self.sent, CORRECT_EVERY)

    def latest(self, i: int) -> str:
        return self.headline(i, 2 if i % CORRECT_EVERY == 0 else 1)

    def expected(self, articles: int | None = None, final: bool = True) -> dict[str, list[str]]:
        """Each language feed's titles of this run: the first ``articles`` sent (all by
        default), at their latest version (``final``) or their first."""
        count = self.sent if articles is None else articles
        titles = [self.latest(i) if final else self.headline(i) for i in range(count)]
        return {
            lang: sorted(("" if lang == "fa" else f"[{lang}] ") + t for t in titles)
            for lang in LANGUAGES
        }

    async def submit(self, producer: AIOKafkaProducer, i: int, version: int = 1) -> None:
        value = json.dumps(
            {
                "publisher": PUBLISHER,
                "headline": self.headline(i, version),
                "body_text": f"متن خبر {i}، نسخه {version}. شهرداری گرگان گزارش داد.",
                "external_id": f"{self.run}-{i}",
            },
            ensure_ascii=False,
        ).encode()
        while True:
            try:
                async with asyncio.timeout(15):  # one key per article: its versions in order
                    await producer.send_and_wait(
                        Topics.SUBMITTED, value, key=f"{self.run}-{i}".encode()
                    )
                self.acknowledged.append(time.monotonic())
                return
            except Exception:  # broker down or restarting: the CMS tries again
                self.retried += 1
                await asyncio.sleep(0.5)  # back-off between retries

    async def send_all(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
        )
        await producer.start()
        try:
            while not self.faults_over.is_set():
                await self.submit(producer, self.sent)
                async with self.progress:
                    self.sent += 1
                    self.progress.notify_all()
                await asyncio.sleep(self.pace)  # the stream's pace, not a wait for an outcome
            for i in self.corrected():
                await self.submit(producer, i, version=2)
        finally:
            await producer.stop()

    async def reached(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: self.sent >= count)


async def entries_of(http: httpx.AsyncClient, feeds: str, run: str, lang: str) -> list[str]:
    """Titles of this run's entries in the publisher's feed on the feeds service at ``feeds``
    (its base URL), archives included, one per id."""
    entries, _ = await feed_history(http, f"{feeds}/feeds/{PUBLISHER}/{lang}.atom")
    return [e.title for e in entries.values() if run in e.title]


@dataclass
class CatchUp:
    """A stream's entries as found in every language feed, against what was wanted."""

    seconds: float
    want: dict[str, list[str]]
    found: dict[str, list[str]]

    def missing(self) -> dict[str, int]:
        """Per language, wanted titles not in the feed (an older version counts as missing)."""
        return {lang: len(set(self.want[lang]) - set(got)) for lang, got in self.found.items()}

    def duplicated(self) -> dict[str, int]:
        """Per language, entries whose title another entry has too."""
        return {lang: len(got) - len(set(got)) for lang, got in self.found.items()}

    def summary(self) -> dict[str, float]:
        return {
            "caught_up_s": self.seconds,
            "missing": sum(self.missing().values()),
            "duplicated": sum(self.duplicated().values()),
        }


async def caught_up(
    http: httpx.AsyncClient,
    feeds: str,
    stream: Stream,
    articles: int,
    timeout: float = 240,
    final: bool = False,
) -> CatchUp:
    """Until the first ``articles`` of the stream are in every language feed on ``feeds``, at
    their first version or (``final``) their latest; a duplicate, which never goes away, or the
    timeout ends the wait early."""
    want = stream.expected(articles, final=final)
    at = time.monotonic()
    while True:
        found = {lang: await entries_of(http, feeds, stream.run, lang) for lang in LANGUAGES}
        state = CatchUp(round(time.monotonic() - at, 1), want, found)
        done = not any(state.missing().values()) or any(state.duplicated().values())
        if done or time.monotonic() - at > timeout:
            return state
        await asyncio.sleep(0.5)  # poll interval while the pipeline catches up


async def unowned_after_recovery(bootstrap: str) -> dict[str, dict[str, list[int]]]:
    """Partitions of any service's groups that no consumer holds, once they settle (60 s at
    most): a consumer that never rejoined its group after the faults shows here."""
    groups = {
        group: topics
        for service in asyncapi.SERVICES
        for group, topics in subscribed_groups(asyncapi.broker(service)).items()
    }
    watch = GroupWatch(bootstrap, lambda: groups, stall_seconds=0)
    deadline = time.monotonic() + 60
    try:
        while True:
            unowned = await watch.check()
            if not unowned or time.monotonic() > deadline:
                return unowned
            await asyncio.sleep(1)  # poll interval while a group settles
    finally:
        await watch.close()


def append_line(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line + "\n")
