"""How a submission changes an article: a new version, nothing, or a rejection (pure).

The latest version of each article is held in its *head*. A submission whose content equals the
latest version is a no-op (a double submit); any other content is the next version, so reverting
a correction is a correction too. Redelivered messages are recognised by their Kafka position:
the head remembers the last offset it applied from each partition, and a message at or before it
was applied already. Intermediate versions within one batch are stored but only the latest is
announced downstream: consumers only ever need the newest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ingest.article import Change, Rejected, WithdrawalRequest
from services.ingest.text import content_hash
from shared.contracts import ArticleStatus, IngestedArticle


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
            offsets=dict(doc.get("offsets") or {}),
            stored=True,
            stored_embargo=doc.get("embargo_until"),
        )

    def adopt(self, event: IngestedArticle, embargo_until: datetime | None) -> None:
        """Make this version the latest (a new one, or one an interrupted batch stored)."""
        self.version, self.content_hash, self.event = event.version, event.content_hash, event
        self.status = event.status
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


def apply(
    head: Head, change: Change, partition: int, offset: int, now: datetime
) -> IngestedArticle | None:
    """Apply one submission to the head; the new version's event, or None if nothing changed."""
    if head.applied(partition, offset):
        return None
    head.offsets[str(partition)] = offset
    head.changed = True
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
