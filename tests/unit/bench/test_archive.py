"""The archive benchmark's own parts, without the system: the archive it writes is what the
import command takes, the offsets say when the feeds are done, the archives are walked and
counted right, and the report says what was measured."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiokafka import TopicPartition

from bench.archive import (
    DB_COMMANDS,
    DB_WRITES,
    Result,
    archive_ids,
    check_feeds,
    entry_ids,
    expected_feeds,
    judge,
    parse_commands,
    report,
    write_archive,
)
from services.ingest.settings import IngestSettings
from shared.contracts import Topics
from tools.import_archive import judge as import_judge
from tools.import_archive import records

FEEDS = "http://feeds.test"


def atom(ids: list[str], prev: str | None = None, deleted: tuple[str, ...] = ()) -> bytes:
    """An Atom document as the feeds service writes one: the feed's own id, its links (RFC
    5005 ``prev-archive`` when older entries exist), entries, RFC 6721 tombstones."""
    link = f'<link rel="prev-archive" href="{prev}"/>' if prev else ""
    entries = "".join(f"<entry><id>{i}</id><title>t</title></entry>" for i in ids)
    tombs = "".join(f'<at:deleted-entry ref="{d}" when="2026-01-01T00:00:00Z"/>' for d in deleted)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:at="http://purl.org/atompub/tombstones/1.0">'
        f'<id>urn:uuid:feed</id><link rel="self" href="{FEEDS}/x.atom"/>{link}'
        f"{entries}{tombs}</feed>"
    ).encode()


def test_entry_ids_are_the_entries_and_the_link_is_the_previous_archive() -> None:
    ids, prev = entry_ids(atom(["a", "b"], prev=f"{FEEDS}/x/archive/3.atom", deleted=("c",)))
    assert ids == ["a", "b"]  # not the feed's own id, not the withdrawn entry
    assert prev == f"{FEEDS}/x/archive/3.atom"
    assert entry_ids(atom(["a"]))[1] is None


async def test_every_feed_is_read_through_its_archives_and_counted() -> None:
    pages = {
        "/feeds/p/en.atom": atom(["e5", "e4", "e4"], prev=f"{FEEDS}/feeds/p/en/archive/1.atom"),
        "/feeds/p/en/archive/1.atom": atom(["e3", "e2"], prev=f"{FEEDS}/feeds/p/en/archive/0"),
        "/feeds/p/en/archive/0": atom(["e2", "e1"]),
        "/partners/q/en.atom": atom(["e1"]),
    }
    seen_auth: list[str | None] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers.get("authorization"))
        return httpx.Response(200, content=pages[request.url.path])

    expected = {
        "/feeds/p/en.atom": {"e1", "e2", "e3", "e4", "e5"},
        "/partners/q/en.atom": {"e1", "e9"},
    }
    check = await check_feeds(FEEDS, "tok", expected, transport=httpx.MockTransport(serve))
    assert (check.feeds, check.documents) == (2, 4)
    assert check.missing == 1 and check.lacking == ["/partners/q/en.atom"]
    assert check.duplicated == 1  # e4 twice in the subscription document
    assert check.in_two_documents == 1  # e2 in two archive pages
    assert set(seen_auth) == {"Bearer tok"}  # the partner's feed is private
    assert check.read_at > 0


def test_the_archive_is_what_the_import_command_sends(tmp_path: Path) -> None:
    files = write_archive(tmp_path, 6, "t1", ["e2e0", "e2e1"])
    ids = archive_ids(files)
    assert {p: len(v) for p, v in ids.items()} == {"e2e0": 3, "e2e1": 3}
    limit = IngestSettings().max_submission_bytes
    for publisher, path in files.items():
        keys = [import_judge(r, publisher, limit).key.decode() for r in records(path)]
        assert keys == ids[publisher]  # keyed by the article id ingest gives it
    feeds = expected_feeds(ids)
    assert len(feeds) == 2 * 4 + 3 + 1  # publishers' 4 languages, network's 3, partner's en
    assert sum(len(v) for v in feeds.values()) == 6 * 8
    assert len(feeds["/partners/e2epartner/en.atom"]) == 6


def offsets(**by_partition: int) -> dict[TopicPartition, int]:
    """``ingested0=5`` -> {articles.ingested[0]: 5}."""
    topics = {"submitted": Topics.SUBMITTED, "ingested": Topics.INGESTED}
    topics["translated"] = Topics.TRANSLATED
    return {TopicPartition(topics[k[:-1]], int(k[-1])): v for k, v in by_partition.items()}


def test_the_feeds_are_done_when_their_groups_committed_everything() -> None:
    marks = offsets(submitted0=0, ingested0=10, ingested1=0, translated0=30, translated1=0)
    ends = offsets(submitted0=4, ingested0=12, ingested1=2, translated0=36, translated1=6)
    ingest = offsets(submitted0=4)
    behind = {
        "ingest": ingest,
        "feeds": offsets(ingested0=12, ingested1=2),
        "feeds-translations": offsets(translated0=36, translated1=5),
    }
    snap = judge(marks, ends, behind)
    assert snap.new == {Topics.SUBMITTED: 4, Topics.INGESTED: 4, Topics.TRANSLATED: 12}
    assert snap.handled["feeds"] == {Topics.INGESTED: 4, Topics.TRANSLATED: 11}
    assert not snap.feeds_caught_up
    # A partition the group never committed on counts from the mark: new records there wait.
    unowned = {**behind, "feeds-translations": offsets(translated0=36)}
    assert not judge(marks, ends, unowned).feeds_caught_up
    done = {**behind, "feeds-translations": offsets(translated0=36, translated1=6)}
    assert judge(marks, ends, done).feeds_caught_up
    assert not judge(marks, ends, {"ingest": ingest}).feeds_caught_up  # no feeds group yet
    # A group that has committed nothing yet (its first batch in hand) is not done.
    assert not judge(marks, ends, {**done, "feeds-translations": {}}).feeds_caught_up


def test_commands_are_read_from_the_exposition() -> None:
    text = (
        f"# TYPE {DB_COMMANDS} counter\n"
        f'{DB_COMMANDS}{{service="feeds",command="find"}} 12.0\n'
        f'{DB_COMMANDS}{{service="feeds",command="update"}} 3.0\n'
        f'{DB_WRITES}{{service="feeds",command="update"}} 40.0\n'
        'syndication_messages_published_total{service="feeds",topic="x"} 7.0\n'
    )
    assert parse_commands(text) == {"find": 12.0, "update": 3.0, "written:update": 40.0}


def result(**changes: object) -> Result:
    figures: dict[str, object] = {
        "articles": 100,
        "publishers": 4,
        "command": "make bench-import",
        "date": "2026-12-07",
        "code": "commit abc",
        "setup": "x86_64, 2 CPUs",
        "seconds": 2.0,
        "window": 2.5,
        "stages": {"import": [0, 0.5], "ingest": [0.5, 1.0], "feeds": [None, 2.0]},
        "cpu": {"feeds": 1.0, "ingest": 0.5, "machine": 4.0},
        "commands": {
            "feeds": {"update": 1500.0, "find": 1000.0, "written:update": 4000.0},
            "ingest": {},
        },
        "missing": 0,
        "duplicated": 0,
        "in_two_documents": 0,
        "documents": 40,
        "timed_out": False,
    }
    return Result(**{**figures, **changes})  # type: ignore[arg-type]


def test_the_report_puts_a_baseline_beside_the_run(tmp_path: Path) -> None:
    before = result(articles=10, seconds=20.0, commands={}, timed_out=True, code="commit old")
    before.save(tmp_path / "before.json")
    text = report(result(), Result.load(tmp_path / "before.json"))
    assert "## Archive import: 100 articles at once, to every feed" in text
    assert "| | this run | baseline |" in text
    assert "Baseline: `make bench-import`, 2026-12-07, commit old" in text
    assert "| **50.0 articles/s** (2.0 s) | **0.5 articles/s** (20.0 s) — timed out" in text
    assert "| ingest: on `articles.ingested` | 1.0 s (100.0/s); 200.0/s from its first |" in text
    assert "| translate: on `articles.translated` (en, ar, ru) | n/a |" in text
    assert "| feeds: in every feed | 2.0 s (50.0/s) |" in text
    assert "| feeds | 10.0 ms (40 %) |" in text  # 1 s of CPU over 100 articles, 2.5 s
    assert "| others on the machine, not this benchmark's | 25.0 ms (100 %) |" in text
    assert "| feeds | 25.0 (update 15.0, find 10.0) | n/a (not counted) |" in text
    assert "| feeds | 40.0 (update 40.0) | n/a (not counted) |" in text  # documents written
    assert "| 0 / 0 / 0 (of 800, 40 documents read) |" in text
    assert "baseline" not in report(result())
