"""Replaying dead letters once the cause is fixed: nothing is lost, nothing duplicated."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import Topics
from tests.integration.conftest import System, await_feed, read_topic, send

pytestmark = pytest.mark.integration


def cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **system.env},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_an_unregistered_city_s_articles_are_replayed_once_it_is_registered(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    city = f"city{uuid.uuid4().hex[:6]}"
    headline = f"نخستین خبر شهر تازه {city}"
    article = {"publisher": city, "headline": headline, "body_text": "متن خبر."}
    await send(producer, Topics.SUBMITTED, article)
    await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.SUBMITTED),
        lambda seen: any(city in (d.get("reason") or "") for d in seen),
    )
    # Nothing to replay yet that matches a filter for another city.
    dry = cli(system, "-m", "tools.dlq", "replay", Topics.SUBMITTED, "--reason", "nowhere-xyz")
    assert "replayed" in dry.stderr and city not in dry.stdout

    registry = tmp_path / "registry.yaml"
    registry.write_text(
        f"publishers:\n  {city}:\n    name: A new sister city\n    language: fa\n",
        encoding="utf-8",
    )
    cli(system, "-m", "tools.registry", "load", str(registry))
    listed = cli(system, "-m", "tools.dlq", "list", Topics.SUBMITTED, "--reason", city)
    assert f"unknown publisher '{city}'" in listed.stdout

    done = cli(system, "-m", "tools.dlq", "replay", Topics.SUBMITTED, "--reason", city)
    assert '"replayed": 1' in done.stderr
    feed = await await_feed(
        http,
        system.url("feeds", f"/feeds/{city}/fa.atom"),
        lambda f: any(e.title == headline for e in f.entries),
    )
    assert [e.title for e in feed.entries].count(headline) == 1

    again = cli(system, "-m", "tools.dlq", "replay", Topics.SUBMITTED, "--reason", city)
    assert '"replayed": 0' in again.stderr  # the group remembers what was replayed
