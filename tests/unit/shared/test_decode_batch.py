"""What the batch consumers (the feeds', ingest's translation statuses) make of a batch from a
Kafka client we did not write: every record that is not an event is set aside alone, with a
reason for the dead-letter topic, and the rest of the batch goes on (shared/messaging.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from shared.contracts import DateSource, IngestedArticle
from shared.messaging import InvalidMessage, decode_batch

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "articles.ingested", 0, offset, 0, 0, b"k", value, None, 0, len(value), []
    )


def article() -> bytes:
    event = IngestedArticle(
        article_id="mashhad-1",
        version=1,
        publisher="mashhad",
        language="fa",
        headline="خبر",
        body_html="<p>متن</p>",
        body_text="متن",
        published=NOW,
        published_source=DateSource.EDITOR,
        content_hash="h",
        ingested_at=NOW,
    )
    return event.model_dump_json().encode()


def test_bad_records_are_set_aside_one_by_one_with_their_reason() -> None:
    records = [
        record(b"{not json", 0),
        record(article(), 1),
        record(json.dumps({"article_id": "x"}).encode(), 2),
        record(b"", 3),
    ]
    events, bad = decode_batch(records, IngestedArticle)
    assert [e.article_id for e in events] == ["mashhad-1"]
    assert [r.offset for r, _ in bad] == [0, 2, 3]
    assert all(isinstance(reason, InvalidMessage) for _, reason in bad)
    reasons = [str(reason) for _, reason in bad]
    assert "JSON" in reasons[0] and "invalid message" in reasons[1] and "empty" in reasons[2]
