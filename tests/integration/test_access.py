"""Every access rule on the real stack, one test each, as the person refused would see it: the
status, the reason, and that nothing was published or shown. Editor keys (ingest), partner
feed tokens (feeds), the admin token (the registry admin API), WebSub (signatures, private feeds),
and, last, that none of the secrets used on the way reached a log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.registry import key_digest
from tests.integration.conftest import System, await_article, await_feed, registry_cli
from tests.support.websub_subscriber import Subscriber, authentic, running_subscriber

pytestmark = pytest.mark.integration

#: Every secret these tests handle, given out or made up; the last test looks for each in the logs.
USED: set[str] = set()
#: How long a revocation made outside a service (the registry CLI) may take to reach it.
REGISTRY_TTL = 5.0


def used(secret: str) -> str:
    USED.add(secret)
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def titles(feed: Any) -> set[str]:
    return {e.title for e in feed.entries}


def refusal(resp: httpx.Response, status: int, *words: str) -> str:
    """Assert the answer is ``status`` with a JSON reason holding ``words``; the reason."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "code", "reason"}, body  # a refusal, and nothing else
    for word in words:
        assert word in body["reason"], (word, body["reason"])
    return str(body["reason"])


async def editor_key(system: System, publisher: str, scopes: str) -> tuple[str, str]:
    """A new editor key with these scopes: (key, key id)."""
    keyfile = system.state / "keys" / f"{publisher}-{uuid.uuid4().hex[:8]}.key"
    said = await registry_cli(
        system, "keys", "create", publisher, "--name", f"access {scopes}", "--scopes", scopes,
        "--out", str(keyfile),
    )  # fmt: skip
    found = re.search(r"created (k_[0-9a-f]+)", said)
    assert found, said
    return used(keyfile.read_text().strip()), found[1]


def article(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "headline": f"گزارش دسترسی {tag}",
        "body_text": f"متن محرمانه این خبر {tag} است.",
        "external_id": f"access-{tag}",
        **extra,
    }


# ---------------------------------------------------------------------- editor keys (ingest)


