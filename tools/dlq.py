"""Inspect and replay dead letters: ``python -m tools.dlq list|replay TOPIC``.

Every message a service gave up on sits in ``<topic>.dlq`` whole, with the reason. Once the
cause is fixed (a publisher registered, an engine back, a bug deployed away), ``replay`` sends
the original messages back to their topic, with their key and headers plus ``x-replayed-from``
naming the letter. Replaying is safe to repeat: every consumer is idempotent (ingest de-dupes
by content, translate and feeds by version). ``replay`` remembers what it replayed in the
consumer group ``dlq-replay`` (offsets committed after each send), so running it again replays
only new letters unless ``--from-beginning``.

    python -m tools.dlq list articles.submitted [--reason TEXT] [--error CLASS] [--since ISO]
    python -m tools.dlq replay articles.submitted [filters] [--dry-run] [--from-beginning]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared.contracts import DeadLetter, Topics
from shared.settings import InfraSettings

GROUP = "dlq-replay"


@dataclass(frozen=True)
class Filter:
    reason: str | None = None
    error_class: str | None = None
    since: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if self.reason and self.reason.casefold() not in letter.reason.casefold():
            return False
        if self.error_class and letter.error_class != self.error_class:
            return False
        return not (self.since and letter.failed_at < self.since)


def original(letter: DeadLetter) -> bytes:
    """The message as it was first sent."""
    if letter.payload_base64 is not None:
        return base64.b64decode(letter.payload_base64)
    return (letter.payload or "").encode("utf-8")


def replay_headers(letter: DeadLetter, partition: int, offset: int) -> list[tuple[str, bytes]]:
    headers = [(k, v.encode()) for k, v in letter.headers.items() if k != "x-replayed-from"]
    dlq = Topics.dlq(letter.topic)
    return [*headers, ("x-replayed-from", f"{dlq}/{partition}/{offset}".encode())]


def describe(letter: DeadLetter, partition: int, offset: int) -> str:
    return (
        f"{partition}/{offset}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {letter.service}  "
        f"{letter.error_class}: {letter.reason[:160]}"
    )


async def run(
    infra: InfraSettings,
    topic: str,
    flt: Filter,
    *,
    replay: bool,
    dry_run: bool = False,
    from_beginning: bool = False,
    idle_ms: int = 2000,
) -> tuple[int, int]:
    """Read ``topic``'s dead letters to the end; print them, and replay the matching ones.
    Returns (letters read, letters replayed)."""
    dlq = Topics.dlq(topic)
    committing = replay and not dry_run
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        group_id=GROUP if committing else None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=10_485_760,
    )
    await consumer.start()
    await producer.start()
    read = replayed = 0
    try:
        try:
            partitions = await producer.partitions_for(dlq)  # waits for the metadata
        except KafkaError:
            partitions = set()
        if not partitions:
            print(f"dlq: no topic {dlq}", file=sys.stderr)
            return 0, 0
        assigned = [TopicPartition(dlq, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if from_beginning or not committing:
            await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if ends[tp] > await consumer.position(tp)}
        while remaining:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    read += 1
                    try:
                        letter = DeadLetter.model_validate_json(record.value or b"")
                    except ValidationError:
                        print(f"{tp.partition}/{record.offset}  unreadable letter, skipped")
                        continue
                    if not flt.matches(letter):
                        continue
                    print(describe(letter, tp.partition, record.offset))
                    if replay and not dry_run:
                        await producer.send_and_wait(
                            letter.topic,
                            original(letter),
                            key=letter.key.encode() if letter.key is not None else None,
                            headers=replay_headers(letter, tp.partition, record.offset),
                        )
                        replayed += 1
                    if committing:
                        await consumer.commit({tp: record.offset + 1})
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await producer.stop()
        await consumer.stop()
    return read, replayed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dlq", description=__doc__)
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("topic", help="the original topic, e.g. articles.submitted")
    parser.add_argument("--reason", help="only letters whose reason contains this text")
    parser.add_argument("--error", dest="error_class", help="only this error class")
    parser.add_argument("--since", type=datetime.fromisoformat, help="failed at or after (ISO)")
    parser.add_argument("--dry-run", action="store_true", help="show what replay would send")
    parser.add_argument("--from-beginning", action="store_true", help="also letters replayed")
    args = parser.parse_args(argv)
    if args.topic not in Topics.all():
        print(f"dlq: unknown topic {args.topic!r}; one of {', '.join(Topics.all())}")
        return 2
    if args.since is not None and args.since.tzinfo is None:
        print("dlq: --since needs a time zone, e.g. 2026-11-22T08:00:00+00:00")
        return 2
    flt = Filter(args.reason, args.error_class, args.since)
    read, replayed = asyncio.run(
        run(
            InfraSettings(),
            args.topic,
            flt,
            replay=args.action == "replay",
            dry_run=args.dry_run,
            from_beginning=args.from_beginning,
        )
    )
    summary = {"letters_read": read, "replayed": replayed}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
