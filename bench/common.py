"""What every benchmark needs: the infrastructure, a readiness probe, its docs section, and
the machine and code version it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy.local import stack

ROOT = Path(__file__).resolve().parent.parent

# The services' rate limiter runs on every benchmark request (its cost is measured) but never
# refuses: the benchmarks are one client sending far more than any reader should.
NO_REFUSALS = "10000000/second"


@contextmanager
def infrastructure(state: Path) -> Iterator[tuple[str, str, str]]:
    """(Kafka bootstrap, MongoDB URI, database description): the ones in the environment, else
    a Kafka and a FerretDB started here and stopped afterwards."""
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    started: list[Any] = []
    try:
        if not kafka:
            k = stack.Kafka(state, port=stack.free_port(), controller_port=stack.free_port())
            k.start()
            started.append(k)
            kafka = k.bootstrap
        if not mongo:
            f = stack.FerretDB(state, port=stack.free_port())
            f.start()
            started.append(f)
            mongo = f.uri
        database = "FerretDB " + stack.FERRETDB_VERSION if started else "external MongoDB"
        yield kafka, mongo, database
    finally:
        for component in reversed(started):
            component.stop()


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def write_section(path: Path, name: str, section: str) -> None:
    """Replace (or append) benchmark ``name``'s section, leaving the others as they are."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{section}{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def command_line(name: str, from_make: bool) -> str:
    """The command that reproduces this run: its make target, or the module with its arguments."""
    if from_make:
        return f"make bench-{name}"
    return f"python -m bench.{name} " + " ".join(sys.argv[1:])


def publish(section: str, name: str, path: Path | None) -> None:
    """Print the section and, when asked, write it into the benchmarks page."""
    print("\n" + section)
    if path:
        write_section(path, name, section)
        print(f"written to {path}")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "") if commit else "?"


def bulk_producer(kafka: str, linger_ms: int = 5) -> AIOKafkaProducer:
    """A producer that batches as a CMS would, acknowledged by the broker (``acks=all``), for
    articles of up to 10 MB: what the benchmarks send their loads with. Not started."""
    return AIOKafkaProducer(
        bootstrap_servers=kafka,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=1024 * 1024,
        max_request_size=10_485_760,
    )
