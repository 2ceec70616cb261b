"""Who the actors are and what they publish: the ActivityStreams documents, as pure functions.

Every public feed is one actor: a publisher's feed in one language (``mashhad.en``, at
``/ap/feeds/mashhad/en``) and a network's (``metropolis.network.en``, at
``/ap/networks/metropolis/en``). Partner feeds are private and never actors. The handle is what a
person types into Mastodon's search: ``@mashhad.en@feeds.example.org``; publisher and network ids
have no dots, so the handle says which kind it is.

An entry is an ``Article`` (a news story, as WordPress and Ghost publish them): ``name`` the
headline, ``content`` the sanitised body, with ``contentMap`` and ``nameMap`` in the feed's
language, ``url`` the entry page and the publisher's original, never ``inReplyTo``. Its id
belongs to the actor (``{actor}/articles/{article_id}``): a network's actor and a member's actor
publish the same story as two objects, since a server keeps one author per object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html import escape
from typing import Any, Literal
from urllib.parse import urlsplit

from services.feeds.entries import FeedEntry
from services.feeds.routing import FeedRef, Kind
from shared import languages

AS = "https://www.w3.org/ns/activitystreams"
SECURITY = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
MEDIA_TYPE = "application/activity+json"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
#: What Mastodon and the specification accept as an ActivityStreams document.
ACCEPTED = ("application/activity+json", "application/ld+json")
CONTEXT: list[Any] = [AS, SECURITY]
PAGE_SIZE = 20
ActivityType = Literal["Create", "Update", "Delete"]

_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
_LANG = r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"
HANDLE = re.compile(rf"^(?P<key>{_ID})(?P<network>\.network)?\.(?P<lang>{_LANG})$", re.IGNORECASE)
KINDS = {"feeds": "publisher", "networks": "network"}


def handle_of(feed: FeedRef) -> str:
    """The user part of the actor's ``acct:`` address."""
    middle = ".network" if feed.kind == "network" else ""
    return f"{feed.key}{middle}.{feed.language}"


def feed_of_handle(handle: str) -> FeedRef | None:
    """The feed a handle names (its user part), if it is well formed."""
    match = HANDLE.match(handle)
    if match is None:
        return None
    kind: Kind = "network" if match["network"] else "publisher"
    return FeedRef(kind, match["key"].lower(), match["lang"])  # the language as the feed has it


def host_of(public_url: str) -> str:
    """The host part of every ``acct:`` address: the public URL's host and port."""
    return urlsplit(public_url).netloc.lower()


@dataclass(frozen=True)
class Actor:
    """One feed as an actor, with its URLs under the service's public URL."""

    feed: FeedRef
    public_url: str

    @property
    def id(self) -> str:
        return f"{self.public_url}/ap{self.feed.path}"

    @property
    def key_id(self) -> str:
        return f"{self.id}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.id}/inbox"

    @property
    def outbox(self) -> str:
        return f"{self.id}/outbox"

    @property
    def followers(self) -> str:
        return f"{self.id}/followers"

    @property
    def handle(self) -> str:
        return f"{handle_of(self.feed)}@{host_of(self.public_url)}"

    def object_id(self, article_id: str) -> str:
        return f"{self.id}/articles/{article_id}"

    def activity_id(self, kind: ActivityType, entry: FeedEntry) -> str:
        """One id per activity, version and revision: a resent activity is the same one."""
        return f"{self.object_id(entry.article_id)}/{kind.lower()}/{entry.stamp}"


def shared_inbox(public_url: str) -> str:
    return f"{public_url}/ap/inbox"


def instance_actor(public_url: str) -> str:
    """The service's own actor: it signs our fetches of remote documents, and follows no one."""
    return f"{public_url}/ap/actor"


def instance_document(public_url: str, public_key_pem: str) -> dict[str, Any]:
    actor = instance_actor(public_url)
    return {
        "@context": CONTEXT,
        "id": actor,
        "type": "Application",
        "preferredUsername": host_of(public_url),
        "name": "City syndication",
        "summary": "<p>The feeds service itself: it signs our requests for documents.</p>",
        "inbox": shared_inbox(public_url),
        "outbox": f"{actor}/outbox",
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "publicKey": {"id": f"{actor}#main-key", "owner": actor, "publicKeyPem": public_key_pem},
    }


@dataclass(frozen=True)
class Profile:
    """What the actor document says of its feed, read from the registry."""

    name: str  # the publisher's or network's name
    site: str | None  # the publisher's site
    feed_url: str  # the Atom feed
    page: str  # the feed's page for people (the portal's preview)
    icon: str  # a picture's URL


