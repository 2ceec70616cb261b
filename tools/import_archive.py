"""Import a city's archive straight into ``articles.submitted``: ``python -m tools.import_archive``.

    python -m tools.import_archive archive.jsonl old-site/ --publisher mashhad

An operator tool, not an editor's: it needs network access to the brokers (Kafka ACLs guard that
path in production, docs/security.md) and no editor key; every record is written as
``--publisher`` and a record naming another publisher is refused. It lives in ``tools/`` beside
``tools.dlq`` for that reason; ``services.ingest.cli submit`` is the editor's way, through the
HTTP API, one request per file.

A SOURCE is a folder (``.json`` files in any input form, ``.html``/``.htm``/``.txt`` files as
raw pages, as ``cli submit`` reads them) or a ``.jsonl`` file (one submission per line, any
form). Each record is checked locally against the contracts (and a ninjs document mapped) so a
bad one is reported with its file:line and reason, written to the refusals file, and skipped;
the rest are produced with an idempotent, batching producer (acks=all). What depends on the
registry (the headline's script, a date against the receipt time) ingest judges: its refusals go
to ``articles.submitted.dlq``, each with the ``x-imported-from`` file:line.

Keys: a record with an external id (a ninjs ``uri``) or an article id is keyed by the article id
ingest will give it, as the HTTP API keys it, so every version of one article, imported or
sent later by an editor, lands on one partition in order. A record without one is keyed by its
file name (and line): its id comes from its content, so no other version of it can exist. A
page whose news code is only printed on the page is keyed so too: give such pages an
``external_id`` when the archive holds several versions of one.

Resuming: the state file records, per source, how many records from its start the broker has
acknowledged (written atomically every ``--checkpoint-every`` records, on Ctrl-C and at the
end), so a re-run skips them. Records sent after the last checkpoint are sent again. That is
harmless, as checked against :mod:`services.ingest.versions`: a submission whose content hash
equals the article's latest version is a no-op (no new version, nothing announced; an undated
article's receipt time is not part of the hash), and withdrawing a withdrawn article does
nothing. One caveat: when the re-sent stretch holds two versions of one article, the older is
the latest no longer, so replaying it makes a new version (reverting is a correction) before
the newer one comes again; the feeds end at the right content, exactly once, with extra
versions in the article's history. Records are sent in source order, keyed per article, so
that stretch is at most ``--checkpoint-every`` plus the records in flight.

Scopes: the consumer trusts a message without ``x-editor-scopes`` fully (a Kafka client); the
import sends the header anyway, narrowed to what an archive needs (new articles, their
corrections and kill notices: ``submit,correct,withdraw``), and ``x-imported-from`` naming the
record's file:line, which a dead letter keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Never, TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from tqdm import tqdm

from services.ingest import ninjs
from services.ingest.settings import IngestSettings
from services.ingest.text import article_id
from services.ingest.versions import SCOPES_HEADER
from shared.contracts import SUBMISSION, AnySubmission, SubmittedNinjs, Topics, Withdrawal
from shared.messaging import describe_validation_error
from shared.settings import InfraSettings

PAGE_FIELDS = {".html": "raw_html", ".htm": "raw_html", ".txt": "raw_text"}
FILE_SUFFIXES = {".json", *PAGE_FIELDS}
IMPORT_SCOPES = "submit,correct,withdraw"
STATE_NAME = ".import-state.json"
WINDOW = 10_000  # records in flight at most


class SourceChanged(Exception):
    """A source no longer starts with the records the state file says were imported."""


@dataclass(frozen=True)
class Record:
    """One record of a source, as read: its position and its raw bytes."""

    index: int  # from 0, in the source's order
    where: str  # "file:line" (JSON Lines) or the file's path, for messages
    name: str  # the key of a record without an article id: the file name (and line)
    raw: bytes
    page_field: str | None = None  # raw_html/raw_text: the file is a page, not JSON

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class Ready:
    key: bytes
    value: bytes


def is_jsonl(source: Path) -> bool:
    return source.is_file() and source.suffix.lower() in (".jsonl", ".ndjson")


def folder_files(folder: Path) -> list[Path]:
    """The files ``cli submit`` would send, in a stable order; hidden files (the state) not."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in FILE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def records(source: Path) -> Iterator[Record]:
    """The records of a folder or a JSON Lines file (blank lines are no records)."""
    if source.is_dir():
        for i, path in enumerate(folder_files(source)):
            rel = path.relative_to(source).as_posix()
            raw = path.read_bytes()
            yield Record(i, str(path), rel, raw, PAGE_FIELDS.get(path.suffix.lower()))
        return
    with source.open("rb") as lines:
        index = 0
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield Record(index, f"{source}:{number}", f"{source.name}:{number}", line.strip())
                index += 1


