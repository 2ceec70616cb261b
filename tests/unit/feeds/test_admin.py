"""The feeds admin API without infrastructure: who may use it, readable refusals, and partners'
tokens from issue through rotation to revocation (in-memory database behind it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml
from fastapi import FastAPI

from services.feeds import admin
from shared.registry import Registry, editor_keys, key_digest, save
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

ADMIN = "s3cret-admin-token-5f0c9a7e2b8d41c6"
NEW = "new-admin-token-9b1e6d3a7c2f4e08"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def make(token: str | None = ADMIN) -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    clock = Clock()
    registry = Registry(db, ttl=5.0, clock=clock)  # type: ignore[arg-type]
    app = FastAPI()
    admin.install(app, registry, db, token)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return SimpleNamespace(client=client, db=db, registry=registry, clock=clock)


@pytest.fixture
async def world() -> SimpleNamespace:
    return await make()


async def test_without_a_configured_token_every_route_says_how_to_enable_it() -> None:
    w = await make(token=None)
    for method, path in [
        ("GET", "/admin/registry"),
        ("PUT", "/admin/partners/kazan"),
        ("POST", "/admin/partners/kazan/tokens"),
    ]:
        resp = await w.client.request(method, path, headers=AUTH, json={})
        assert resp.status_code == 503, path
        assert "FEEDS_ADMIN_TOKEN or FEEDS_ADMIN_TOKEN_FILE" in resp.json()["reason"]
        assert resp.json()["code"] == "admin_disabled"
    blank = await make(token="  ")
    assert (await blank.client.get("/admin/registry", headers=AUTH)).status_code == 503


async def test_only_the_admin_token_opens_the_api(world: SimpleNamespace) -> None:
    missing, invalid = "admin_token_missing", "admin_token_invalid"
    for headers, reason, code in [
        ({}, "no admin token", missing),
        ({"Authorization": "Basic czNjcmV0"}, "no admin token", missing),
        ({"Authorization": "Bearer s3cret"}, "not valid", invalid),
        ({"Authorization": f"Bearer {ADMIN}x"}, "not valid", invalid),
        ({"Authorization": "Bearer ادمین".encode()}, "not valid", invalid),  # non-ASCII: no crash
    ]:
        resp = await world.client.get("/admin/registry", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert reason in resp.json()["reason"] and resp.json()["code"] == code
    ok = await world.client.get("/admin/registry", headers={"authorization": f"bearer {ADMIN}"})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    body = ok.json()
    assert [p["id"] for p in body["partners"]] == ["istanbul", "kazan"]
    assert next(p for p in body["partners"] if p["id"] == "kazan")["receives"] == [
        "tehran",
        "gorgan",
    ]
    mashhad = next(p for p in body["publishers"] if p["id"] == "mashhad")
    assert mashhad["target_languages"] == ["en", "tr"]


async def test_partners_are_checked_and_changes_apply_at_once(world: SimpleNamespace) -> None:
    c = world.client
    unknown = await c.put(
        "/admin/partners/bonn",
        headers=AUTH,
        json={"name": "Bonn", "languages": ["de"], "publishers": ["atlantis"]},
    )
    assert unknown.status_code == 422
    assert "partner 'bonn' lists unknown publishers: ['atlantis']" in unknown.json()["reason"]
    assert "registered publishers: ['gorgan', 'mashhad', 'tehran']" in unknown.json()["reason"]
    assert unknown.json()["code"] == "entry_invalid"
    for body, reason, code in [
        ({"name": "Bonn", "publishers": ["gorgan"]}, "languages: is required", "entry_invalid"),
        ({"name": "Bonn", "languages": ["de"], "networks": ["opec"]}, "unknown networks", None),
        ({"id": "cologne", "name": "B", "languages": ["de"], "publishers": ["gorgan"]}, "path",
         "entry_id_mismatch"),
    ]:  # fmt: skip
        resp = await c.put("/admin/partners/bonn", headers=AUTH, json=body)
        assert resp.status_code == 422 and reason in resp.json()["reason"], resp.text
        assert resp.json()["code"] == (code or "entry_invalid"), resp.text
    raws = [(b"{", "json_invalid"), (b"\xff", "upload_not_utf8"), (b"[]", "entry_invalid")]
    for raw, code in [*raws, (b"", "entry_invalid")]:
        resp = await c.put("/admin/partners/bonn", headers=AUTH, content=raw)
        assert resp.status_code == 422 and "the body" in resp.json()["reason"]
        assert resp.json()["code"] == code, raw

    bonn = {"name": "Bonn", "city": "Bonn", "languages": ["de"], "publishers": ["gorgan"]}
    created = await c.put("/admin/partners/bonn", headers=AUTH, json=bonn)
    assert created.status_code == 201 and created.json()["websub"] is True
    assert await world.registry.target_languages("gorgan") == ["ru", "de"]  # no TTL wait
    replaced = await c.put("/admin/partners/bonn", headers=AUTH, json={**bonn, "languages": ["fr"]})
    assert replaced.status_code == 200
    assert await world.registry.target_languages("gorgan") == ["ru", "fr"]


async def test_publishers_and_networks_cannot_be_removed_while_listed(
    world: SimpleNamespace,
) -> None:
    c = world.client
    new = await c.put("/admin/publishers/Yazd", headers=AUTH, json={"name": "Yazd"})
    assert new.status_code == 201 and new.json()["id"] == "yazd"
    bad = await c.put("/admin/publishers/qom", headers=AUTH, json={"name": "Q", "timezone": "X/Y"})
    assert bad.status_code == 422 and "unknown time zone 'X/Y'" in bad.json()["reason"]
    net = await c.put(
        "/admin/networks/metropolis",
        headers=AUTH,
        json={"name": "Metropolis", "members": ["tehran", "yazd"], "languages": ["es"]},
    )
    assert net.status_code == 200
    assert "es" in await world.registry.target_languages("yazd")
    refused = await c.put(
        "/admin/networks/metropolis", headers=AUTH, json={"name": "M", "members": ["atlantis"]}
    )
    assert refused.status_code == 422 and "unknown publishers" in refused.json()["reason"]

    listed = await c.delete("/admin/publishers/tehran", headers=AUTH)
    assert listed.status_code == 409 and "networks ['metropolis']" in listed.json()["reason"]
    assert listed.json()["code"] == "still_listed"
    in_use = await c.delete("/admin/networks/metropolis", headers=AUTH)
    assert in_use.status_code == 409 and "partners ['kazan']" in in_use.json()["reason"]
    assert (await c.delete("/admin/partners/kazan", headers=AUTH)).status_code == 200
    assert (await c.delete("/admin/networks/metropolis", headers=AUTH)).status_code == 200
    assert (await c.delete("/admin/publishers/yazd", headers=AUTH)).status_code == 200
    assert await world.registry.publisher("yazd") is None
    gone = await c.delete("/admin/networks/metropolis", headers=AUTH)
    assert gone.status_code == 404 and "no network 'metropolis'" in gone.json()["reason"]
    assert gone.json()["code"] == "network_not_found"


async def test_a_token_is_shown_once_and_listed_by_id_only(world: SimpleNamespace) -> None:
    c = world.client
    created = await c.post("/admin/partners/kazan/tokens", headers=AUTH)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    token, token_id = created.json()["token"], created.json()["id"]
    partner = await world.registry.partner_for_token(token)
    assert partner is not None and partner.id == "kazan"

    listing = await c.get("/admin/partners/kazan/tokens", headers=AUTH)
    assert listing.status_code == 200
    assert [(t["id"], t["state"]) for t in listing.json()] == [(token_id, "live")]
    assert token not in listing.text and key_digest(token) not in listing.text
    everything = await c.get("/admin/registry", headers=AUTH)
    assert token not in everything.text and key_digest(token) not in everything.text
    missing = await c.post("/admin/partners/atlantis/tokens", headers=AUTH)
    assert missing.status_code == 404
    assert "registered partners: istanbul, kazan" in missing.json()["reason"]
    assert missing.json()["code"] == "partner_not_found"


async def test_rotate_then_revoke_through_the_api(world: SimpleNamespace) -> None:
    c, registry, clock = world.client, world.registry, world.clock
    old = (await c.post("/admin/partners/kazan/tokens", headers=AUTH)).json()
    bad = await c.post("/admin/partners/kazan/tokens/rotate?grace_days=soon", headers=AUTH)
    assert bad.status_code == 422 and "grace_days must be a number" in bad.json()["reason"]
    assert bad.json()["code"] == "grace_period_invalid"

    rotated = await c.post("/admin/partners/kazan/tokens/rotate?grace_days=2", headers=AUTH)
    assert rotated.status_code == 201
    new = rotated.json()
    assert [p["id"] for p in rotated.json()["previous"]] == [old["id"]]
    assert new["token"] != old["token"] and new["expires_at"] is None
    assert await registry.partner_for_token(old["token"]) is not None  # grace period
    assert await registry.partner_for_token(new["token"]) is not None
    listing = (await c.get("/admin/partners/kazan/tokens", headers=AUTH)).json()
    states = {t["id"]: t["state"] for t in listing}
    assert states == {old["id"]: "expiring", new["id"]: "live"}

    clock.now = T0 + timedelta(days=2, seconds=1)
    assert await registry.partner_for_token(old["token"]) is None  # grace over
    assert await registry.partner_for_token(new["token"]) is not None

    revoked = await c.delete(f"/admin/partners/kazan/tokens/{new['id']}", headers=AUTH)
    assert revoked.status_code == 200
    assert await registry.partner_for_token(new["token"]) is None  # at once, despite the cache
    again = await c.delete(f"/admin/partners/kazan/tokens/{new['id']}", headers=AUTH)
    assert again.status_code == 404 and "no unrevoked token" in again.json()["reason"]
    assert again.json()["code"] == "token_not_found"
    other = await c.delete(f"/admin/partners/istanbul/tokens/{old['id']}", headers=AUTH)
    assert other.status_code == 404  # a token is revoked only through its own partner


async def test_removing_a_partner_revokes_its_tokens(world: SimpleNamespace) -> None:
    token = (await world.client.post("/admin/partners/istanbul/tokens", headers=AUTH)).json()
    gone = await world.client.delete("/admin/partners/istanbul", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["tokens_revoked"] == 1
    istanbul = {"name": "Istanbul", "languages": ["tr"], "publishers": ["mashhad"]}
    back = await world.client.put("/admin/partners/istanbul", headers=AUTH, json=istanbul)
    assert back.status_code == 201
    assert await world.registry.partner_for_token(token["token"]) is None  # not inherited


async def test_an_editor_key_is_shown_once_scoped_and_listed_by_id_only(
    world: SimpleNamespace,
) -> None:
    c = world.client
    made = await c.post(
        "/admin/publishers/Mashhad/keys",
        headers=AUTH,
        json={"name": "desk laptop", "scopes": ["submit", "correct"]},
    )
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    key = made.json()["key"]
    held = await world.registry.editor_key(key)
    assert held is not None and held.publisher == "mashhad"
    assert held.scopes == ["submit", "correct"] and made.json()["id"] == held.id

    everything = await c.post("/admin/publishers/mashhad/keys", headers=AUTH, json={"name": "x"})
    assert everything.json()["scopes"] == ["submit", "correct", "withdraw", "translate"]
    listing = await c.get("/admin/publishers/mashhad/keys", headers=AUTH)
    assert [(k["name"], k["state"]) for k in listing.json()] == [
        ("desk laptop", "live"),
        ("x", "live"),
    ]
    assert key not in listing.text and key_digest(key) not in listing.text
    assert (await c.get("/admin/publishers/tehran/keys", headers=AUTH)).json() == []

    for body, reason in [
        ({"name": "x", "scopes": ["publish"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": ""}, "name"),
        ({"name": "x", "publisher": "tehran"}, "publisher"),
        ([], "must be a JSON object"),
    ]:
        refused = await c.post("/admin/publishers/mashhad/keys", headers=AUTH, json=body)
        assert refused.status_code == 422, body
        assert reason in refused.json()["reason"], body
        assert refused.json()["code"] in ("key_request_invalid", "entry_invalid"), body
    unknown = await c.post("/admin/publishers/atlantis/keys", headers=AUTH, json={"name": "x"})
    assert unknown.status_code == 404 and "registered publishers" in unknown.json()["reason"]
    assert unknown.json()["code"] == "publisher_not_found"
    assert len(await editor_keys(world.db, "mashhad")) == 2, "no refused request made a key"


async def test_editor_keys_rotate_and_revoke_through_the_api(world: SimpleNamespace) -> None:
    c, registry = world.client, world.registry
    old = (await c.post("/admin/publishers/tehran/keys", headers=AUTH, json={"name": "a"})).json()
    assert await registry.editor_key(old["key"]) is not None  # cached from now on
    new = (await c.post("/admin/publishers/tehran/keys", headers=AUTH, json={"name": "b"})).json()

    other = await c.delete(f"/admin/publishers/mashhad/keys/{old['id']}", headers=AUTH)
    assert other.status_code == 404, "a key is revoked only through its own publisher"
    revoked = await c.delete(f"/admin/publishers/tehran/keys/{old['id']}", headers=AUTH)
    assert revoked.status_code == 200
    assert await registry.editor_key(old["key"]) is None  # at once here, despite the cache
    assert await registry.editor_key(new["key"]) is not None
    states = {
        k["id"]: k["state"]
        for k in (await c.get("/admin/publishers/tehran/keys", headers=AUTH)).json()
    }
    assert states == {old["id"]: "revoked", new["id"]: "live"}
    again = await c.delete(f"/admin/publishers/tehran/keys/{old['id']}", headers=AUTH)
    assert again.status_code == 404 and "no live editor key" in again.json()["reason"]
    assert again.json()["code"] == "key_not_found"


async def test_removing_a_publisher_revokes_its_editor_keys(world: SimpleNamespace) -> None:
    c = world.client
    assert (await c.put("/admin/publishers/yazd", headers=AUTH, json={"name": "Yazd"})).is_success
    key = (await c.post("/admin/publishers/yazd/keys", headers=AUTH, json={"name": "a"})).json()
    gone = await c.delete("/admin/publishers/yazd", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["keys_revoked"] == 1
    assert (await c.put("/admin/publishers/yazd", headers=AUTH, json={"name": "Yazd"})).is_success
    assert await world.registry.editor_key(key["key"]) is None  # not inherited


async def test_two_admin_tokens_rotate_the_admin_token_without_a_gap() -> None:
    """FEEDS_ADMIN_TOKEN (or its file, a token a line) may hold the old and the new token
    while clients move over."""
    both = await make(token=f"{ADMIN}, {NEW}\n")
    for token in (ADMIN, NEW):
        ok = await both.client.get("/admin/registry", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, token
    for wrong in ("new-admin", f"{ADMIN},{NEW}", ","):
        refused = await both.client.get(
            "/admin/registry", headers={"Authorization": f"Bearer {wrong}"}
        )
        assert refused.status_code == 401, wrong
    only_new = await make(token=NEW)
    old = await only_new.client.get("/admin/registry", headers=AUTH)
    assert old.status_code == 401 and "not valid" in old.json()["reason"]
    blank = await make(token=" , \n")
    assert (await blank.client.get("/admin/registry", headers=AUTH)).status_code == 503


async def test_a_body_over_the_limit_is_cut_as_it_streams(world: SimpleNamespace) -> None:
    """Chunked (no Content-Length) and declared alike, before a byte is parsed."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 10 * admin.MAX_BODY_BYTES:
            sent += 10_000
            yield b"x" * 10_000

    path = "/admin/partners/bonn"
    chunked = await world.client.put(path, headers=AUTH, content=endless())
    declared = await world.client.put(path, headers=AUTH, content=b"x" * 200_000)
    for resp in (chunked, declared):
        assert resp.status_code == 413
        assert f"the limit is {admin.MAX_BODY_BYTES} bytes" in resp.json()["reason"]
    assert sent <= admin.MAX_BODY_BYTES + 10_000


