"""ninjs 1.x, 2.x and 3.x over the HTTP API and Kafka, on the real stack (issue 21).

IPTC's own example documents (tests/fixtures/ninjs/examples), each under a fresh ``uri`` so a
rerun is a new story, submitted by an English-language agency registered for this module.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import Topics
from tests.integration.conftest import (
    FIXTURES,
    System,
    await_article,
    await_history,
    read_topic,
    registry_cli,
    send,
)

pytestmark = pytest.mark.integration

EXAMPLES = FIXTURES / "ninjs" / "examples"
AGENCY = "wire-en"


@pytest.fixture(scope="module")
async def agency(system: System, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Registers an English-language agency; headers with an editor key of it."""
    folder = Path(tmp_path_factory.mktemp("ninjs"))
    registry = folder / "registry.yaml"
    registry.write_text(
        f"publishers:\n  {AGENCY}:\n    name: An English news agency\n    language: en\n"
        "    timezone: Europe/Berlin\n    translate_to: [fa]\n",
        encoding="utf-8",
    )
    await registry_cli(system, "load", str(registry))
    keyfile = folder / "agency.key"
    await registry_cli(system, "keys", "create", AGENCY, "--name", "ninjs", "--out", str(keyfile))
    system.keys[AGENCY] = keyfile.read_text().strip()  # for await_article
    return system.auth(AGENCY)


def example(path: str, tag: str, **changes: Any) -> dict[str, Any]:
    """An IPTC example under a uri of its own (``tag``), with ``changes``."""
    doc: dict[str, Any] = json.loads((EXAMPLES / path).read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    doc["uri"] = f"{doc['uri']}-{tag}"
    return {**doc, **changes}


async def post(
    system: System, http: httpx.AsyncClient, headers: dict[str, str], doc: dict[str, Any]
) -> httpx.Response:
    return await http.post(system.url("ingest", "/articles"), json={"ninjs": doc}, headers=headers)


def titles(entries: list[Any]) -> set[str]:
    return {e.title for e in entries}


async def test_a_3x_document_keeps_its_own_time_and_a_3x_canceled_withdraws_it(
    system: System, http: httpx.AsyncClient, agency: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    doc = example("3.0/ninjsExSimpleText_3.json", tag)
    headline = doc["headlines"][0]["value"]
    ok = await post(system, http, agency, doc)
    assert ok.status_code == 202, ok.text
    accepted = ok.json()
    assert accepted["published"] == "2013-07-09T10:37:00+00:00"  # its versionCreated
    assert accepted["published_source"] == "editor"
    # A 2013 story: in the archives (RFC 5005) behind the agency's newer ones, at its own time.
    feed_url = system.url("feeds", f"/feeds/{AGENCY}/en.atom")
    found, _ = await await_history(http, feed_url, lambda es: headline in titles(es))
    entry = next(e for e in found.values() if e.title == headline)
    assert entry.published == "2013-07-09T10:37:00+00:00"

    canceled = await post(system, http, agency, {**doc, "pubStatus": "canceled"})
    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["article_id"] == accepted["article_id"]
    await await_history(http, feed_url, lambda es: headline not in titles(es))
    shown = await await_article(
        system, http, AGENCY, accepted["article_id"], lambda a: a["version"] == 2
    )
    assert shown["article"]["status"] == "withdrawn"


async def test_dpa_s_2019_story_sent_as_2_1_then_as_3_0_is_one_version(
    system: System, http: httpx.AsyncClient, agency: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    first = await post(system, http, agency, example("2.1/dpa_text.json", tag))
    assert first.status_code == 202, first.text
    again = await post(system, http, agency, example("3.0/dpa_text.json", tag))
    assert again.status_code == 202, again.text
    one, two = first.json(), again.json()
    assert one["article_id"] == two["article_id"]
    assert one["published"] == two["published"] == "2019-05-10T14:02:28+00:00"
    shown = await await_article(system, http, AGENCY, one["article_id"], lambda a: True)
    assert shown["article"]["language"] == "de"
    assert shown["version"] == 1 and len(shown["versions"]) == 1  # no correction


async def test_an_invalid_document_is_refused_with_its_schema_s_reason(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer, agency: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    doc = example("3.1/004_simple_text_article.json", tag, pubStatus="killed")
    doc["standard"] = {"name": "ninjs", "version": "3.1"}
    refused = await post(system, http, agency, doc)
    assert refused.status_code == 422, refused.text
    reason = refused.json()["reason"]
    assert reason == (
        "ninjs: not valid against IPTC's ninjs 3.1 schema, which the document names: "
        "pubStatus: 'killed' is not one of ['usable', 'withheld', 'canceled']"
    )

    await send(producer, Topics.SUBMITTED, {"publisher": AGENCY, "ninjs": doc})
    dead = await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.SUBMITTED),
        lambda seen: any(tag in json.dumps(d) and d.get("reason") for d in seen),
    )
    letter = next(d for d in dead if tag in json.dumps(d))
    assert "'killed' is not one of ['usable', 'withheld', 'canceled']" in letter["reason"]


async def test_a_picture_item_and_an_event_become_articles(
    system: System, http: httpx.AsyncClient, agency: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    photo = await post(system, http, agency, example("3.1/006_photo_only.json", tag))
    assert photo.status_code == 202, photo.text
    shown = await await_article(system, http, AGENCY, photo.json()["article_id"], lambda a: True)
    images = shown["article"]["images"]
    assert [(i["url"], i["width"], i["height"]) for i in images] == [
        ("http://hosted.ap.org/photos/2/2643c588-dc8d-4923-bebd-e3b904edbb3a-big.jpg", 429, 281)
    ]
    assert images[0]["caption"].startswith("The Costa Concordia cruise ship")

    event = await post(system, http, agency, example("3.0/simpleEvent.json", tag))
    assert event.status_code == 202, event.text
    assert event.json()["headline"] == "Tackling Doping in Sport Conference"
    no_description = await post(system, http, agency, example("3.1/008_event.json", tag))
    assert no_description.status_code == 422
    assert "this one has no description" in no_description.json()["reason"]
