"""The fediverse documents (services/feeds/activitypub/actors.py): what a Mastodon server reads
of our actors and their articles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.feeds.activitypub import actors
from services.feeds.activitypub.actors import Actor, Profile
from services.feeds.entries import FeedEntry
from services.feeds.routing import FeedRef
from shared.contracts import ArticleStatus

PUBLIC_URL = "https://feeds.example.org"
ENGLISH = FeedRef("publisher", "mashhad", "en")
ACTOR = Actor(ENGLISH, PUBLIC_URL)


def entry(**changes: object) -> FeedEntry:
    base = FeedEntry(
        article_id="mashhad-0001",
        language="en",
        version=1,
        status=ArticleStatus.ACTIVE,
        publisher="mashhad",
        headline="Mashhad and Kazan sign a cultural agreement",
        body_html="<p>The mayors met.</p>",
        published=datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
        updated=datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
        source_language="fa",
        url="https://jahanshahr.mashhad.ir/news/1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feed", "handle"),
    [
        (ENGLISH, "mashhad.en"),
        (FeedRef("network", "metropolis", "ru"), "metropolis.network.ru"),
        (FeedRef("publisher", "tehran", "zh-Hans"), "tehran.zh-Hans"),
    ],
)
def test_a_handle_names_its_feed_and_back(feed: FeedRef, handle: str) -> None:
    assert actors.handle_of(feed) == handle
    assert actors.feed_of_handle(handle) == feed
    assert actors.feed_of_handle(handle.upper()) == replace(feed, language=feed.language.upper())


@pytest.mark.parametrize("handle", ["mashhad", "mashhad.", ".en", "mash.had.en", "a b.en", "x.e"])
def test_malformed_handles_name_no_feed(handle: str) -> None:
    assert actors.feed_of_handle(handle) is None


def test_the_actor_document_has_what_mastodon_needs() -> None:
    profile = Profile(
        "Mashhad Municipality",
        "https://jahanshahr.mashhad.ir",
        "https://x/a.atom",
        "https://x/preview/feeds/mashhad/en",
        "https://x/logo.jpg",
    )
    doc = actors.actor_document(ACTOR, profile, "PEM")
    assert doc["icon"] == {"type": "Image", "mediaType": "image/jpeg", "url": "https://x/logo.jpg"}
    assert doc["url"] == "https://x/preview/feeds/mashhad/en"
    assert doc["id"] == f"{PUBLIC_URL}/ap/feeds/mashhad/en"
    assert doc["preferredUsername"] == "mashhad.en" and doc["type"] == "Service"
    assert doc["inbox"] == doc["id"] + "/inbox" and doc["outbox"] == doc["id"] + "/outbox"
    assert doc["endpoints"]["sharedInbox"] == f"{PUBLIC_URL}/ap/inbox"
    assert doc["publicKey"] == {
        "id": doc["id"] + "#main-key",
        "owner": doc["id"],
        "publicKeyPem": "PEM",
    }
    assert doc["manuallyApprovesFollowers"] is False
    assert "in English," in doc["summary"] and "Mashhad Municipality" in doc["name"]


def test_the_profile_is_html_whose_text_is_escaped() -> None:
    arabic = Actor(FeedRef("network", "metropolis", "ar"), PUBLIC_URL)
    profile = Profile("<b>Metro</b> & co", None, "https://x/a.atom?a=1&b=2", "https://x/p", "i")
    doc = actors.actor_document(arabic, profile, "PEM")
    assert "&lt;b&gt;Metro&lt;/b&gt; &amp; co" in doc["summary"] and "<b>" not in doc["summary"]
    assert "in Arabic (العربية)," in doc["summary"]
    assert 'href="https://x/a.atom?a=1&amp;b=2"' in doc["attachment"][0]["value"]
    assert ACTOR.handle == "mashhad.en@feeds.example.org"


def test_an_entry_is_an_article_in_the_feed_language_with_links_back() -> None:
    doc = actors.article(ACTOR, entry(), "https://feeds.example.org/entries/mashhad-0001/en")
    assert doc["type"] == "Article" and doc["attributedTo"] == ACTOR.id
    assert doc["contentMap"] == {"en": "<p>The mayors met.</p>"}
    assert doc["nameMap"] == {"en": "Mashhad and Kazan sign a cultural agreement"}
    assert [link["href"] for link in doc["url"]] == [
        "https://feeds.example.org/entries/mashhad-0001/en",
        "https://jahanshahr.mashhad.ir/news/1",
    ]
    assert "inReplyTo" not in doc and "updated" not in doc
    assert doc["to"] == [actors.PUBLIC] and doc["cc"] == [ACTOR.followers]


def test_a_correction_is_a_new_activity_of_the_same_object() -> None:
    first = actors.activity(ACTOR, "Create", entry(), "link")
    later = entry(version=2, updated=datetime(2026, 12, 2, tzinfo=UTC))
    update = actors.activity(ACTOR, "Update", later, "link")
    assert first["object"]["id"] == update["object"]["id"]
    assert first["id"] != update["id"]
    assert update["object"]["updated"] == "2026-12-02T00:00:00Z"
    assert actors.activity(ACTOR, "Create", entry(), "link")["id"] == first["id"]  # resent: same
    delete = actors.activity(ACTOR, "Delete", entry(status=ArticleStatus.WITHDRAWN), "link")
    assert delete["object"] == {"id": first["object"]["id"], "type": "Tombstone"}


def test_a_network_and_its_member_publish_two_objects() -> None:
    network = Actor(FeedRef("network", "metropolis", "en"), PUBLIC_URL)
    assert network.object_id("mashhad-0001") != ACTOR.object_id("mashhad-0001")


def test_the_accept_of_a_follow_is_the_same_when_the_follow_is_resent() -> None:
    follow = {"id": "https://social.example/follows/1", "actor": "https://social.example/u/a"}
    first, again = actors.accept(ACTOR, follow), actors.accept(ACTOR, dict(follow))
    assert first == again and first["object"]["object"] == ACTOR.id
    other = actors.accept(ACTOR, {**follow, "id": "https://social.example/follows/2"})
    assert other["id"] != first["id"]


def test_webfinger_names_the_actor() -> None:
    jrd = actors.webfinger(ACTOR, "https://feeds.example.org/preview/feeds/mashhad/en")
    assert jrd["subject"] == "acct:mashhad.en@feeds.example.org"
    assert {"rel": "self", "type": actors.MEDIA_TYPE, "href": ACTOR.id} in jrd["links"]
