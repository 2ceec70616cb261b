"""The feeds' store in batches, on the real FerretDB the suite started: what a batch of
changes leaves in the entries and the feed logs, also when a redelivery, a stale counter or a
concurrent writer comes in between (services/feeds/store.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.feeds.entries import FeedEntry
from services.feeds.store import STATEMENTS_PER_COMMAND, FeedStore
from shared.contracts import ArticleStatus
from tests.conftest import Infra

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def entry(article: str, language: str = "fa", version: int = 1, **changes: Any) -> FeedEntry:
    made = FeedEntry(
        article_id=article,
        language=language,
        version=version,
        status=ArticleStatus.ACTIVE,
        publisher="mashhad",
        headline=f"{article} v{version} ({language})",
        body_html="<p>متن</p>",
        published=T0,
        updated=T0 + timedelta(minutes=version),
        source_language="fa",
    )
    return replace(made, **changes)


@pytest.fixture
async def store(infra: Infra) -> AsyncIterator[FeedStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.mongodb_uri, tz_aware=True, tzinfo=UTC
    )
    name = f"test_feed_store_{uuid.uuid4().hex[:8]}"
    try:
        yield FeedStore(client[name], page_size=3)
    finally:
        await client.drop_database(name)
        await client.close()


async def log_of(store: FeedStore, feed: str) -> list[tuple[int, str, int]]:
    docs = [d async for d in store.log.find({"_id": {"$regex": f"^{feed}#"}})]
    return sorted((d["seq"], d["article_id"], d["version"]) for d in docs)


async def test_a_batch_stores_the_latest_version_of_each_entry_once(store: FeedStore) -> None:
    puts = await store.put_entries([entry("a", version=2), entry("b"), entry("a", version=1)])
    assert [(p.stored.entry.article_id, p.stored.entry.version) for p in puts if p.stored] == [
        ("a", 2),
        ("b", 1),
    ]
    assert all(p.changed for p in puts)
    again = await store.put_entries([entry("a", version=1), entry("b")])  # redelivered, older
    assert [p.changed for p in again] == [False, False]
    assert [p.stored.entry.version for p in again if p.stored] == [2, 1]
    assert await store.languages(["a", "b"]) == {"a": {"fa": "active"}, "b": {"fa": "active"}}


async def test_a_withdrawal_and_a_translation_update_the_articles_languages(
    store: FeedStore,
) -> None:
    await store.put_entries([entry("a"), entry("a", "en", source_language="fa")])
    puts = await store.put_entries(
        [entry("a", version=2, status=ArticleStatus.WITHDRAWN), entry("a", "ar")]
    )
    assert [dict(p.languages_before) for p in puts] == [{"fa": "active", "en": "active"}] * 2
    assert await store.languages(["a"]) == {
        "a": {"fa": "withdrawn", "en": "active", "ar": "active"}
    }


async def test_a_version_stored_meanwhile_by_another_replica_is_kept(store: FeedStore) -> None:
    await store.put_entries([entry("a")])
    newer = entry("a", version=3)
    await store.entries.update_one(
        {"_id": newer.key}, {"$set": {"version": 3, "headline": newer.headline}}
    )
    # This replica read version 1 before; its version 2 must not overwrite version 3.
    (put,) = await store.put_entries([entry("a", version=2)])
    assert put.stored is not None and put.stored.entry.version == 3
    assert not put.changed


async def test_appending_a_batch_twice_appends_each_entry_once_per_feed(
    store: FeedStore,
) -> None:
    puts = await store.put_entries([entry(f"a{i}") for i in range(5)])
    placements = [
        (p.stored, ["publisher/mashhad/fa", "network/metro/fa"]) for p in puts if p.stored
    ]
    appended = await store.add_to_feeds(placements)
    assert appended == [["publisher/mashhad/fa", "network/metro/fa"]] * 5
    # Redelivered after the notes were written: nothing new in the logs.
    stored = [p.stored for p in await store.put_entries([entry(f"a{i}") for i in range(5)])]
    assert (
        await store.add_to_feeds([(s, ["publisher/mashhad/fa"]) for s in stored if s]) == [[]] * 5
    )
    log = await log_of(store, "publisher/mashhad/fa")
    assert [seq for seq, _, _ in log] == [1, 2, 3, 4, 5]
    assert [article for _, article, _ in log] == [f"a{i}" for i in range(5)]
    assert await store.head("publisher/mashhad/fa") == 5
    (note,) = [s for s in stored if s and s.entry.article_id == "a4"]
    assert note.pages_in("publisher/mashhad/fa") == (1,)  # seq 5, pages of 3


async def test_a_stale_counter_or_a_concurrent_append_leaves_no_gap_and_no_overwrite(
    store: FeedStore,
) -> None:
    feed = "publisher/mashhad/fa"
    await store.append_many(feed, [{"article_id": "x", "version": 1}], hint=0)
    # Another replica took 2 and 3 and crashed before noting them in feed_state.
    for seq in (2, 3):
        await store.log.insert_one({"_id": f"{feed}#{seq}", "seq": seq, "article_id": "other"})
    seqs = await store.append_many(
        feed, [{"article_id": "y", "version": 1}, {"article_id": "z", "version": 1}], hint=1
    )
    assert seqs == [4, 5]
    docs = {d["seq"]: d["article_id"] async for d in store.log.find({})}
    assert docs == {1: "x", 2: "other", 3: "other", 4: "y", 5: "z"}
    assert await store.head(feed) == 5


async def test_a_batch_larger_than_one_command_is_written_whole(store: FeedStore) -> None:
    """More entries than one update command takes (FerretDB would wait forever for a
    connection with a hundred statements in one command) and more ids than one read."""
    many = 3 * STATEMENTS_PER_COMMAND + 1
    await store.put_entries([entry(f"m{i}") for i in range(many)])
    puts = await store.put_entries([entry(f"m{i}", version=2) for i in range(many)])
    assert all(p.changed for p in puts)
    statuses = await store.statuses(f"m{i}:fa" for i in range(many))
    assert len(statuses) == many
    versions = {d["_id"]: d["version"] async for d in store.entries.find({})}
    assert set(versions.values()) == {2}


async def test_a_counter_far_behind_costs_a_few_reads_not_an_insert_per_number(
    store: FeedStore,
) -> None:
    """Two replicas append to the same network feeds: one's counter may be hundreds of items
    behind. It finds the first free number by reading single ids (doubling, then halving),
    instead of trying its whole batch at each number taken: before, a batch then took longer
    than Kafka's poll limit and the replica lost its partitions, round after round."""
    feed = "network/metropolis/en"
    await store.log.insert_many(
        [{"_id": f"{feed}#{seq}", "seq": seq, "article_id": "other"} for seq in range(1, 601)]
    )
    inserts = 0
    insert_many = store.log.insert_many

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal inserts
        inserts += 1
        return await insert_many(*args, **kwargs)

    store.log.insert_many = counted  # type: ignore[method-assign]
    items = [{"article_id": f"n{i}", "version": 1} for i in range(20)]
    seqs = await store.append_many(feed, items, hint=0)
    assert seqs == list(range(601, 621))
    assert inserts == 1
    assert await store.head(feed) == 620


async def test_entries_written_meanwhile_by_another_consumer_are_found_in_one_read(
    store: FeedStore,
) -> None:
    """The source event's consumer and the translations' insert the same articles' notes at
    once: every article already there is updated instead, none is inserted twice."""
    await store.put_entries([entry(f"c{i}") for i in range(0, 40, 2)])  # every other one
    puts = await store.put_entries([entry(f"c{i}", language="en") for i in range(40)])
    assert all(p.changed for p in puts)
    languages = await store.languages(f"c{i}" for i in range(40))
    assert all(
        set(langs) == ({"fa", "en"} if i % 2 == 0 else {"en"})
        for i, langs in ((int(aid[1:]), v) for aid, v in languages.items())
    )
    assert len(languages) == 40
