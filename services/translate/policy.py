"""A publisher's translation policy applied to one machine translation (pure).

``publish``: every machine translation goes out, marked as such, with the checks' results.
``hold``: one failing an automatic check waits for an editor; the others go out.
``review``: none goes out before an editor approves it.

A held translation is still announced on ``articles.translated``, with ``provenance.held``, so
the editors' desk can show it with its reasons; the feeds carry no held translation.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from enum import StrEnum

from shared.contracts import CheckFailure, TranslatedArticle, TranslationPolicy

#: The check name of a held translation's note that it was sent back and could not be redone.
SENT_BACK = "sent-back"
NO_OTHER_ENGINE = "no other engine or model configured"


class Decision(StrEnum):
    PUBLISH = "publish"
    HOLD = "hold"


def decide(policy: TranslationPolicy, failures: Sequence[CheckFailure]) -> Decision:
    """Whether a machine translation with these check ``failures`` goes out or waits."""
    if policy is TranslationPolicy.PUBLISH:
        return Decision.PUBLISH
    if policy is TranslationPolicy.REVIEW or failures:
        return Decision.HOLD
    return Decision.PUBLISH


def hold_reason(policy: TranslationPolicy, failures: Sequence[CheckFailure]) -> str:
    """Why a translation is held, in one line for a person."""
    if not failures:
        return f"held for review: the publisher's policy is {policy.value}"
    checks = ", ".join(dict.fromkeys(f.check for f in failures))
    return f"held for review: failed {checks}"


_TAG = re.compile(r"<[^>]*>")


def plain(text: str) -> str:
    """Text without tags, entities decoded, spacing collapsed: two renderings of one text
    compare equal (an editor's desk may re-serialise the HTML it shows)."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def same_text(event: TranslatedArticle, headline: str, body_html: str) -> bool:
    """Whether ``headline`` and ``body_html`` are the text of ``event`` (approved as it is)."""
    return plain(event.headline) == plain(headline) and plain(event.body_html) == plain(body_html)
