"""Ingest's rules about whose article a submission touches and what it may do to it, on the real
stack, where an editor with an ordinary key (or anything that can write to Kafka) meets them:
exact ownership of article ids (publisher ids may contain "-"), scopes judged by what a
submission does rather than the form it came in, external ids that differ only in case or
punctuation, and dates far outside any newsroom's (issue 18, findings 3, 4, 9 and 11b)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import Topics
from tests.integration.conftest import (
    System,
    await_article,
    read_topic,
    registry_cli,
    send,
)

pytestmark = pytest.mark.integration

#: A publisher whose id extends another's ("tehran"): the case an id prefix check gets wrong.
NORTH = "tehran-north"


async def editor_key(system: System, publisher: str, scopes: str | None = None) -> dict[str, str]:
    """Headers with a new editor key of ``publisher`` (every scope unless ``scopes``)."""
    keyfile = system.state / "keys" / f"{publisher}-{uuid.uuid4().hex[:8]}.key"
    extra = ["--scopes", scopes] if scopes else []
    said = await registry_cli(
        system, "keys", "create", publisher, "--name", "ownership", *extra, "--out", str(keyfile)
    )
    assert re.search(r"created k_[0-9a-f]+", said), said
    return {"Authorization": f"Bearer {keyfile.read_text().strip()}"}


@pytest.fixture(scope="module")
async def north(system: System, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Registers ``tehran-north`` beside ``tehran``; headers with a key of it."""
    registry = Path(tmp_path_factory.mktemp("ownership")) / "registry.yaml"
    registry.write_text(
        f"publishers:\n  {NORTH}:\n    name: Tehran District 1\n    language: fa\n"
        "    timezone: Asia/Tehran\n    translate_to: [en]\n",
        encoding="utf-8",
    )
    await registry_cli(system, "load", str(registry))
    headers = await editor_key(system, NORTH)
    system.keys[NORTH] = headers["Authorization"].removeprefix("Bearer ")  # for await_article
    return headers


def refusal(resp: httpx.Response, status: int, *words: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "code", "reason"}, body
    for word in words:
        assert word in body["reason"], (word, body["reason"])
    return str(body["reason"])


def article(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "headline": f"خبر مالکیت {tag}",
        "body_text": f"متن نخست خبر {tag}.",
        "external_id": f"own-{tag}",
        **extra,
    }


def ninjs(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "ninjs": {
            "uri": f"urn:newsml:gorgan.ir:2025:{tag}",
            "language": "fa",
            "headlines": [{"value": f"خبر خبرگزاری گرگان {tag}", "role": "main"}],
            "bodies": [{"value": f"متن خبر {tag}.", "contenttype": "text/plain"}],
            "firstcreated": "2025-05-01T10:00:00+03:30",
            **extra,
        }
    }


async def dead_letter(system: System, marker: str) -> str:
    """The reason of the dead letter of ``articles.submitted`` whose message holds ``marker``."""

    def mine(letter: dict[str, Any]) -> bool:
        return marker in (letter.get("payload") or "")

    seen = await read_topic(
        system.infra.kafka, Topics.dlq(Topics.SUBMITTED), lambda seen: any(map(mine, seen))
    )
    return str(next(d for d in seen if mine(d))["reason"])


@pytest.fixture
async def north_article(
    system: System, http: httpx.AsyncClient, north: dict[str, str]
) -> AsyncIterator[str]:
    """A stored article of tehran-north; afterwards, it must be untouched (version 1, active)."""
    ok = await http.post(
        system.url("ingest", "/articles"), json=article(uuid.uuid4().hex[:8]), headers=north
    )
    assert ok.status_code == 202, ok.text
    ident = str(ok.json()["article_id"])
    assert ident.startswith(f"{NORTH}-")
    await await_article(system, http, NORTH, ident, lambda a: a["version"] == 1)
    yield ident
    state = await await_article(system, http, NORTH, ident, lambda a: True)
    assert state["version"] == 1 and state["status"] == "active", state


async def test_tehran_cannot_withdraw_tehran_norths_articles_over_http(
    system: System, http: httpx.AsyncClient, north_article: str
) -> None:
    tehran = system.auth("tehran")  # every scope, of the publisher whose id is the prefix
    url = system.url("ingest", "/articles")
    form = {"withdraw": True, "article_id": north_article}
    refusal(await http.post(url, json=form, headers=tehran), 422, "not one of 'tehran'")
    one = system.url("ingest", f"/articles/{north_article}")
    refusal(await http.delete(one, headers=tehran), 404, "no article")
    refusal(await http.get(one, headers=tehran), 404, "no article")


async def test_a_withdrawal_on_kafka_for_another_publishers_article_is_dead_lettered(
    system: System, producer: AIOKafkaProducer, north_article: str
) -> None:
    message = {"publisher": "tehran", "withdraw": True, "article_id": north_article}
    await send(producer, Topics.SUBMITTED, message, key=north_article)
    reason = await dead_letter(system, north_article)
    assert f"article {north_article!r} is not one of 'tehran''s articles" in reason, reason
    # The fixture then checks the article is still version 1 and active: the dead letter says
    # the consumer has judged the message, so its state is final.


