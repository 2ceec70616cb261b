from datetime import UTC, datetime

import feedparser

from services.feeds.render import Entry, FeedInfo, entry_id, render


def entry(lang: str = "fa", version: int = 1, headline: str = "تیتر") -> Entry:
    return Entry(
        article_id="mashhad-abc",
        language=lang,
        version=version,
        headline=headline,
        body_html="<p>متن</p>",
        published=datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC),
        updated=datetime(2025, 4, 29, 4, 0, version, tzinfo=UTC),
        url="https://example.org/1",
        subjects=("city diplomacy",),
    )


def info(*entries: Entry, lang: str = "fa") -> FeedInfo:
    return FeedInfo(
        "mashhad", "Mashhad", lang, f"http://feeds.example/feeds/mashhad/{lang}.atom", None, entries
    )


def test_atom_feed_is_valid_rtl_and_in_its_language() -> None:
    raw = render(info(entry()), "atom")
    feed = feedparser.parse(raw)
    assert not feed.bozo
    assert b'xml:lang="fa"' in raw
    assert b"dir=" not in raw.split(b"<entry>")[0]  # never a dir attribute on Atom elements
    e = feed.entries[0]
    assert 'dir="rtl"' in e.content[0].value
    assert e.id == entry_id("mashhad-abc", "fa")
    assert any(link.rel == "self" for link in feed.feed.links)


def test_rss_feed_has_language_and_non_permalink_guids() -> None:
    raw = render(info(entry(lang="en"), lang="en"), "rss")
    feed = feedparser.parse(raw)
    assert not feed.bozo
    assert feed.feed.language == "en"
    assert b'isPermaLink="false"' in raw
    assert 'dir="ltr"' in feed.entries[0].summary  # RSS carries the HTML in <description>


def test_entry_id_is_stable_across_versions_and_updated_moves() -> None:
    v1 = feedparser.parse(render(info(entry(version=1)), "atom")).entries[0]
    v2 = feedparser.parse(render(info(entry(version=2, headline="اصلاح")), "atom")).entries[0]
    assert v1.id == v2.id
    assert v2.updated > v1.updated


def test_an_empty_feed_is_still_valid() -> None:
    assert not feedparser.parse(render(info(), "atom")).bozo
    assert not feedparser.parse(render(info(), "rss")).bozo
