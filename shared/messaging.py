"""Kafka plumbing every service shares: the broker, topic creation and the dead-letter policy.

FastStream has no dead-letter queue, and its ``nack()`` on Kafka seeks straight back, so a poison
message would loop forever and block its partition. :class:`DeadLetterPolicy` decides per error:

* the message is at fault (bad JSON, wrong schema, unknown publisher): straight to ``<topic>.dlq``
  with a reason a person can act on, then the offset is committed;
* the infrastructure is at fault (database or broker unreachable): retry with capped backoff for
  ``transient_retry_seconds``, then rewind (nack) and try again, so nothing is lost and nothing is
  sent to the DLQ just because MongoDB restarted;
* anything else (a bug): ``max_attempts`` tries, then the DLQ with the error, so one bad message
  never stalls the partition.

Offsets are committed only after a message was handled or dead-lettered (at-least-once); every
handler is idempotent, so a redelivery after a crash changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream._internal.context.repository import ContextRepo
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.middlewares import BaseMiddleware
from opentelemetry.trace import TracerProvider
from pydantic import BaseModel, ValidationError

from shared import tracing
from shared.contracts import SUBMISSION_FORMS, DeadLetter, Topics
from shared.groups import group_id
from shared.metrics import ServiceMetrics
from shared.observability import MessageContext, article_context, article_fields
from shared.settings import InfraSettings, ServiceSettings
from shared.storage import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


class InvalidMessage(Exception):
    """The message itself is wrong; retrying cannot help. ``str()`` is the reason for a person."""


class TransientError(Exception):
    """A dependency is unavailable; the same message may well succeed later."""


def is_outage(exc: BaseException) -> bool:
    # aiokafka's KafkaTimeoutError (a record not even queued within the request timeout: the
    # producer's buffer full while the cluster acknowledges nothing, fewer brokers up than
    # min.insync.replicas, say) is marked not retriable and is no builtin TimeoutError; it is
    # still the cluster's state, never the message's fault.
    if isinstance(exc, (TransientError, TimeoutError, KafkaTimeoutError, *TRANSIENT_DB_ERRORS)):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, InvalidMessage | ValidationError)


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """Pydantic's errors as one readable line: ``field: problem; field: problem``."""
    parts = []
    for err in errors:
        loc = tuple(err["loc"])
        if loc[:1] and loc[0] in SUBMISSION_FORMS:
            loc = loc[1:]  # the tag of the submission form: not something the editor wrote
        where = ".".join(str(p) for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        elif err["type"] in {"model_type", "dict_type", "model_attributes_type"}:
            msg = "must be a JSON object"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def describe_validation_error(exc: ValidationError) -> str:
    return describe_errors(exc.errors(include_url=False))


def describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return f"invalid message: {describe_validation_error(exc)}"
    return str(exc) or exc.__class__.__name__


def decode_json(body: bytes | str) -> Any:
    """A message or request body as UTF-8 JSON (or text already decoded), with failures an
    editor can act on."""
    if not body:
        raise InvalidMessage("empty message: expected a JSON object")
    try:
        text = body if isinstance(body, str) else body.decode("utf-8")
    except UnicodeDecodeError as exc:
        assert isinstance(body, bytes)
        raise InvalidMessage(
            f"payload is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start})"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(
            f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidMessage("payload is not valid JSON: nested too deeply") from None


async def strict_json_decoder(
    msg: StreamMessage[Any], original: Callable[[StreamMessage[Any]], Awaitable[Any]]
) -> Any:
    """Decode every payload as UTF-8 JSON, whatever the content type, with readable failures.

    FastStream's default hands undecodable bytes on as bytes, which then fail validation with a
    confusing message; producers we did not write (kcat, a CMS) often set no content type.
    """
    return decode_json(msg.body)


Record: TypeAlias = ConsumerRecord[bytes, bytes]
EventT = TypeVar("EventT", bound=BaseModel)


def decode_batch(
    records: Iterable[Record], model: type[EventT]
) -> tuple[list[EventT], list[tuple[Record, Exception]]]:
    """The events of a batch, and the records that are not one, each with the reason (for
    the dead-letter topic: a bad record is set aside alone, the rest go on)."""
    events: list[EventT] = []
    bad: list[tuple[Record, Exception]] = []
    for record in records:
        try:
            events.append(model.model_validate(decode_json(record.value or b"")))
        except ValidationError as exc:
            bad.append(
                (record, InvalidMessage(f"invalid message: {describe_validation_error(exc)}"))
            )
        except InvalidMessage as exc:
            bad.append((record, exc))
    return events, bad


def _utf8_headers(record: Any) -> Any:
    """The record with header values any parser can decode; the rest of it untouched."""
    headers = list(record.headers or ())
    fixed = [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in headers]
    return record if fixed == headers else dataclasses.replace(record, headers=fixed)


async def lenient_header_parser(
    msg: Any, original: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream decodes Kafka header values as strict UTF-8 before any handler runs, so one
    record with a binary header (a tracing system, a foreign producer) would fail its whole batch.
    Header values that are not UTF-8 are read with replacement characters instead."""
    if isinstance(msg, tuple | list):  # a batch (a list under FastStream's TestKafkaBroker)
        return await original(tuple(_utf8_headers(r) for r in msg))
    return await original(_utf8_headers(msg))


async def raw_decoder(
    msg: StreamMessage[Any], original: Callable[[StreamMessage[Any]], Awaitable[Any]]
) -> Any:
    """For batch consumers that decode (and dead-letter) each record themselves."""
    return msg.body


class DeadLetterPolicy:
    """Broker middleware factory; see the module docstring for the policy."""

    def __init__(self, service: str, settings: ServiceSettings) -> None:
        self.service = service
        self.max_attempts = settings.max_attempts
        self.transient_retry_seconds = settings.transient_retry_seconds
        self.broker: KafkaBroker | None = None
        self.metrics: ServiceMetrics | None = None  # set by make_broker() when it has one
        self.dead_lettered = 0

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _DeadLetterMiddleware:
        return _DeadLetterMiddleware(msg, context=context, policy=self)

    async def send_each(self, bad: Iterable[tuple[Any, BaseException]]) -> None:
        """Dead-letter the records a batch consumer set aside (``decode_batch``), each with its
        reason: never processed, so one attempt each."""
        for record, exc in bad:
            await self.send(record, exc, 1)

    async def send(self, record: Any, exc: BaseException, attempts: int) -> None:
        """Dead-letter one record (or each record of a batch) with the reason."""
        assert self.broker is not None, "DeadLetterPolicy.broker is set by make_broker()"
        if isinstance(record, tuple):
            for one in record:
                await self.send(one, exc, attempts)
            return
        value: bytes = record.value or b""
        try:
            payload, payload_b64 = value.decode("utf-8"), None
        except UnicodeDecodeError:
            payload, payload_b64 = None, base64.b64encode(value).decode()
        reason = describe(exc)
        if not is_permanent(exc):
            reason = f"gave up after {attempts} attempts: {exc.__class__.__name__}: {reason}"
        key = record.key.decode("utf-8", "replace") if record.key else None
        letter = DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            payload=payload,
            payload_base64=payload_b64,
            headers={k: v.decode("utf-8", "replace") for k, v in (record.headers or ())},
            error_class=exc.__class__.__name__,
            reason=reason,
            service=self.service,
            attempts=attempts,
        )
        # The article, where the payload names it (it is logged with the reason), and the trace
        # of the record: the dead letter joins it.
        try:
            about = article_fields(json.loads(payload)) if payload is not None else {}
        except (ValueError, RecursionError):
            about = {}
        with article_context(**about), tracing.record_trace(record):
            await self.broker.publish(letter, topic=Topics.dlq(record.topic), key=record.key)
            self.dead_lettered += 1
            if self.metrics is not None:
                self.metrics.record_dead_letter(record)
            log.warning(
                "dead-lettered",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "reason": reason,
                },
            )


class _DeadLetterMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, policy: DeadLetterPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy
        self.attempts = 0

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = 0.1
        while True:
            self.attempts += 1
            try:
                return await call_next(msg)
            except Exception as exc:
                if is_permanent(exc):
                    raise
                if is_outage(exc):
                    if loop.time() - started > self.policy.transient_retry_seconds:
                        raise
                elif self.attempts >= self.policy.max_attempts:
                    raise
                log.warning(
                    "retrying after error",
                    extra={"attempt": self.attempts, "error": repr(exc), "delay_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        if exc_val is None or not isinstance(exc_val, Exception):
            return False  # success, or cancellation at shutdown: leave the offset uncommitted
        if is_outage(exc_val):
            log.error("dependency unavailable; message will be retried", exc_info=exc_val)
            return False  # nack: rewind and retry, never dead-letter an outage
        if not is_permanent(exc_val):
            log.error("unexpected error", exc_info=exc_val)
        await self.policy.send(self.msg, exc_val, max(self.attempts, 1))
        return True  # handled: the offset is committed and the partition moves on


def make_broker(
    service: str,
    settings: ServiceSettings,
    *,
    metrics: ServiceMetrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> tuple[KafkaBroker, DeadLetterPolicy]:
    """A broker with an idempotent producer, manual commits and the dead-letter policy; with
    ``metrics`` and ``tracer_provider``, counted (:mod:`shared.metrics`) and traced
    (:mod:`shared.tracing`). Outermost first: tracing, metrics, message context, the policy
    (so the metrics see what the policy made of a failure)."""
    infra = settings.infra
    policy = DeadLetterPolicy(service, settings)
    policy.metrics = metrics
    middlewares: list[Any] = []
    if tracer_provider is not None:
        middlewares.append(tracing.telemetry_middleware(tracer_provider))
    if metrics is not None:
        middlewares.append(metrics)
    middlewares += [MessageContext, policy]
    broker = KafkaBroker(
        infra.kafka_servers,
        client_id=service,
        acks="all",
        enable_idempotence=True,
        max_request_size=infra.kafka_max_message_bytes,
        max_batch_size=infra.kafka_producer_batch_bytes,
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=lenient_header_parser,
        decoder=strict_json_decoder,
        middlewares=middlewares,
        graceful_timeout=30.0,
        logger=logging.getLogger(f"{service}.kafka"),
    )
    policy.broker = broker
    return broker, policy


def consumer_options(
    service: str, settings: ServiceSettings, role: str | None = None
) -> dict[str, Any]:
    """Subscriber options; each subscriber of a service has a consumer group of its own
    (``role`` names all but the main one: :func:`shared.groups.group_id`)."""
    return {
        "group_id": group_id(service, role),
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": settings.infra.kafka_max_message_bytes,
        "fetch_max_bytes": settings.infra.kafka_max_message_bytes * 2,
        "max_poll_interval_ms": round(settings.max_poll_interval_seconds * 1000),
    }


def batch_consumer_options(
    service: str,
    settings: ServiceSettings,
    max_records: int,
    wait_ms: int,
    role: str | None = None,
) -> dict[str, Any]:
    """Options of a batch subscriber that decodes its records itself (``decode_batch``, the
    raw records in ``message.raw_message``): :func:`consumer_options` plus the batch's size
    and how long it may fill."""
    return {
        "batch": True,
        "max_records": max_records,
        "batch_timeout_ms": wait_ms,
        "decoder": raw_decoder,
        **consumer_options(service, settings, role),
    }


async def ensure_topics(infra: InfraSettings, topics: tuple[str, ...] = Topics.all()) -> None:
    """Create the topics if missing (idempotent; safe from several replicas at once)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                t,
                num_partitions=infra.topic_partitions,
                replication_factor=infra.topic_replication_factor,
            )
            for t in missing
        ]
        response = await admin.create_topics(new)
        for topic, code, *_ in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise KafkaError(f"cannot create topic {topic!r}: error code {code}")
        log.info("topics created", extra={"topics": missing, "partitions": infra.topic_partitions})
    finally:
        await admin.close()