def count(source: Path) -> int:
    if source.is_dir():
        return len(folder_files(source))
    with source.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def parse(record: Record, publisher: str) -> AnySubmission:
    """The record as a submission written as ``publisher``; ValueError with the reason."""
    try:
        text = record.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start})") from None
    if record.page_field:
        data: object = {record.page_field: text}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    if isinstance(data, dict):
        named = data.setdefault("publisher", publisher)
        if isinstance(named, str) and named.strip().lower() != publisher:
            raise ValueError(f"names publisher {named!r}; this import is for {publisher!r}")
    try:
        return SUBMISSION.validate_python(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def article_key(sub: AnySubmission, name: str) -> str:
    """The Kafka key: the article id ingest will give it when the record names its article
    (as the HTTP API keys it), else its file name (and line). Maps a ninjs document, so a
    document ingest would refuse is refused here with the same reason."""
    if isinstance(sub, SubmittedNinjs):
        try:
            sub = ninjs.to_submission(sub.ninjs, sub.publisher)
        except ValidationError as exc:
            raise ValueError(f"ninjs: {describe_validation_error(exc)}") from None
    if isinstance(sub, Withdrawal) and sub.article_id:
        return sub.article_id
    external_id = getattr(sub, "external_id", None)
    if external_id:
        return article_id(sub.publisher, external_id, "", "")
    return f"{sub.publisher}:{name}"


def judge(record: Record, publisher: str, max_bytes: int) -> Ready:
    """What to produce for ``record``; ValueError with the reason it is refused."""
    sub = parse(record, publisher)
    value = json.dumps(sub.model_dump(mode="json", exclude_none=True), ensure_ascii=False).encode(
        "utf-8"
    )
    if len(value) > max_bytes:
        raise ValueError(f"is {len(value)} bytes; ingest takes at most {max_bytes}")
    return Ready(article_key(sub, record.name).encode("utf-8"), value)


@dataclass
class Progress:
    """How far one source was acknowledged: ``done`` records from its start, ``refused`` of
    them refused, ``last`` the SHA-256 of record ``done - 1`` (to tell a changed source)."""

    done: int = 0
    refused: int = 0
    last: str | None = None


@dataclass
class State:
    """The state file: progress per source (by absolute path), replaced atomically."""

    path: Path
    sources: dict[str, Progress] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text("utf-8"))
        return cls(path, {k: Progress(**v) for k, v in data.get("sources", {}).items()})

    def of(self, source: Path) -> Progress:
        return self.sources.setdefault(str(source.resolve()), Progress())

    def save(self) -> None:
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        body = {"version": 1, "sources": {k: vars(v) for k, v in self.sources.items()}}
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(body, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


def skip_done(source: Path, progress: Progress) -> Iterator[Record]:
    """The records of ``source`` after those already acknowledged; SourceChanged if the last
    acknowledged one is not what it was."""
    seen = 0
    for record in records(source):
        seen += 1
        if record.index < progress.done - 1:
            continue
        if record.index == progress.done - 1:
            if record.digest != progress.last:
                raise SourceChanged(f"{record.where} is not what was imported from {source}")
            continue
        yield record
    if seen < progress.done:
        raise SourceChanged(f"{source} has fewer records than were imported")


@dataclass
class Counts:
    sent: int = 0
    skipped: int = 0
    refused: int = 0


@dataclass
class Importer:
    """Produces the sources' records in order, and records in the state how far each is
    acknowledged (a contiguous prefix: an unacknowledged record holds back the ones after)."""

    producer: AIOKafkaProducer
    state: State
    publisher: str
    refusals: TextIO
    bar: tqdm[Never]
    every: int = 500
    max_bytes: int = IngestSettings.model_fields["max_submission_bytes"].default
    exit_after: int | None = None  # tests: stop dead after this many sends (a crash)
    since_save: int = 0
    counts: Counts = field(default_factory=Counts)

    async def source(self, source: Path) -> None:
        progress = self.state.of(source)
        self.counts.skipped += progress.done
        pending: deque[tuple[Record, asyncio.Future[object] | None]] = deque()
        for record in skip_done(source, progress):
            pending.append((record, await self.send(record)))
            crash = self.exit_after is not None and self.counts.sent >= self.exit_after
            while pending and (crash or len(pending) > WINDOW or _settled(pending[0][1])):
                await self.settle(progress, *pending.popleft())
            if crash:  # tests: acknowledged past the last checkpoint, then gone
                os._exit(70)
        while pending:
            await self.settle(progress, *pending.popleft())
        self.state.save()

    async def send(self, record: Record) -> asyncio.Future[object] | None:
        """Hand the record to the producer; None when it is refused (reported here)."""
        try:
            ready = judge(record, self.publisher, self.max_bytes)
        except ValueError as exc:
            self.refusals.write(f"{record.where}: {exc}\n")
            self.refusals.flush()
            self.bar.write(f"refused  {record.where}: {str(exc)[:200]}", file=sys.stderr)
            self.counts.refused += 1
            return None
        headers = [
            (SCOPES_HEADER, IMPORT_SCOPES.encode()),
            ("x-imported-from", record.where.encode()),
        ]
        future: asyncio.Future[object] = await self.producer.send(
            Topics.SUBMITTED, ready.value, key=ready.key, headers=headers
        )
        self.counts.sent += 1
        return future

    async def settle(
        self, progress: Progress, record: Record, sent: asyncio.Future[object] | None
    ) -> None:
        """Wait for the broker's acknowledgement (a send that failed stops the import), then
        count the record done; a checkpoint every ``every`` records."""
        if sent is not None:
            await sent
        else:
            progress.refused += 1
        progress.done, progress.last = record.index + 1, record.digest
        self.bar.update(1)
        self.since_save += 1
        if self.since_save >= self.every:
            self.state.save()
            self.since_save = 0


def _settled(sent: asyncio.Future[object] | None) -> bool:
    return sent is None or sent.done()


async def run(args: argparse.Namespace, counts: Counts) -> None:
    infra = InfraSettings()
    state = State.load(args.state)
    fresh = not state.sources
    total = sum(count(s) for s in args.sources)
    already = sum(state.of(s).done for s in args.sources)
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap or infra.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=infra.kafka_producer_batch_bytes,
        max_request_size=infra.kafka_max_message_bytes,
    )
    await producer.start()
    try:
        with (
            refusals_path(args.state).open("w" if fresh else "a", encoding="utf-8") as refusals,
            tqdm(total=total, initial=already, unit="rec", file=sys.stderr) as bar,
        ):
            importer = Importer(
                producer, state, args.publisher, refusals, bar, args.checkpoint_every
            )
            importer.exit_after, importer.counts = args.exit_after, counts
            importer.max_bytes = IngestSettings().max_submission_bytes  # ingest's, from its env
            try:
                for source in args.sources:
                    await importer.source(source)
            finally:
                state.save()  # what was acknowledged, also on Ctrl-C or a broker error
    finally:
        await producer.stop()