async def test_an_editor_key_cannot_touch_or_see_another_publishers_articles(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    theirs = article(tag)
    url = system.url("ingest", "/articles")
    ok = await http.post(url, json=theirs, headers=system.auth("tehran"))
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    await await_article(system, http, "tehran", ident, lambda a: a["version"] == 1)
    mashhad = system.auth("mashhad")  # a key with every scope, of another publisher
    one = system.url("ingest", f"/articles/{ident}")

    answers = {
        "read": await http.get(one, headers=mashhad),
        "withdraw": await http.delete(one, headers=mashhad),
        "translate": await http.put(
            f"{one}/translations/en",
            json={"headline": "Hijacked", "body_text": "Not theirs."},
            headers=mashhad,
        ),
    }
    for what, resp in answers.items():  # 404: not even whether it exists
        refusal(resp, 404, f"no article {ident!r} of 'mashhad'")
        assert theirs["headline"] not in resp.text and tag not in resp.json()["error"], what
    as_them = await http.post(url, json={**theirs, "publisher": "tehran"}, headers=mashhad)
    refusal(as_them, 403, "this key publishes as 'mashhad'", "cannot publish as 'tehran'")
    withdrawal = {"withdraw": True, "article_id": ident}
    refusal(await http.post(url, json=withdrawal, headers=mashhad), 422, "not one of 'mashhad'")
    listed = await http.get(url, headers=mashhad)
    assert listed.status_code == 200 and ident not in listed.text and tag not in listed.text

    # Their news code under our key is our own article, never a correction of theirs.
    ours = await http.post(url, json={**theirs, "body_text": "نسخه دیگر"}, headers=mashhad)
    assert ours.status_code == 202 and ours.json()["article_id"] != ident
    assert ours.json()["article_id"].startswith("mashhad-")
    await await_article(system, http, "mashhad", ours.json()["article_id"], lambda a: True)
    state = await await_article(system, http, "tehran", ident, lambda a: True)
    assert state["version"] == 1 and state["status"] == "active"  # untouched
    en = await await_feed(
        http,
        system.url("feeds", "/feeds/tehran/en.atom"),
        lambda f: f"[en] {theirs['headline']}" in titles(f),
    )
    assert "Hijacked" not in titles(en)


async def test_a_key_lacking_a_scope_is_refused_naming_the_scope(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    submit_only, submit_id = await editor_key(system, "gorgan", "submit")
    translate_only, _ = await editor_key(system, "gorgan", "translate")
    url = system.url("ingest", "/articles")
    first = article(tag)
    ok = await http.post(url, json=first, headers=bearer(submit_only))
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    await await_article(system, http, "gorgan", ident, lambda a: a["version"] == 1)
    one = system.url("ingest", f"/articles/{ident}")

    correction = {**first, "body_text": f"متن اصلاح شده {tag}"}
    refused = [
        ("correct", await http.post(url, json=correction, headers=bearer(submit_only))),
        ("withdraw", await http.delete(one, headers=bearer(submit_only))),
        (  # a withdrawal in any form needs the scope
            "withdraw",
            await http.post(
                url, json={**first, "pubstatus": "canceled"}, headers=bearer(submit_only)
            ),
        ),
        (
            "translate",
            await http.put(
                f"{one}/translations/en",
                json={"headline": "Access report", "body_text": "Text."},
                headers=bearer(submit_only),
            ),
        ),
        (
            "translate",
            await http.put(
                system.url("ingest", "/glossary/en"),
                json={"terms": [{"source": f"واژه{tag}", "target": "word"}]},
                headers=bearer(submit_only),
            ),
        ),
        ("submit", await http.post(url, json=article(f"{tag}-2"), headers=bearer(translate_only))),
    ]
    for scope, resp in refused:
        refusal(resp, 403, f"lacks the {scope!r} scope")
    assert f"key {submit_id} may not correct published articles" in refused[0][1].text

    # Nothing of it was published: still version 1, active, its own text, no second article.
    state = await await_article(system, http, "gorgan", ident, lambda a: True)
    assert state["version"] == 1 and state["status"] == "active"
    assert f"اصلاح شده {tag}" not in json.dumps(state, ensure_ascii=False)
    listed = await http.get(url, headers=system.auth("gorgan"))
    assert [a["article_id"] for a in listed.json() if tag in (a["headline"] or "")] == [ident]
    glossary = await http.get(system.url("ingest", "/glossary/en"), headers=system.auth("gorgan"))
    assert tag not in glossary.text


async def test_no_key_or_an_unknown_key_is_401_and_a_revoked_key_stops_working(
    system: System, http: httpx.AsyncClient
) -> None:
    url = system.url("ingest", "/articles")
    missing = await http.get(url)
    refusal(missing, 401, "no editor key", "Authorization: Bearer")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    guessed = used(f"cfk_mashhad_{uuid.uuid4().hex}")
    for headers in (bearer(guessed), {"X-API-Key": guessed}):
        refusal(await http.get(url, headers=headers), 401, "not valid (unknown or revoked)")

    key, key_id = await editor_key(system, "mashhad", "submit,correct,withdraw,translate")
    assert (await http.get(url, headers=bearer(key))).status_code == 200
    said = await registry_cli(system, "keys", "revoke", key_id)
    assert f"revoked {key_id}" in said
    revoked_at = time.monotonic()
    async with asyncio.timeout(REGISTRY_TTL + 5):  # the service's key cache, and a margin
        while True:
            if (await http.get(url, headers=bearer(key))).status_code == 401:
                break
            await asyncio.sleep(0.1)  # poll interval while waiting for the revocation to apply
    took = time.monotonic() - revoked_at
    assert took <= REGISTRY_TTL + 1, took
    tag = uuid.uuid4().hex[:8]
    late = await http.post(url, json=article(tag), headers=bearer(key))
    refusal(late, 401, "unknown or revoked")
    listed = await http.get(url, headers=system.auth("mashhad"))
    assert tag not in listed.text  # nothing was published with it


async def test_editor_keys_rotate_through_the_admin_api_with_no_gap(
    system: System, http: httpx.AsyncClient
) -> None:
    """Issue a new key, hand it over, revoke the old one: the editor is never locked out, the
    new key has only its scopes, and ingest refuses the old one within its key cache time."""
    keys, url = (
        system.url("feeds", "/admin/publishers/tehran/keys"),
        system.url("ingest", "/articles"),
    )
    old = await http.post(keys, json={"name": "old laptop"}, headers=bearer(system.admin_token))
    new = await http.post(
        keys, json={"name": "new laptop", "scopes": ["submit"]}, headers=bearer(system.admin_token)
    )
    assert old.status_code == new.status_code == 201, (old.text, new.text)
    old_key, new_key = used(old.json()["key"]), used(new.json()["key"])
    for key in (old_key, new_key):
        assert (await http.get(url, headers=bearer(key))).status_code == 200
    tag = uuid.uuid4().hex[:8]
    made = await http.post(url, json=article(tag), headers=bearer(new_key))
    assert made.status_code == 202, made.text
    withdraw = await http.delete(f"{url}/{made.json()['article_id']}", headers=bearer(new_key))
    refusal(withdraw, 403, "lacks the 'withdraw' scope")

    gone = await http.delete(f"{keys}/{old.json()['id']}", headers=bearer(system.admin_token))
    assert gone.status_code == 200, gone.text
    revoked_at = time.monotonic()
    async with asyncio.timeout(REGISTRY_TTL + 5):  # ingest's key cache, and a margin
        while True:
            assert (await http.get(url, headers=bearer(new_key))).status_code == 200, "no gap"
            if (await http.get(url, headers=bearer(old_key))).status_code == 401:
                break
            await asyncio.sleep(0.1)  # poll interval while waiting for the revocation to apply
    assert time.monotonic() - revoked_at <= REGISTRY_TTL + 1
    listed = await http.get(keys, headers=bearer(system.admin_token))
    states = {k["id"]: k["state"] for k in listed.json()}
    assert states[old.json()["id"]] == "revoked" and states[new.json()["id"]] == "live"
    assert old_key not in listed.text and new_key not in listed.text


# ---------------------------------------------------------------------- partner feed tokens


def admin(system: System) -> dict[str, str]:
    return bearer(system.admin_token)


@dataclass
class Partner:
    id: str
    feed: str  # its English feed's URL


@asynccontextmanager
async def scratch_partner(
    system: System, http: httpx.AsyncClient, websub: bool = True
) -> AsyncIterator[Partner]:
    """A partner of its own for a test, added and removed through the admin API. It receives
    Gorgan in English, which Gorgan is translated into anyway: no other test sees a change."""
    pid = f"access-{uuid.uuid4().hex[:8]}"
    entry = {"name": f"Access test {pid}", "languages": ["en"], "publishers": ["gorgan"]}
    put = await http.put(
        system.url("feeds", f"/admin/partners/{pid}"),
        json={**entry, "websub": websub},
        headers=admin(system),
    )
    assert put.status_code == 201, put.text
    try:
        yield Partner(pid, system.url("feeds", f"/partners/{pid}/en.atom"))
    finally:
        gone = await http.delete(
            system.url("feeds", f"/admin/partners/{pid}"), headers=admin(system)
        )
        assert gone.status_code == 200, gone.text


async def issue(system: System, http: httpx.AsyncClient, pid: str, rotate: str = "") -> Any:
    path = f"/admin/partners/{pid}/tokens" + (f"/rotate?grace_days={rotate}" if rotate else "")
    resp = await http.post(system.url("feeds", path), headers=admin(system))
    assert resp.status_code == 201, resp.text
    used(resp.json()["token"])
    return resp.json()


async def test_a_partner_feed_needs_that_partners_token_in_any_of_its_three_forms(
    system: System, http: httpx.AsyncClient
) -> None:
    kazan, istanbul = system.partner_tokens["kazan"], system.partner_tokens["istanbul"]
    feed = system.url("feeds", "/partners/kazan/en.atom")
    archive = system.url("feeds", "/partners/kazan/en/archive/0.atom")
    for url in (feed, archive):  # an archive page, even one that may not exist, is as private
        missing = await http.get(url)
        refusal(missing, 401, "partner feeds are private", "Authorization: Bearer", "?token=")
        assert missing.headers["www-authenticate"] == 'Bearer realm="partner feeds"'
    guessed = used(f"cfp_kazan_{uuid.uuid4().hex}")
    for token in (istanbul, guessed, system.keys["tehran"], system.admin_token):
        for headers in (bearer(token), {"X-Feed-Token": token}):
            resp = await http.get(feed, headers=headers)
            refusal(resp, 401, "this feed token is unknown, revoked or expired")
        refusal(await http.get(feed, params={"token": token}), 401, "unknown, revoked")
    # Whether a partner exists is no more visible than its feed.
    refusal(
        await http.get(system.url("feeds", "/partners/atlantis/en.atom"), headers=bearer(kazan)),
        401,
        "unknown, revoked or expired",
    )
    for how in (bearer(kazan), {"X-Feed-Token": kazan}, {}):
        resp = await http.get(feed, headers=how, params={} if how else {"token": kazan})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/atom+xml")
        assert resp.headers["cache-control"].startswith("private")


async def test_a_revoked_partner_token_is_refused_at_once_and_rotation_needs_no_restart(
    system: System, http: httpx.AsyncClient
) -> None:
    feeds_pid = system.processes["feeds"].pid()
    async with scratch_partner(system, http) as partner:
        first = await issue(system, http, partner.id)
        old = first["token"]
        assert (await http.get(partner.feed, headers=bearer(old))).status_code == 200

        rotated = await issue(system, http, partner.id, rotate="7")
        new = rotated["token"]
        assert [(p["id"], p["state"]) for p in rotated["previous"]] == [(first["id"], "expiring")]
        for token in (old, new):  # the overlap: both work, so the partner switches at leisure
            assert (await http.get(partner.feed, headers=bearer(token))).status_code == 200

        path = f"/admin/partners/{partner.id}/tokens/{first['id']}"
        revoked = await http.delete(system.url("feeds", path), headers=admin(system))
        assert revoked.status_code == 200 and revoked.json()["revoked"] == first["id"]
        refusal(
            await http.get(partner.feed, headers=bearer(old)), 401, "unknown, revoked or expired"
        )
        assert (await http.get(partner.feed, headers=bearer(new))).status_code == 200

        # No grace: the older token ends with the rotation, the new one works from its first use.
        newest = await issue(system, http, partner.id, rotate="0")
        refusal(await http.get(partner.feed, headers=bearer(new)), 401, "unknown, revoked")
        assert (await http.get(partner.feed, headers=bearer(newest["token"]))).status_code == 200
        tokens = await http.get(
            system.url("feeds", f"/admin/partners/{partner.id}/tokens"), headers=admin(system)
        )
        states = {t["id"]: t["state"] for t in tokens.json()}
        assert states == {
            first["id"]: "revoked",
            rotated["id"]: "expired",
            newest["id"]: "live",
        }
    # Removing the partner revoked what was left.
    resp = await http.get(partner.feed, headers=bearer(newest["token"]))
    refusal(resp, 401, "unknown, revoked or expired")
    assert system.processes["feeds"].pid() == feeds_pid  # never restarted


# ---------------------------------------------------------------------- the admin token


def keys_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_in(inner)


async def test_the_admin_api_needs_the_admin_token_and_never_shows_a_secret(
    system: System, http: httpx.AsyncClient
) -> None:
    registry = system.url("feeds", "/admin/registry")
    wrong = used(f"{system.admin_token}x")
    for headers, words in [
        ({}, "no admin token"),
        ({"Authorization": f"Basic {system.admin_token}"}, "no admin token"),
        (bearer(wrong), "not valid"),
        (bearer(system.admin_token[:-1]), "not valid"),
        (system.auth("mashhad"), "not valid"),  # an editor key is no admin token
        (bearer(system.partner_tokens["kazan"]), "not valid"),
    ]:
        resp = await http.get(registry, headers=headers)
        refusal(resp, 401, words)
        assert resp.headers["www-authenticate"] == 'Bearer realm="feeds-admin"'
    # Refused writes change nothing.
    tokens = system.url("feeds", "/admin/partners/kazan/tokens")
    before = (await http.get(tokens, headers=admin(system))).json()
    pid = f"access-{uuid.uuid4().hex[:8]}"
    entry = {"name": "Never", "languages": ["en"], "publishers": ["gorgan"]}
    put = await http.put(system.url("feeds", f"/admin/partners/{pid}"), json=entry)
    refusal(put, 401, "no admin token")
    refusal(await http.post(tokens, headers=bearer(wrong)), 401, "not valid")
    refusal(await http.post(f"{tokens}/rotate", headers=bearer(wrong)), 401, "not valid")
    kazan_tokens = await http.get(tokens, headers=admin(system))
    assert kazan_tokens.status_code == 200 and kazan_tokens.json() == before  # none issued

    listing = await http.get(registry, headers=admin(system))
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    assert pid not in listing.text
    assert {p["id"] for p in listing.json()["partners"]} >= {"kazan", "istanbul"}
    secrets = [
        system.admin_token,
        *system.keys.values(),
        *system.partner_tokens.values(),
    ]
    for answer in (listing, kazan_tokens):
        for secret in secrets:  # neither the secret nor its stored digest
            assert secret not in answer.text and key_digest(secret) not in answer.text
        names = set(keys_in(answer.json()))
        assert not names & {"token", "digest", "_id", "secret", "hash", "key"}, names
    assert "live" in {t["state"] for t in kazan_tokens.json()}


# ---------------------------------------------------------------------- WebSub


async def subscribe(
    system: System, http: httpx.AsyncClient, topic: str, sub: Subscriber, secret: str
) -> httpx.Response:
    return await http.post(
        system.url("feeds", "/websub"),
        data={
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.callback": sub.url,
            "hub.secret": used(secret),
            "hub.lease_seconds": "3600",
        },
    )


async def test_websub_pushes_are_signed_and_a_forged_signature_is_detected(
    system: System, http: httpx.AsyncClient
) -> None:
    secret = f"websub-secret-{uuid.uuid4().hex}"
    topic = system.url("feeds", "/feeds/gorgan/en.atom")
    with running_subscriber(secret) as sub:
        resp = await subscribe(system, http, topic, sub, secret)
        assert resp.status_code == 202, resp.text
        await sub.wait_verified("subscribe")
        tag = uuid.uuid4().hex[:8]
        a = article(tag)
        assert (
            await http.post(
                system.url("ingest", "/articles"), json=a, headers=system.auth("gorgan")
            )
        ).status_code == 202
        real = await sub.wait_for(lambda d: f"[en] {a['headline']}".encode() in d.body)
        signature = real.headers["x-hub-signature"]
        assert real.authentic is True and authentic(secret, real.body, signature)

        tampered = real.body.replace(tag.encode(), b"forged00")
        forged_with = hmac.new(b"a guessed secret", real.body, hashlib.sha256).hexdigest()
        for body, header in [
            (tampered, signature),  # the body changed on the way
            (real.body, f"sha256={forged_with}"),  # signed with another secret
            (real.body, None),  # not signed
            (real.body, "sha256="),
            (real.body, signature.replace("sha256=", "sha1=")),  # not the algorithm agreed
            (real.body, signature[:-2] + ("00" if signature[-2:] != "00" else "11")),
        ]:
            assert not authentic(secret, body, header), header

        # Someone who knows the callback posts a forged update straight to it: detected.
        async with httpx.AsyncClient() as attacker:
            headers = {"Content-Type": "application/atom+xml", "X-Hub-Signature": signature}
            await attacker.post(sub.url, content=tampered, headers=headers)
        forged = await sub.wait_for(lambda d: b"forged00" in d.body)
        assert forged.authentic is False
        assert all(d.authentic for d in sub.deliveries if d is not forged)


async def test_a_partner_feed_cannot_be_subscribed_to_without_that_partners_token(
    system: System, http: httpx.AsyncClient
) -> None:
    topic = system.url("feeds", "/partners/kazan/en.atom")
    kazan = system.partner_tokens["kazan"]
    with running_subscriber() as sub:
        for refused_topic in [
            topic,
            f" {topic}",  # the hub reads the topic stripped: so must the check
            f"{topic}?token={system.partner_tokens['istanbul']}",
            f"{topic}?token={used('cfp_kazan_' + uuid.uuid4().hex)}",
            f"{topic}?token={system.keys['gorgan']}",
        ]:
            resp = await subscribe(system, http, refused_topic, sub, "s3cret-1")
            assert resp.status_code == 403, (refused_topic, resp.text)
            assert "must carry that partner's valid ?token=" in resp.text
        async with scratch_partner(system, http, websub=False) as partner:
            token = (await issue(system, http, partner.id))["token"]
            resp = await subscribe(system, http, f"{partner.feed}?token={token}", sub, "s3cret-2")
            assert resp.status_code == 403 and "WebSub is not enabled" in resp.text

        accepted = await subscribe(system, http, f"{topic}?token={kazan}", sub, "s3cret-3")
        assert accepted.status_code == 202, accepted.text
        verified = await sub.wait_verified("subscribe")
        assert verified["hub.topic"] == topic  # the canonical URL: the token stays with the hub
        assert [v["hub.topic"] for v in sub.verifications] == [topic]  # no other was tried


async def test_revoking_a_partner_token_stops_the_websub_pushes_made_with_it(
    system: System, http: httpx.AsyncClient
) -> None:
    submit = system.url("ingest", "/articles")
    async with scratch_partner(system, http) as partner:
        first = await issue(system, http, partner.id)
        with running_subscriber("secret-old") as old, running_subscriber("secret-new") as new:
            resp = await subscribe(
                system, http, f"{partner.feed}?token={first['token']}", old, "secret-old"
            )
            assert resp.status_code == 202, resp.text
            await old.wait_verified("subscribe")
            rotated = await issue(system, http, partner.id, rotate="7")
            resp = await subscribe(
                system, http, f"{partner.feed}?token={rotated['token']}", new, "secret-new"
            )
            assert resp.status_code == 202, resp.text
            await new.wait_verified("subscribe")

            # During the grace period both subscriptions are pushed to: rotation has no gap.
            one = article(uuid.uuid4().hex[:8])
            assert (await http.post(submit, json=one, headers=system.auth("gorgan"))).is_success
            pushed = f"[en] {one['headline']}".encode()
            for sub in (old, new):
                delivery = await sub.wait_for(lambda d: pushed in d.body)
                assert delivery.authentic is True

            path = f"/admin/partners/{partner.id}/tokens/{first['id']}"
            assert (await http.delete(system.url("feeds", path), headers=admin(system))).is_success
            two = article(uuid.uuid4().hex[:8])
            assert (await http.post(submit, json=two, headers=system.auth("gorgan"))).is_success
            pushed = f"[en] {two['headline']}".encode()
            await new.wait_for(lambda d: pushed in d.body)
            # One publish serves both subscriptions and judges each before delivering: by the
            # time the new one has it, the old one was refused.
            assert not any(pushed in d.body for d in old.deliveries)
    logs = system.logs("feeds")
    assert "subscription no longer authorised" in logs


# ---------------------------------------------------------------------- secrets and logs


async def test_no_secret_used_here_reaches_a_log(system: System, http: httpx.AsyncClient) -> None:
    """Runs last in this module: every secret given out, made up or refused above (and those of
    the fixture) is looked for in the services' logs."""
    # Refused and accepted uses of each kind, in case this test runs alone.
    guess = used(f"cfk_gorgan_{uuid.uuid4().hex}")
    await http.get(system.url("ingest", "/articles"), headers=bearer(guess))
    await http.get(system.url("ingest", "/articles"), headers=system.auth("gorgan"))
    await http.get(system.url("feeds", "/partners/kazan/en.atom"), params={"token": guess})
    kazan = system.partner_tokens["kazan"]
    await http.get(system.url("feeds", "/partners/kazan/en.atom"), params={"token": kazan})
    await http.get(system.url("feeds", "/admin/registry"), headers=bearer(guess))
    await http.get(system.url("feeds", "/admin/registry"), headers=admin(system))
    with running_subscriber() as sub:
        topic = system.url("feeds", f"/partners/kazan/en.atom?token={kazan}")
        assert (await subscribe(system, http, topic, sub, f"s-{guess}")).status_code == 202
        await sub.wait_verified("subscribe")

    secrets = {
        *USED,
        system.admin_token,
        *system.keys.values(),
        *system.partner_tokens.values(),
    }
    async with asyncio.timeout(10):  # the hub logs the subscription once it has stored it
        while True:
            if "subscribed" in system.logs("feeds"):
                break
            await asyncio.sleep(0.1)  # poll interval while waiting for the log line
    logs = {name: system.logs(name) for name in system.processes}
    assert all(logs.values())
    for name, text in logs.items():
        leaked = [s[:12] + "…" for s in secrets if s in text]
        assert not leaked, f"{name} logged {leaked}"
    assert len(secrets) >= 10
