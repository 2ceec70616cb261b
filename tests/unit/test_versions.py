from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.article import Prepared, Rejected, WithdrawalRequest, prepare
from services.ingest.versions import Head, apply
from shared.contracts import ArticleStatus, SubmittedArticle
from shared.registry import Publisher

MASHHAD = Publisher(id="mashhad", name="Mashhad")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def change(headline: str = "تیتر", **kw: object) -> Prepared:
    sub = SubmittedArticle.model_validate(
        {"publisher": "mashhad", "headline": headline, "body_text": "متن", "external_id": "7", **kw}
    )
    prepared = prepare(sub, MASHHAD, NOW)
    assert isinstance(prepared, Prepared)
    return prepared


def test_same_content_is_a_no_op_and_a_revert_is_a_new_version() -> None:
    head = Head(change().article_id)
    assert apply(head, change(), 0, 1, NOW) is not None
    assert apply(head, change(), 0, 2, NOW) is None  # double submit
    assert apply(head, change("تیتر اصلاح شده"), 0, 3, NOW) is not None
    reverted = apply(head, change(), 0, 4, NOW)  # back to the first text: a correction too
    assert reverted is not None and reverted.version == 3 and head.version == 3


def test_a_redelivered_message_is_recognised_by_its_offset() -> None:
    head = Head(change().article_id)
    apply(head, change("یک"), 0, 10, NOW)
    apply(head, change("دو"), 0, 11, NOW)
    assert apply(head, change("یک"), 0, 10, NOW) is None  # replayed after a crash
    assert head.version == 2 and head.event is not None and head.event.headline == "دو"
    assert apply(head, change("یک"), 1, 5, NOW) is not None  # another partition, new offset


def test_withdrawal_keeps_the_content_and_cannot_withdraw_what_does_not_exist() -> None:
    first = change()
    with pytest.raises(Rejected, match="no article"):
        apply(Head(first.article_id), WithdrawalRequest(first.article_id), 0, 1, NOW)
    head = Head(first.article_id)
    apply(head, first, 0, 1, NOW)
    head.announced_version = 1
    gone = apply(head, WithdrawalRequest(first.article_id, "wrong city"), 0, 2, NOW)
    assert gone is not None and gone.status is ArticleStatus.WITHDRAWN and gone.headline == "تیتر"
    assert apply(head, WithdrawalRequest(first.article_id), 0, 3, NOW) is None
    assert head.due(NOW)


def test_an_article_withdrawn_before_anyone_saw_it_is_not_announced() -> None:
    head = Head(change().article_id)
    apply(head, change(pubstatus="canceled"), 0, 1, NOW)
    assert head.event is not None and head.event.status is ArticleStatus.WITHDRAWN
    assert not head.due(NOW)


def test_an_embargo_holds_the_version_until_its_time() -> None:
    until = NOW + timedelta(hours=1)
    head = Head(change().article_id)
    apply(head, change(embargoed=until.isoformat()), 0, 1, NOW)
    assert head.held(NOW) and not head.due(NOW)
    assert head.due(until) and not head.held(until)
    lifted = apply(head, change(), 0, 2, NOW)  # the same text without the embargo
    assert lifted is not None and head.due(NOW)
