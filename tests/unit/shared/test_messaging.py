from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from services.translate.settings import TranslateSettings
from shared.messaging import (
    InvalidMessage,
    consumer_options,
    is_outage,
    is_permanent,
    strict_json_decoder,
)
from shared.settings import ServiceSettings


class Msg:
    def __init__(self, body: bytes) -> None:
        self.body = body


async def _never(_: Any) -> Any:
    raise AssertionError("the default decoder is not used")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty message"),
        (b"\xff{}", "not valid UTF-8 (byte 0xff at position 0)"),
        (b'{"a": }', "not valid JSON: Expecting value at line 1 column 7"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
async def test_undecodable_payloads_get_a_readable_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason.replace("(", r"\(").replace(")", r"\)")):
        await strict_json_decoder(Msg(body), _never)  # type: ignore[arg-type]


async def test_json_without_content_type_is_decoded() -> None:
    assert await strict_json_decoder(Msg('{"a": "ب"}'.encode()), _never) == {"a": "ب"}  # type: ignore[arg-type]


def test_outages_are_retried_and_bad_messages_are_not() -> None:
    assert is_outage(AutoReconnect("db restarting")) and not is_permanent(AutoReconnect("x"))
    assert is_permanent(InvalidMessage("bad")) and not is_outage(InvalidMessage("bad"))
    assert not is_outage(KeyError("bug")) and not is_permanent(KeyError("bug"))


def test_every_consumer_uses_the_services_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow engine needs a longer max.poll.interval: one setting per service, every group."""
    monkeypatch.setenv("TRANSLATE_MAX_POLL_INTERVAL_SECONDS", "900")
    settings = TranslateSettings()
    for role in (None, "human"):
        options = consumer_options("translate", settings, role)
        assert options["max_poll_interval_ms"] == 900_000
    assert consumer_options("feeds", ServiceSettings())["max_poll_interval_ms"] == 300_000


def test_a_list_of_bootstrap_servers_reaches_the_client_as_several_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cluster's comma-separated bootstrap list (make run CLUSTER=3, a production cluster's
    three brokers) was given to FastStream as one string, which it took for a single host
    called ``127.0.0.1:9092,127.0.0.1:9094,127.0.0.1`` and never reached."""
    from shared.messaging import make_broker

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092,k3:9092")
    broker, _ = make_broker("ingest", ServiceSettings())
    assert broker._connection_kwargs["bootstrap_servers"] == ["k1:9092", "k2:9092", "k3:9092"]


def test_a_publish_not_acknowledged_in_time_is_an_outage_not_a_bug() -> None:
    """A record aiokafka cannot queue within its request timeout (its buffer full while the
    cluster acknowledges nothing) ends in KafkaTimeoutError, which it marks not retriable:
    taken for a bug, a message waiting on the cluster went to the dead-letter topic after three
    such timeouts."""
    from aiokafka.errors import KafkaTimeoutError, ProducerClosed

    assert is_outage(KafkaTimeoutError()) and not is_permanent(KafkaTimeoutError())
    assert not is_outage(ProducerClosed())  # shutting down: not the cluster
