"""The scaling benchmark's feeds stage, without the system: the events are the feeds' real
input, an article's events land on one partition of each topic, the offsets say when the feeds
are done, and the report says what was measured."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bench.archive import Snapshot
from bench.e2e import MACHINE, SUBJECT, feeds_events
from bench.scaling import (
    FEEDS_GOAL,
    FeedsRound,
    Round,
    feeds_done,
    feeds_records,
    feeds_report,
    median_rates,
    send_spread,
    stages,
)
from shared.contracts import IngestedArticle, Topics, TranslatedArticle
from shared.messaging import decode_batch as decode


class Record:
    """What ``services.feeds.consumer.decode`` reads of a Kafka record."""

    def __init__(self, value: bytes) -> None:
        self.value = value


def test_an_article_is_its_source_event_and_three_translations_the_feeds_accept() -> None:
    records = feeds_records(3, "run")
    consumed: dict[str, Any] = {t: [Record(v) for _, v in rs] for t, rs in records.items()}
    ingested, bad = decode(consumed[Topics.INGESTED], IngestedArticle)
    assert not bad and len(ingested) == 3
    translated, bad = decode(consumed[Topics.TRANSLATED], TranslatedArticle)
    assert not bad and len(translated) == 9
    assert [t.language for t in translated[:3]] == ["en", "ar", "ru"]  # article by article
    assert {t.article_id for t in translated[:3]} == {ingested[0].article_id}
    assert len({a.article_id for a in ingested}) == 3
    # keyed by article, as ingest and translate send them
    assert [k.decode() for k, _ in records[Topics.INGESTED]] == [a.article_id for a in ingested]
    # the partner follows the network on this subject: each article reaches its feed too
    assert all(SUBJECT in t.subjects for t in translated)
    assert not any(t.provenance.held for t in translated)  # held ones never reach a feed


def test_the_translations_are_the_size_of_the_original() -> None:
    doc = {
        "publisher": "e2e0",
        "external_id": "x-1",
        "headline": "تیتر",
        "body_text": "بند یک\n\nبند دو",
        "subjects": [SUBJECT],
    }
    original, *translations = feeds_events(doc)
    assert isinstance(original, IngestedArticle) and original.language == "fa"
    for t in translations:
        assert t.body_html.count("<p>") == original.body_html.count("<p>") == 2


class FakeProducer:
    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))
        self.sent: list[tuple[str, bytes, int]] = []
        self.flushed = False

    async def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    async def send(self, topic: str, value: bytes, key: bytes, partition: int) -> None:
        self.sent.append((topic, key, partition))

    async def flush(self) -> None:
        self.flushed = True


async def test_each_article_is_on_one_partition_of_each_topic_round_robin() -> None:
    records = feeds_records(8, "run")
    producer: Any = FakeProducer(3)
    await send_spread(producer, Topics.INGESTED, records[Topics.INGESTED])
    await send_spread(producer, Topics.TRANSLATED, records[Topics.TRANSLATED], 3)
    where: dict[bytes, set[tuple[str, int]]] = {}
    for topic, key, partition in producer.sent:
        where.setdefault(key, set()).add((topic, partition))
    assert producer.flushed and len(where) == 8
    partitions = []
    for places in where.values():
        (ingested,) = {p for t, p in places if t == Topics.INGESTED}
        (translated,) = {p for t, p in places if t == Topics.TRANSLATED}
        assert ingested == translated
        partitions.append(ingested)
    assert partitions == [0, 1, 2, 0, 1, 2, 0, 1]  # the same share for every replica


def snapshot(ingested: int, translated: int, caught_up: bool) -> Snapshot:
    new = {Topics.INGESTED: ingested, Topics.TRANSLATED: translated}
    return Snapshot(new, {}, caught_up)


def test_the_feeds_are_done_once_every_event_is_out_and_committed() -> None:
    assert feeds_done(snapshot(10, 30, True), 10)
    assert not feeds_done(snapshot(10, 30, False), 10)  # the groups are behind
    assert not feeds_done(snapshot(10, 29, True), 10)  # a translation not sent yet
    assert not feeds_done(snapshot(9, 30, True), 10)


def test_median_rates_per_replica_count() -> None:
    rates = [(1, 100.0), (2, 150.0), (1, 90.0), (2, 210.0), (1, 120.0)]
    assert median_rates(rates, 1, 2) == (100.0, 180.0)


def feeds_round(
    replicas: int, seconds: float, stored: int = 48, round_: int = 1, handled: int = 2400
) -> FeedsRound:
    cpu = {f"feeds-{i}": 0.5 * seconds for i in range(replicas)}
    cpu |= {"ferretdb": 0.9 * seconds, "kafka": 0.1 * seconds, MACHINE: 1.8 * seconds}
    return FeedsRound(
        replicas=replicas,
        n=600,
        seconds=seconds,
        cpu=cpu,
        partitions=6,
        stored={"feed_entries": (stored // 2, 24), "feed_log": (stored, 48)},
        commands={
            "find": 0.7,
            "update": 0.5,
            "insert": 0.1,
            "getMore": 0.0,
            "written:insert": 12.0,
            "written:update": 5.0,
        },
        handled=handled,
        round=round_,
    )


def args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"feeds_replicas": [1, 2], "feeds_articles": 600}
    return argparse.Namespace(**(values | overrides))


def test_the_report_gives_each_round_the_speed_up_and_the_goal() -> None:
    rounds = [feeds_round(1, 6.0), feeds_round(2, 4.0), feeds_round(2, 4.0, round_=2)]
    text = feeds_report(rounds, args(), "FerretDB x", "make bench-scaling")
    assert text.startswith("## Feeds scaling: 1 and 2 replicas")
    assert "`make bench-scaling`" in text
    row = (
        "| 1 | 1 | 100.0 (6.0 s) | 24 (24), 48 (48) | 1.3 (find 0.7, update 0.5, insert 0.1); "
        "17.0 (insert 12.0, update 5.0) | 0.50 (0.50), 0.90, 0.10, 1.80 (0.30) |"
    )
    assert row in text
    assert "| 2 | 2 | 150.0 (4.0 s) | 24 (24), 48 (48) | 1.3 (find" in text
    assert "| 1.00 (0.50, 0.50), 0.90, 0.10, 1.80 (0.00) |" in text  # 2 replicas: 2.0 ours
    assert "100.0 → 150.0 articles/s): **1.50×**" in text
    assert f"at least {FEEDS_GOAL:g}×" in text
    assert "fewer or more" not in text


def test_the_report_compares_feeds_with_the_fastest_translate_round() -> None:
    translate = [
        Round("bench-wait", 3, 120, 20.0, {}, 6),  # 6 articles/s
        Round("bench-cpu", 3, 120, 10.0, {}, 6),  # 12 articles/s
    ]
    rounds = [feeds_round(1, 5.0), feeds_round(2, 4.0)]
    text = feeds_report(rounds, args(), "FerretDB x", "cmd", translate)
    assert "10× the articles per second of the fastest translate round above" in text
    assert "(12.0 articles/s, `bench-cpu`, 3 replicas)" in text


def test_the_report_says_when_a_round_stored_the_wrong_count() -> None:
    rounds = [feeds_round(1, 5.0, stored=46), feeds_round(2, 4.0)]
    assert not rounds[0].complete and rounds[1].complete
    assert "fewer or more documents than expected" in feeds_report(rounds, args(), "db", "cmd")


def test_a_round_that_timed_out_says_how_far_it_got_and_gives_no_speed_up() -> None:
    rounds = [feeds_round(1, 5.0), feeds_round(2, 300.0, handled=1800)]
    assert rounds[1].timed_out and not rounds[1].complete
    text = feeds_report(rounds, args(feeds_timeout=300.0), "db", "cmd", [])
    assert "| 2 | 1 | timed out after 300 s, 1,800 of 2,400 records committed |" in text
    assert "Speed-up not measured: every round with 2 replica(s) timed out" in text
    assert "**" in text.split("Speed-up not measured")[1]  # the warning under the table


def test_stages_are_checked() -> None:
    assert stages("feeds") == ["feeds"]
    assert stages("translate,feeds") == ["translate", "feeds"]
    with pytest.raises(argparse.ArgumentTypeError):
        stages("translate,render")
