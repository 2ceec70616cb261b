from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.article import PreparedVersion, Rejected, WithdrawalRequest, prepare
from services.ingest.versions import Head, apply, needed_scope
from shared.contracts import ArticleStatus, SubmittedArticle
from shared.registry import Publisher

MASHHAD = Publisher(id="mashhad", name="Mashhad")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def change(headline: str = "تیتر", **kw: object) -> PreparedVersion:
    sub = SubmittedArticle.model_validate(
        {"publisher": "mashhad", "headline": headline, "body_text": "متن", "external_id": "7", **kw}
    )
    prepared = prepare(sub, MASHHAD, NOW)
    assert isinstance(prepared, PreparedVersion)
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
        apply(
            Head(first.article_id),
            WithdrawalRequest(first.article_id, publisher="mashhad"),
            0,
            1,
            NOW,
        )
    head = Head(first.article_id)
    apply(head, first, 0, 1, NOW)
    head.announced_version = 1
    gone = apply(
        head, WithdrawalRequest(first.article_id, "wrong city", publisher="mashhad"), 0, 2, NOW
    )
    assert gone is not None and gone.status is ArticleStatus.WITHDRAWN and gone.headline == "تیتر"
    assert apply(head, WithdrawalRequest(first.article_id, publisher="mashhad"), 0, 3, NOW) is None
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


# ------------------------------------------------- ownership, external ids, scopes (issue 18)


def stored_head(article_id: str, publisher: str, external_id: str | None) -> Head:
    """A head as the store loads it: the latest event not loaded, its owner from the doc."""
    return Head.from_doc(
        {"_id": article_id, "version": 1, "content_hash": "h1", "status": "active",
         "publisher": publisher, "external_id": external_id}
    )  # fmt: skip


def test_a_withdrawal_or_correction_of_another_publishers_article_is_rejected() -> None:
    first = change()
    head = Head(first.article_id)
    apply(head, first, 0, 1, NOW)
    theirs = WithdrawalRequest(first.article_id, publisher="tehran")
    with pytest.raises(Rejected, match="is not one of 'tehran''s articles"):
        apply(head, theirs, 0, 2, NOW)
    # The owner also comes from the stored head when its event is not loaded.
    other = stored_head(first.article_id, "tehran-north", "7")
    with pytest.raises(Rejected, match="is not one of 'mashhad''s articles"):
        apply(other, change("تیتر دیگر"), 0, 2, NOW)
    assert other.version == 1 and other.content_hash == "h1"


def test_external_ids_that_fold_together_but_differ_are_refused_not_merged() -> None:
    upper = change(external_id="AB-7")
    lower = change(external_id="ab 7", headline="خبر دیگر")
    assert upper.article_id == lower.article_id  # the legacy id derivation folds them
    head = Head(upper.article_id)
    apply(head, upper, 0, 1, NOW)
    with pytest.raises(Rejected, match="external id 'ab 7' is not 'AB-7'"):
        apply(head, lower, 0, 2, NOW)
    assert head.version == 1
    stored = stored_head(upper.article_id, "mashhad", "AB-7")
    with pytest.raises(Rejected, match="external id"):
        apply(stored, lower, 0, 2, NOW)
    # The same id in another digit script (a page's news code, say) is the same article.
    latin = change(external_id="1314415")
    persian = change(external_id="۱۳۱۴۴۱۵", headline="تیتر اصلاح شده")
    head = Head(latin.article_id)
    apply(head, latin, 0, 1, NOW)
    assert apply(head, persian, 0, 2, NOW) is not None and head.version == 2


def test_the_scope_a_change_needs_follows_from_what_it_does() -> None:
    first = change()
    assert needed_scope(first, None) == "submit"
    assert needed_scope(first, first.content_hash) == "submit"  # a double submit changes nothing
    assert needed_scope(change("تیتر اصلاح شده"), first.content_hash) == "correct"
    assert needed_scope(change(pubstatus="canceled"), first.content_hash) == "withdraw"
    assert needed_scope(change(pubstatus="withheld"), None) == "withdraw"
    assert needed_scope(WithdrawalRequest(first.article_id, publisher="mashhad"), "h") == "withdraw"


def test_the_consumer_refuses_what_the_sending_key_could_not_do() -> None:
    first = change()
    head = Head(first.article_id)
    submit_only = frozenset({"submit"})
    apply(head, first, 0, 1, NOW, allowed=submit_only)
    assert apply(head, change(), 0, 2, NOW, allowed=submit_only) is None  # a retry is fine
    with pytest.raises(Rejected, match="lacks the 'correct' scope"):
        apply(head, change("تیتر اصلاح شده"), 0, 3, NOW, allowed=submit_only)
    with pytest.raises(Rejected, match="lacks the 'withdraw' scope"):
        apply(head, change(pubstatus="canceled"), 0, 4, NOW, allowed=submit_only)
    assert head.version == 1 and head.status is ArticleStatus.ACTIVE
    everything = apply(head, change("تیتر اصلاح شده"), 0, 5, NOW, allowed=None)  # no header
    assert everything is not None and head.version == 2
