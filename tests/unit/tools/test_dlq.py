"""Dead-letter replay: which letters match, and what is sent back."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from shared.contracts import DeadLetter
from tools.dlq import Filter, original, replay_headers

WHEN = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "topic": "articles.submitted",
        "key": "k1",
        "payload": '{"publisher": "newcity"}',
        "headers": {"traceparent": "00-abc-def-01"},
        "error_class": "InvalidMessage",
        "reason": "unknown publisher 'newcity'",
        "service": "ingest",
        "failed_at": WHEN,
        **overrides,
    }
    return DeadLetter.model_validate(fields)


def test_filters_by_reason_text_error_class_and_time() -> None:
    assert Filter().matches(letter())
    assert Filter(reason="UNKNOWN PUBLISHER").matches(letter())
    assert not Filter(reason="too large").matches(letter())
    assert Filter(error_class="InvalidMessage").matches(letter())
    assert not Filter(error_class="TimeoutError").matches(letter())
    assert Filter(since=WHEN).matches(letter())
    assert not Filter(since=datetime(2026, 11, 23, tzinfo=UTC)).matches(letter())


def test_the_original_bytes_go_back_even_when_they_were_not_utf8() -> None:
    assert original(letter()) == b'{"publisher": "newcity"}'
    raw = b"\xff\xfe{}"
    binary = letter(payload=None, payload_base64=base64.b64encode(raw).decode())
    assert original(binary) == raw


def test_replayed_messages_keep_their_headers_and_say_where_they_came_from() -> None:
    headers = dict(replay_headers(letter(headers={"x-replayed-from": "old", "a": "b"}), 2, 17))
    assert headers == {"a": b"b", "x-replayed-from": b"articles.submitted.dlq/2/17"}