def actor_document(actor: Actor, profile: Profile, public_key_pem: str) -> dict[str, Any]:
    feed = actor.feed
    language = languages.name_of(feed.language)
    native = languages.name_of(feed.language, native=True)
    also = f" ({native})" if native != language else ""
    summary = (
        f"<p>News of {escape(profile.name)}, in {escape(language + also)}, from its "
        f'newsroom\'s feed.</p><p><a href="{escape(profile.feed_url)}">Atom feed</a></p>'
    )
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor.id,
        "type": "Service",
        "preferredUsername": handle_of(feed),
        "name": f"{profile.name} ({native})",
        "summary": summary,
        "url": profile.page,
        "icon": {"type": "Image", "mediaType": _picture_type(profile.icon), "url": profile.icon},
        "inbox": actor.inbox,
        "outbox": actor.outbox,
        "followers": actor.followers,
        "endpoints": {"sharedInbox": shared_inbox(actor.public_url)},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "publicKey": {"id": actor.key_id, "owner": actor.id, "publicKeyPem": public_key_pem},
        "attachment": [
            {"type": "PropertyValue", "name": "Atom", "value": _link(profile.feed_url)},
        ],
    }
    if profile.site:
        doc["attachment"].append(
            {"type": "PropertyValue", "name": "Website", "value": _link(profile.site)}
        )
    return doc


def _picture_type(url: str) -> str:
    path = urlsplit(url).path.lower()
    return "image/jpeg" if path.endswith((".jpg", ".jpeg")) else "image/png"


def _link(url: str) -> str:
    return f'<a href="{escape(url)}" rel="me nofollow noopener" target="_blank">{escape(url)}</a>'


def webfinger(actor: Actor, profile_page: str) -> dict[str, Any]:
    """The JRD (RFC 7033) Mastodon asks for to find the actor behind a handle."""
    return {
        "subject": f"acct:{actor.handle}",
        "aliases": [actor.id],
        "links": [
            {"rel": "self", "type": MEDIA_TYPE, "href": actor.id},
            {"rel": PROFILE_PAGE, "type": "text/html", "href": profile_page},
        ],
    }


def article(actor: Actor, entry: FeedEntry, permalink: str) -> dict[str, Any]:
    """The entry as an ``Article`` addressed to the public and the actor's followers."""
    urls: list[Any] = [{"type": "Link", "mediaType": "text/html", "href": permalink}]
    if entry.url:
        urls.append({"type": "Link", "mediaType": "text/html", "href": entry.url, "rel": "via"})
    doc: dict[str, Any] = {
        "id": actor.object_id(entry.article_id),
        "type": "Article",
        "attributedTo": actor.id,
        "name": entry.headline,
        "nameMap": {entry.language: entry.headline},
        "content": entry.body_html,
        "contentMap": {entry.language: entry.body_html},
        "mediaType": "text/html",
        "url": urls,
        "published": _when(entry.published),
        "to": [PUBLIC],
        "cc": [actor.followers],
    }
    if entry.version > 1 or entry.revision > 0:
        doc["updated"] = _when(entry.updated)
    if entry.images:
        doc["attachment"] = [
            {
                "type": "Image",
                "url": image.url,
                **({"mediaType": image.media_type} if image.media_type else {}),
                **({"name": image.caption} if image.caption else {}),
            }
            for image in entry.images
        ]
    return doc


def tombstone(actor: Actor, article_id: str) -> dict[str, Any]:
    return {"id": actor.object_id(article_id), "type": "Tombstone"}


def activity(actor: Actor, kind: ActivityType, entry: FeedEntry, permalink: str) -> dict[str, Any]:
    """``Create`` of a new entry, ``Update`` of a correction, ``Delete`` of a withdrawal."""
    obj = (
        tombstone(actor, entry.article_id) if kind == "Delete" else article(actor, entry, permalink)
    )
    return {
        "@context": CONTEXT,
        "id": actor.activity_id(kind, entry),
        "type": kind,
        "actor": actor.id,
        "published": _when(entry.updated),
        "to": [PUBLIC],
        "cc": [actor.followers],
        "object": obj,
    }


def accept(actor: Actor, follow: dict[str, Any]) -> dict[str, Any]:
    """The ``Accept`` of a ``Follow``; its id derives from the Follow's, so a resent Follow is
    answered with the same Accept."""
    digest = hashlib.sha256(str(follow.get("id")).encode()).hexdigest()[:32]
    return {
        "@context": CONTEXT,
        "id": f"{actor.id}/accepts/{digest}",
        "type": "Accept",
        "actor": actor.id,
        "object": {
            "id": follow.get("id"),
            "type": "Follow",
            "actor": follow.get("actor"),
            "object": actor.id,
        },
    }


def collection(collection_id: str, total: int, first: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        doc["first"] = first
    return doc


def collection_page(
    page_id: str, part_of: str, items: list[dict[str, Any]], next_page: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if next_page is not None:
        doc["next"] = next_page
    return doc


def _when(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))
