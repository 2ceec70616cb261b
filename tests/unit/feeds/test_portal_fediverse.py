"""The portal shows each public feed's fediverse handle beside its Atom, RSS and JSON Feed links
(issue 25): on the feed's preview and in the directory, with a line that says what to do with
it, in the reader's language; never for a partner's private feed, nor while the feature is off.
No infrastructure: the stored documents are rendered by the real renderer, in memory."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from services.feeds import http, portal
from services.feeds.publishing import Feeds
from shared.registry import Registry, create_partner_token, save
from tests.unit.feeds.test_portal import SITE, Store, entry, publish
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

HOST = "portal.test"  # SITE's host: the handles' host part
HINT = "On Mastodon or another fediverse server: search for this address and follow it."
DIRECTORY_HINT = "Each public feed is also a fediverse account"
PERSIAN_HINT = "در Mastodon یا هر سرور دیگری از فدیورس، این نشانی را جست‌وجو کنید"


async def world(fediverse: bool) -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = Store()
    feeds = Feeds(store, registry, SITE)  # type: ignore[arg-type]
    feeds.fediverse = fediverse  # as the service sets it at start-up
    app = FastAPI()
    portal.install(app, http.install(app, feeds, cache_seconds=0))
    fa = entry("fa", "مترو تهران به شمال رسید", "<p>خط هفت افتتاح شد.</p>")
    await publish(store, "publisher/tehran/fa", "fa", fa)
    await publish(store, "publisher/tehran/en", "en")
    await publish(store, "network/metropolis/en", "en")
    await publish(store, "partner/kazan/fa", "fa", fa)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE)
    return SimpleNamespace(client=client, token=token)


@pytest.fixture
async def on() -> SimpleNamespace:
    return await world(fediverse=True)


@pytest.fixture
async def off() -> SimpleNamespace:
    return await world(fediverse=False)


def shown(handle: str) -> str:
    """The handle as a page shows it: code, left to right whatever the page's direction."""
    return f'<code class="url handle" dir="ltr" translate="no">{handle}</code>'


def handles(text: str) -> set[str]:
    return set(re.findall(r'<code class="url handle"[^>]*>([^<]*)</code>', text))


def persian() -> dict[str, str]:
    return {"Accept-Language": "fa,en;q=0.5"}


async def test_a_public_preview_shows_the_handle_beside_the_feed_links(
    on: SimpleNamespace,
) -> None:
    page = await on.client.get("/preview/feeds/tehran/fa")
    assert page.status_code == 200
    card = page.text[page.text.index('id="subscribe-title"') : page.text.index("</section>")]
    assert f'href="{SITE}/feeds/tehran/fa.atom"' in card  # beside the formats, in one card
    assert f"Fediverse: {shown(f'@tehran.fa@{HOST}')}" in card
    assert HINT in card
    assert handles(page.text) == {f"@tehran.fa@{HOST}"}  # its own, no other feed's
    network = await on.client.get("/preview/networks/metropolis/en")
    assert handles(network.text) == {f"@metropolis.network.en@{HOST}"}


async def test_a_persian_reader_is_told_what_to_do_in_persian(on: SimpleNamespace) -> None:
    page = await on.client.get("/preview/feeds/tehran/en", headers=persian())
    assert '<html lang="fa" dir="rtl">' in page.text
    assert f"فدیورس: {shown(f'@tehran.en@{HOST}')}" in page.text  # the handle as it is
    assert PERSIAN_HINT in page.text and HINT not in page.text
    directory = await on.client.get("/feeds", headers=persian())
    assert "هر خوراک عمومی یک حساب فدیورس هم هست" in directory.text
    assert DIRECTORY_HINT not in directory.text


async def test_a_partners_private_preview_has_no_handle(on: SimpleNamespace) -> None:
    bearer = {"Authorization": f"Bearer {on.token}"}
    private = await on.client.get("/preview/partners/kazan/fa", headers=bearer)
    assert private.status_code == 200 and "مترو تهران به شمال رسید" in private.text
    assert not handles(private.text)
    assert "Mastodon" not in private.text and "kazan.fa@" not in private.text
    home = await on.client.get("/preview/partners/kazan", headers=bearer)
    assert home.status_code == 200 and "@" not in re.sub(r"<[^>]*>", "", home.text)


async def test_the_directory_shows_each_public_feeds_handle(on: SimpleNamespace) -> None:
    page = await on.client.get("/feeds")
    assert page.status_code == 200 and DIRECTORY_HINT in page.text
    found = handles(page.text)
    assert {f"@tehran.fa@{HOST}", f"@tehran.ar@{HOST}", f"@mashhad.en@{HOST}"} <= found
    assert f"@metropolis.network.en@{HOST}" in found
    assert all(h.endswith(f"@{HOST}") for h in found) and not any("kazan" in h for h in found)
    # Each in its own feed's row, beside that feed's links.
    for row in re.findall(r"<tr><th scope=\"row\">.*?</tr>", page.text, re.S):
        base = re.search(rf'href="{SITE}/(feeds|networks)/([a-z]+)/([a-z]+)\.atom"', row)
        assert base is not None, row
        kind, key, lang = base.groups()
        middle = ".network" if kind == "networks" else ""
        assert handles(row) == {f"@{key}{middle}.{lang}@{HOST}"}, row


async def test_nothing_of_it_while_the_feature_is_off(off: SimpleNamespace) -> None:
    for path in ("/preview/feeds/tehran/fa", "/preview/networks/metropolis/en", "/feeds"):
        page = await off.client.get(path)
        assert page.status_code == 200, path
        assert not handles(page.text) and "Mastodon" not in page.text, path
        assert "Fediverse" not in page.text and f"@{HOST}" not in page.text, path


async def test_the_opml_is_the_same_with_the_feature_on_or_off(
    on: SimpleNamespace, off: SimpleNamespace
) -> None:
    with_handles = await on.client.get("/feeds.opml")
    without = await off.client.get("/feeds.opml")
    assert with_handles.status_code == without.status_code == 200
    assert with_handles.content == without.content
    assert b"tehran" in with_handles.content and f"@{HOST}".encode() not in with_handles.content
