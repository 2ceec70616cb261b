"""How a submission changes an article: a new version, nothing, or a rejection (pure).

The latest version of each article is held in its *head*. A submission whose content equals the
latest version is a no-op (a double submit); any other content is the next version, so reverting
a correction is a correction too. Redelivered messages are recognised by their Kafka position:
the head remembers the last offset it applied from each partition, and a message at or before it
was applied already. Intermediate versions within one chunk of a batch are stored but only the
latest is announced downstream: consumers only ever need the newest.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ingest.article import Change, Rejected, WithdrawalRequest, external_key, not_owned
from services.ingest.text import content_hash
from shared.contracts import ArticleStatus, IngestedArticle
from shared.registry import Scope


@dataclass
class Head:
    """The latest state of one article, as stored in the ``articles`` collection.

    The head is small; the latest version's full event lives in ``article_versions`` and is
    loaded only when needed (to withdraw it, or to announce a version stored earlier).
    """

    article_id: str
    version: int = 0
    content_hash: str | None = None
    status: ArticleStatus = ArticleStatus.ACTIVE
    event: IngestedArticle | None = None
    announced_version: int = 0
    embargo_until: datetime | None = None
    publisher: str | None = None  # the owner; None only for a new head
    external_id: str | None = None  # of the latest version
    offsets: dict[str, int] = field(default_factory=dict)
    stored: bool = False  # a head document exists in the database
    stored_embargo: datetime | None = None  # the embargo the database lists for it
    changed: bool = False

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Head:
        return cls(
            article_id=doc["_id"],
            version=doc["version"],
            content_hash=doc["content_hash"],
            status=ArticleStatus(doc["status"]),
            announced_version=doc.get("announced_version", 0),
            embargo_until=doc.get("embargo_until"),
            publisher=doc.get("publisher"),
            external_id=doc.get("external_id"),
            offsets=dict(doc.get("offsets") or {}),
            stored=True,
            stored_embargo=doc.get("embargo_until"),
        )

    def adopt(self, event: IngestedArticle, embargo_until: datetime | None) -> None:
        """Make this version the latest (a new one, or one an interrupted batch stored)."""
        self.version, self.content_hash, self.event = event.version, event.content_hash, event
        self.status = event.status
        self.publisher, self.external_id = event.publisher, event.external_id
        self.embargo_until = embargo_until
        self.changed = True

    def applied(self, partition: int, offset: int) -> bool:
        return offset <= self.offsets.get(str(partition), -1)

    def due(self, now: datetime) -> bool:
        """Should the latest version be announced now?"""
        if self.version == 0 or self.announced_version >= self.version:
            return False
        if self.announced_version == 0 and self.status is ArticleStatus.WITHDRAWN:
            return False  # withdrawn before anyone saw it: nothing to take back
        return self.embargo_until is None or self.embargo_until <= now

    def held(self, now: datetime) -> bool:
        """Waiting for its embargo: it will be due then, but not yet."""
        return bool(
            self.embargo_until and self.embargo_until > now and self.due(self.embargo_until)
        )


#: The Kafka header in which the API passes the sending key's scopes to the consumer (restrictive
#: only: a message without it is from a Kafka client, which the broker's ACLs vouch for).
SCOPES_HEADER = "x-editor-scopes"


def needed_scope(change: Change, latest_hash: str | None) -> Scope:
    """The editor-key scope a change needs, judged by what it does to the article whose latest
    content hash is ``latest_hash`` (None: no such article yet), whatever form it came in: any
    withdrawal needs ``withdraw`` (a ninjs ``canceled`` too), any change of an existing
    article ``correct``; a new article, or the same content again, ``submit``."""
    if isinstance(change, WithdrawalRequest) or change.withdrawn:
        return "withdraw"
    if latest_hash is None or latest_hash == change.content_hash:
        return "submit"
    return "correct"


def conflict(publisher: str | None, external_id: str | None, change: Change) -> Rejected | None:
    """Why ``change`` may not touch the stored article of ``publisher`` whose latest external
    id is ``external_id``, or None. Ids are derived from folded external ids (case, digits,
    punctuation), so two ids that differ only so meet at one article: refused, never merged."""
    if publisher is not None and publisher != change.publisher:
        return not_owned(change.article_id, change.publisher)
    if isinstance(change, WithdrawalRequest) or not (external_id and change.external_id):
        return None
    if external_key(external_id) != external_key(change.external_id):
        return Rejected(
            f"external id {change.external_id!r} is not {external_id!r}, but the two differ only "
            f"in case, digits or punctuation and so name the same article ({change.article_id}): "
            "it would overwrite that one. Send it with an external id that differs in its "
            "letters or numbers"
        )
    return None


def apply(
    head: Head,
    change: Change,
    partition: int,
    offset: int,
    now: datetime,
    allowed: Collection[str] | None = None,
) -> IngestedArticle | None:
    """Apply one submission to the head; the new version's event, or None if nothing changed.
    ``allowed``: the scopes of the editor key that sent it over HTTP (None: a Kafka client,
    trusted by the broker's ACLs); what it does must be one of them, checked again here
    because the API's own check may run before the article it changes was stored."""
    if head.applied(partition, offset):
        return None
    head.offsets[str(partition)] = offset
    head.changed = True
    if head.version and (problem := conflict(head.publisher, head.external_id, change)):
        raise problem
    need = needed_scope(change, head.content_hash if head.version else None)
    if allowed is not None and need not in allowed:
        raise Rejected(f"the editor key that sent this lacks the {need!r} scope")
    if isinstance(change, WithdrawalRequest):
        return _withdraw(head, change, now)
    if change.content_hash == head.content_hash:
        return None
    return _new_version(head, change.content, change.content_hash, change.embargo_until, now)


def _withdraw(head: Head, change: WithdrawalRequest, now: datetime) -> IngestedArticle | None:
    if head.version == 0:
        raise Rejected(f"there is no article {change.article_id!r} to withdraw")
    if head.status is ArticleStatus.WITHDRAWN:
        return None
    assert head.event is not None, "the store loads the latest event before a withdrawal"
    content = head.event.model_dump(
        exclude={"article_id", "version", "content_hash", "ingested_at", "schema_version"}
    )
    content["status"] = ArticleStatus.WITHDRAWN
    digest = content_hash({"withdrawn": head.content_hash, "reason": change.reason})
    return _new_version(head, content, digest, None, now)


def _new_version(
    head: Head,
    content: dict[str, Any],
    digest: str,
    embargo_until: datetime | None,
    now: datetime,
) -> IngestedArticle:
    event = IngestedArticle(
        article_id=head.article_id,
        version=head.version + 1,
        content_hash=digest,
        ingested_at=now,
        **content,
    )
    head.adopt(event, embargo_until)
    return event