ROOT = Path(__file__).resolve().parents[3]


def shipped_placeholders() -> list[str]:
    """The admin tokens the deployment files ship: the Kubernetes Secret's placeholder."""
    docs = yaml.safe_load_all((ROOT / "deploy/k8s/secret.yaml").read_text("utf-8"))
    secret = next(d for d in docs if d and d["kind"] == "Secret")
    return [secret["stringData"]["FEEDS_ADMIN_TOKEN"], "local-only-admin-token-change-me"]


@pytest.mark.parametrize(
    ("token", "why"),
    [
        *[(shipped, "placeholder") for shipped in shipped_placeholders()],
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("please-replace-me-with-a-real-token-0001", "placeholder"),
        ("9f8e7d6c5b4a3928", "16 characters; at least 32"),
        ("a" * 40, "repeats"),
        (f"{ADMIN}, CHANGE-ME", "token 2 of 2"),  # each of several, when rotating
    ],
)
async def test_a_placeholder_or_weak_admin_token_refuses_to_start(token: str, why: str) -> None:
    """Anyone can read a placeholder in the repository, and guess a short token: the service
    must not start with one (the admin API would open to it)."""
    with pytest.raises(admin.WeakAdminToken, match=why) as refused:
        await make(token=token)
    message = str(refused.value)
    assert "FEEDS_ADMIN_TOKEN" in message and "openssl rand -hex 32" in message
    assert "9f8e7d6c5b4a3928" not in message  # a real (if weak) token is never repeated


def test_the_feeds_process_refuses_to_start_with_the_placeholder(tmp_path: Path) -> None:
    """As ops see it: the process exits at once, saying why (before touching Kafka or the DB)."""
    token_file = tmp_path / "token"
    token_file.write_text(shipped_placeholders()[0] + "\n")
    env = {
        **os.environ,
        "FEEDS_ADMIN_TOKEN_FILE": str(token_file),
        "FEEDS_HTTP_PORT": "1",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "MONGODB_URI": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.feeds"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "is a known placeholder" in result.stderr, result.stderr[-2000:]
