"""What the desk tells an editor about a refusal, by its code: the API's JSON keeps its English
``reason`` (for programs and the logs), the desk shows a message in the interface language.

Every code the desk can show (the editors' operations, :mod:`services.ingest.api.editors`, and
the desk's own refusals) has a message here; the codes are listed in docs/architecture.md
("Refusal codes"). A code without a message is shown by its English reason alone."""

from __future__ import annotations

from shared.i18n import N_

#: A plain sentence per code, saying what happened and what to do (translated where shown).
MESSAGES: dict[str, str] = {
    # Signing in, keys and forms
    "key_missing": N_("Enter your editor key to sign in."),
    "key_invalid": N_(
        "This editor key is not valid: it is unknown or has been revoked. Check it, or ask your "
        "administrator for a new key."
    ),
    "key_scope_missing": N_(
        "Your editor key does not allow this. Ask your administrator for a key that does."
    ),
    "not_signed_in": N_(
        "You are not signed in, or your session has ended: sign in with your editor key first."
    ),
    "form_foreign_origin": N_(
        "This form was sent from another site. Open the desk and send the form from there."
    ),
    "form_token_stale": N_(
        "This form is out of date or not from this desk: reload the page and send it again."
    ),
    # Articles
    "media_type_unsupported": N_(
        "The desk cannot read this format. Send the article as a web page, plain text or JSON."
    ),
    "upload_not_utf8": N_("The file is not UTF-8 text. Save it as UTF-8 and choose it again."),
    "publisher_mismatch": N_(
        "The article names another publisher. Your key publishes only as your own publisher: "
        "correct or remove the publisher field."
    ),
    "publisher_unknown": N_(
        "Your publisher is not registered. Ask your administrator to register it."
    ),
    "article_invalid": N_(
        "The article cannot be used as it is. Correct what the details say and send it again."
    ),
    "article_empty": N_("There is nothing to send. Paste a page or an article, or choose a file."),
    "article_not_owned": N_(
        "This article belongs to another publisher: you can change only your own publisher's "
        "articles."
    ),
    "external_id_conflict": N_(
        "This news code is almost the same as an existing article's and would overwrite it. "
        "Give the article a news code that differs in its letters or numbers."
    ),
    "article_not_found": N_(
        "Your publisher has no such article. A new article is stored within seconds: wait a "
        "moment and reload the page."
    ),
    "article_withdrawn": N_(
        "This article has been withdrawn: it can no longer be translated or reviewed."
    ),
    "news_code_missing": N_(
        "This article has no news code, so a correction could not be told apart from a new "
        "article. Send the corrected page with its news code from New article instead."
    ),
    "correction_not_same_article": N_(
        "The correction would make a different article. Keep its news code and send it again."
    ),
    "withdrawal_unconfirmed": N_(
        "To withdraw the article, tick the box to confirm the withdrawal."
    ),
    # Translations and the review queue
    "language_not_target": N_("Your publisher's articles are not translated into this language."),
    "version_stale": N_(
        "A newer version of this article has arrived since this page was opened. Reload the "
        "page and work on the latest version."
    ),
    "translation_empty": N_("The translation has no text. Write its text, then send it."),
    "translation_invalid": N_(
        "The translation cannot be used as it is. Correct what the details say and send it again."
    ),
    "translation_not_found": N_("This article has no translation into this language."),
    "review_not_found": N_(
        "No translation of this article into this language is waiting for review: it may have "
        "been settled already."
    ),
    "review_settled": N_(
        "This translation has been settled already; it leaves the queue within seconds."
    ),
}

#: Codes whose message says all that their English reason does (a fixed sentence): the page
#: shows no reason after the message.
COMPLETE: frozenset[str] = frozenset(
    {
        "key_missing",
        "not_signed_in",
        "form_foreign_origin",
        "form_token_stale",
        "article_empty",
        "news_code_missing",
        "correction_not_same_article",
        "withdrawal_unconfirmed",
        "translation_empty",
    }
)


def message_of(code: str) -> str | None:
    """The message id of a refusal's code, or None when the desk has none for it."""
    return MESSAGES.get(code)


def detail_of(code: str, reason: str) -> str | None:
    """The English reason to show after the message: None when the message says it all; the
    whole reason when there is no message, or when it names more (fields, ids, versions)."""
    return None if code in COMPLETE and code in MESSAGES else reason
