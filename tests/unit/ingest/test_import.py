"""The archive import without a broker: reading sources, judging records, keys, the state file,
and resuming (a fake producer behind it)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tqdm import tqdm

from services.ingest.article import prepare
from shared.contracts import SUBMISSION
from shared.registry import Publisher
from tools.import_archive import (
    Importer,
    Progress,
    Record,
    SourceChanged,
    State,
    article_key,
    judge,
    main,
    parse,
    records,
    skip_done,
)

ARTICLE = {"headline": "خبر شهری", "body_text": "متن خبر.", "external_id": "A-1"}
NINJS = {"ninjs": {"uri": "urn:news:7", "headline": "خبر", "body_text": "متن", "language": "fa"}}


def jsonl(path: Path, *rows: Any) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def record(data: Any, name: str = "a.jsonl:1") -> Record:
    return Record(0, name, name, json.dumps(data).encode())


def test_jsonl_records_are_numbered_by_line_and_blank_lines_are_none(tmp_path: Path) -> None:
    src = jsonl(tmp_path / "a.jsonl", ARTICLE, "", "  ", NINJS)
    got = list(records(src))
    assert [(r.index, r.where, r.name) for r in got] == [
        (0, f"{src}:1", "a.jsonl:1"),
        (1, f"{src}:4", "a.jsonl:4"),
    ]


def test_a_folder_reads_json_and_pages_in_order_and_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(ARTICLE))
    (tmp_path / "a.html").write_text("<h1>خبر</h1><p>متن</p>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("خبر\n\nمتن")
    (tmp_path / ".import-state.json").write_text("{}")
    (tmp_path / "notes.md").write_text("not an article")
    got = list(records(tmp_path))
    assert [(r.name, r.page_field) for r in got] == [
        ("a.html", "raw_html"),
        ("b.json", None),
        ("sub/c.txt", "raw_text"),
    ]
    assert parse(got[0], "mashhad").model_dump()["raw_html"].startswith("<h1>")


def test_the_publisher_is_the_imports_and_another_is_refused() -> None:
    sub = parse(record(ARTICLE), "mashhad")
    assert sub.publisher == "mashhad"
    assert parse(record({**ARTICLE, "publisher": "Mashhad"}), "mashhad").publisher == "mashhad"
    with pytest.raises(ValueError, match="names publisher 'tehran'"):
        parse(record({**ARTICLE, "publisher": "tehran"}), "mashhad")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (json.dumps({"headline": "x"}).encode(), "needs a body or an image"),
        (json.dumps({**ARTICLE, "hedline": "x"}).encode(), "hedline"),
        (json.dumps({"ninjs": {"headline": "no uri"}}).encode(), "uri"),
    ],
)
def test_a_bad_record_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        judge(Record(0, "a.jsonl:1", "a.jsonl:1", raw), "mashhad", 1_000_000)


def test_a_record_over_ingests_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="ingest takes at most 100"):
        judge(record(ARTICLE), "mashhad", 100)


PAGE = (
    "<html><body><article><h1>بازدید شهردار از نمایشگاه فرهنگی</h1><p>شهردار مشهد امروز از "
    "نمایشگاه فرهنگی شهر بازدید کرد و با هنرمندان گفتگو کرد.</p><p>این نمایشگاه تا پایان هفته "
    "باز است و بازدید از آن رایگان است.</p></article></body></html>"
)
PUBLISHER = Publisher(id="mashhad", name="Mashhad", language="fa", timezone="Asia/Tehran")


@pytest.mark.parametrize(
    "data",
    [
        ARTICLE,
        NINJS,
        {"raw_html": PAGE, "external_id": "P-9"},
        {"withdraw": True, "external_id": "A-1"},
    ],
)
def test_a_record_naming_its_article_is_keyed_by_the_id_ingest_gives_it(data: Any) -> None:
    """As the HTTP API keys it: every version, imported or sent later, on one partition."""
    sub = SUBMISSION.validate_python({**data, "publisher": "mashhad"})
    if "withdraw" in data:
        expected = article_key(parse(record(ARTICLE), "mashhad"), "x")
    else:
        expected = prepare(sub, PUBLISHER, datetime.now(UTC)).article_id
    assert article_key(sub, "a.jsonl:3") == expected
    assert judge(record(data), "mashhad", 10**6).key == expected.encode()


def test_a_record_without_an_id_is_keyed_by_its_file_and_line() -> None:
    ready = judge(record({"headline": "خبر", "body_text": "متن"}, "a.jsonl:3"), "mashhad", 10**6)
    assert ready.key == b"mashhad:a.jsonl:3"
    assert json.loads(ready.value)["publisher"] == "mashhad"


def test_the_state_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    state.of(tmp_path / "a.jsonl").done = 3
    state.save()
    assert not (tmp_path / "s.json.tmp").exists()
    again = State.load(tmp_path / "s.json")
    assert again.of(tmp_path / "a.jsonl") == Progress(done=3)
    assert State.load(tmp_path / "missing.json").sources == {}


def test_resuming_skips_what_was_acknowledged_and_notices_a_changed_source(tmp_path: Path) -> None:
    src = jsonl(tmp_path / "a.jsonl", *({**ARTICLE, "external_id": f"A-{i}"} for i in range(5)))
    second = list(records(src))[1]
    rest = list(skip_done(src, Progress(done=2, last=second.digest)))
    assert [r.index for r in rest] == [2, 3, 4]
    with pytest.raises(SourceChanged):
        list(skip_done(src, Progress(done=2, last="other")))
    with pytest.raises(SourceChanged, match="fewer records"):
        list(skip_done(src, Progress(done=9, last="x")))


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, bytes]]] = []

    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        assert topic == "articles.submitted"
        self.sent.append((key, dict(headers)))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_an_import_sends_in_order_refuses_bad_lines_and_resumes(tmp_path: Path) -> None:
    rows = [{**ARTICLE, "external_id": f"A-{i}"} for i in range(6)]
    src = jsonl(tmp_path / "a.jsonl", rows[0], "{bad", *rows[1:])
    state = State(tmp_path / "s.json")
    refusals = io.StringIO()
    producer = FakeProducer()
    with tqdm(disable=True) as bar:
        importer = Importer(producer, state, "mashhad", refusals, bar, every=2)
        await importer.source(src)
    assert importer.counts.sent == 6 and importer.counts.refused == 1
    assert refusals.getvalue().startswith(f"{src}:2: not JSON")
    assert producer.sent[0][1] == {
        "x-editor-scopes": b"submit,correct,withdraw",
        "x-imported-from": f"{src}:1".encode(),
    }
    saved = State.load(tmp_path / "s.json").of(src)
    assert (saved.done, saved.refused) == (7, 1)
    with tqdm(disable=True) as bar:
        again = Importer(FakeProducer(), State.load(state.path), "mashhad", refusals, bar)
        await again.source(src)
    assert (again.counts.sent, again.counts.skipped) == (0, 7)


def test_the_command_refuses_a_source_that_is_neither_folder_nor_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    assert main([str(tmp_path / "a.csv"), "--publisher", "mashhad"]) == 2