def refusals_path(state: Path) -> Path:
    return state.with_name(f"{state.stem}.refused.txt")


def summary(counts: Counts, state: State, sources: Sequence[Path], refusals: Path) -> str:
    refused = sum(state.of(s).refused for s in sources)
    line = f"import: sent {counts.sent}, skipped {counts.skipped} already imported, "
    return line + f"refused {refused}" + (f" (reasons in {refusals})" if refused else "")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.import_archive",
        description="Import an archive (folders, .jsonl files) into articles.submitted. An "
        "operator tool: it needs access to the brokers (Kafka ACLs guard that path) and no "
        "editor key; every record is written as --publisher. Resumable: a re-run skips what "
        "the broker acknowledged.",
    )
    p.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="folder or .jsonl")
    p.add_argument("--publisher", required=True, type=str.lower, help="registered publisher id")
    p.add_argument("--bootstrap", help="HOST:PORT of a broker (default KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument(
        "--state", type=Path, help=f"progress file (default: {STATE_NAME} beside the first SOURCE)"
    )
    p.add_argument("--checkpoint-every", type=int, default=500, help="records per state write")
    p.add_argument("--exit-after", type=int, help=argparse.SUPPRESS)  # tests: a crash
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for source in args.sources:
        if not (source.is_dir() or is_jsonl(source)):
            print(f"import: {source} is neither a folder nor a .jsonl file", file=sys.stderr)
            return 2
    args.state = args.state or args.sources[0].resolve().parent / STATE_NAME
    counts = Counts()
    try:
        asyncio.run(run(args, counts))
    except SourceChanged as exc:
        print(f"import: {exc}; delete {args.state} to import from the start", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"import: interrupted; progress saved in {args.state}", file=sys.stderr)
        return 130
    except KafkaError as exc:
        print(
            f"import: the broker failed ({exc!r}); progress saved in {args.state}", file=sys.stderr
        )
        return 3
    state = State.load(args.state)
    print(summary(counts, state, args.sources, refusals_path(args.state)))
    return 1 if any(state.of(s).refused for s in args.sources) else 0


if __name__ == "__main__":
    sys.exit(main())