async def test_a_key_without_the_withdraw_scope_cannot_withdraw_with_ninjs_pubstatus(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    may_correct = await editor_key(system, "gorgan", "submit,correct")  # but not withdraw
    url = system.url("ingest", "/articles")
    ok = await http.post(url, json=ninjs(tag), headers=may_correct)
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    await await_article(system, http, "gorgan", ident, lambda a: a["version"] == 1)
    for status in ("canceled", "withheld", "Canceled"):
        resp = await http.post(url, json=ninjs(tag, pubstatus=status), headers=may_correct)
        refusal(resp, 403, "lacks the 'withdraw' scope")
    fresh = ninjs(f"{tag}-new", pubstatus="canceled")  # withheld from the start: still a withdrawal
    refusal(await http.post(url, json=fresh, headers=may_correct), 403, "'withdraw'")
    state = await await_article(system, http, "gorgan", ident, lambda a: True)
    assert state["version"] == 1 and state["status"] == "active"


async def test_a_key_without_the_correct_scope_cannot_correct_in_any_form_or_at_any_time(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    submit_only = await editor_key(system, "gorgan", "submit")
    url = system.url("ingest", "/articles")
    first = article(tag)
    # The correction right behind the first version, before ingest has stored it: the API
    # cannot know yet that it is a correction, so the consumer checks the key's scopes again.
    ok = await http.post(url, json=first, headers=submit_only)
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    fix = f"fix-{tag}"
    quick = await http.post(url, json={**first, "body_text": f"اصلاح {fix}"}, headers=submit_only)
    if quick.status_code == 202:  # judged before the first version was stored (the usual case)
        assert "lacks the 'correct' scope" in await dead_letter(system, fix)
    else:
        refusal(quick, 403, "lacks the 'correct' scope")
    await await_article(system, http, "gorgan", ident, lambda a: a["version"] >= 1)

    # Once stored, every form that would change it is a correction: ninjs, a page, an article.
    page = {
        "raw_text": f"خبر مالکیت {tag}\n\nمتن دیگری برای این خبر {tag}.",
        "external_id": f"own-{tag}",
    }
    for body in (page, {**first, "headline": f"تیتر دیگر این خبر {tag}"}):
        refusal(await http.post(url, json=body, headers=submit_only), 403, "'correct' scope")
    again = await http.post(url, json=first, headers=submit_only)  # a retry changes nothing
    assert again.status_code == 202, again.text
    state = await await_article(system, http, "gorgan", ident, lambda a: True)
    assert state["version"] == 1 and fix not in str(state), state


async def test_external_ids_differing_only_in_case_or_punctuation_do_not_overwrite(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = system.url("ingest", "/articles")
    mashhad = system.auth("mashhad")
    upper = article(tag, external_id=f"NEWS-{tag}")
    ok = await http.post(url, json=upper, headers=mashhad)
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    await await_article(system, http, "mashhad", ident, lambda a: a["version"] == 1)
    lower = article(tag, external_id=f"news {tag}", headline=f"خبری دیگر از مشهد {tag}")
    said = f"external id 'news {tag}' is not 'NEWS-{tag}'"
    refusal(await http.post(url, json=lower, headers=mashhad), 409, said)
    await send(producer, Topics.SUBMITTED, {"publisher": "mashhad", **lower}, key=ident)
    assert said in await dead_letter(system, f"news {tag}")
    digits = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    persian = {
        **upper,
        "external_id": f"NEWS-{tag}".translate(digits),
        "headline": f"تیتر اصلاح شده {tag}",
    }
    fixed = await http.post(url, json=persian, headers=mashhad)  # the same id, other digits
    assert fixed.status_code == 202 and fixed.json()["article_id"] == ident, fixed.text
    state = await await_article(system, http, "mashhad", ident, lambda a: a["version"] == 2)
    assert state["article"]["headline"] == f"تیتر اصلاح شده {tag}"


@pytest.mark.parametrize(
    "body",
    [
        {"published": "0001-01-01T00:00:00"},
        {"published": "9999-12-31T23:59:59-12:00"},
        {"published": "0001/01/01"},
        {"published": "2999-01-01T00:00:00Z"},
        {"embargoed": "9999-12-31T23:59:59-12:00"},
    ],
)
async def test_a_date_outside_the_sane_range_is_a_422_over_http_and_a_dead_letter_on_kafka(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient, body: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = system.url("ingest", "/articles")
    said = refusal(
        await http.post(url, json=article(tag, **body), headers=system.auth("mashhad")), 422
    )
    assert "out of range" in said and "1900" in said, said
    field, value = next(iter(body.items()))
    if value != "0001/01/01":  # ninjs dates are ISO 8601 only
        doc = ninjs(tag, **({"firstcreated": value} if field == "published" else {field: value}))
        said = refusal(await http.post(url, json=doc, headers=system.auth("gorgan")), 422)
        assert "out of range" in said, said
    await send(producer, Topics.SUBMITTED, {"publisher": "mashhad", **article(tag, **body)})
    reason = await dead_letter(system, f"own-{tag}")
    assert "out of range" in reason and "1900" in reason, reason
